/**
 * Benchmark: `servin image import` against GNU tar and podman.
 *
 * 1. Builds, once, a realistic root-filesystem tarball `bench/.cache/rootfs.tar.gz`
 *    (a Debian bookworm `debootstrap --variant=minbase` tree, or a generated tree
 *    when debootstrap is unavailable), topped up to at least 5,000 files and 150 MB.
 * 2. Times, interleaved over N rounds, `servin image import`, `tar -xzf` and
 *    `podman import` of that tarball, each into a fresh empty directory, with a
 *    `sync` (untimed) before every timed command.
 * 3. Prints median / min / max wall times, the servin ratios, servin's peak RSS
 *    and the tool versions. The target is servin median <= 1.0x tar median; this
 *    is a report, so it exits 0 whether or not the target is met (but non-zero
 *    when a command fails).
 *
 * Usage: `deno run -A bench/import.ts [--rounds N]` (or `deno task bench`).
 *
 * @module
 */

import { parseArgs } from "node:util";

// Deno's update check would look up dl.deno.land: keep all traffic on this machine.
Deno.env.set("DENO_NO_UPDATE_CHECK", "1");

/** Minimum number of regular files in the unpacked rootfs. */
const MIN_FILES = 5_000;
/** Minimum total size of the regular files in the unpacked rootfs. */
const MIN_BYTES = 150 * 1024 * 1024;
/** servin's median must be at most this multiple of tar's median. */
const TARGET_RATIO = 1.0;
/** A debootstrap tree left by an earlier run, copied instead of bootstrapping again. */
const PREBUILT_ROOTFS = "/tmp/deb-rootfs";
const DEBIAN_MIRROR = "http://deb.debian.org/debian";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CACHE = `${REPO}/bench/.cache`;
const TARBALL = `${CACHE}/rootfs.tar.gz`;
const TARBALL_INFO = `${CACHE}/rootfs.json`;

/** How the cached tarball was made and what it holds. */
interface RootfsInfo {
  source: string;
  files: number;
  symlinks: number;
  dirs: number;
  bytes: number;
}

/** One benchmarked tool: `command(dir)` is a single import into the fresh empty directory `dir`. */
interface Tool {
  name: string;
  command(dir: string): { cmd: string; args: string[]; env?: Record<string, string> };
}

/** The outcome of a spawned command. */
interface Ran {
  seconds: number;
  stdout: string;
  stderr: string;
}

class CommandFailed extends Error {}

/** Runs a command to completion and times it; throws `CommandFailed` on a non-zero exit. */
async function run(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<Ran> {
  const command = new Deno.Command(cmd, {
    args,
    env: options.env,
    cwd: options.cwd ?? REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const start = performance.now();
  const output = await command.output();
  const seconds = (performance.now() - start) / 1000;
  const decoder = new TextDecoder();
  const ran = {
    seconds,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
  if (!output.success) {
    throw new CommandFailed(
      `\`${[cmd, ...args].join(" ")}\` exited with code ${output.code}\n` +
        `--- stderr ---\n${ran.stderr.trimEnd()}\n--- stdout ---\n${ran.stdout.trimEnd()}`,
    );
  }
  return ran;
}

/** True when `name` is an executable on PATH. */
function onPath(name: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      const info = Deno.statSync(`${dir || "."}/${name}`);
      if (info.isFile && (info.mode ?? 0) & 0o111) return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Counts regular files, symlinks and directories under `dir`, and sums the file sizes. */
async function measureTree(dir: string): Promise<Omit<RootfsInfo, "source">> {
  const totals = { files: 0, symlinks: 0, dirs: 0, bytes: 0 };
  async function walk(path: string): Promise<void> {
    for await (const entry of Deno.readDir(path)) {
      const child = `${path}/${entry.name}`;
      if (entry.isSymlink) {
        totals.symlinks++;
      } else if (entry.isDirectory) {
        totals.dirs++;
        await walk(child);
      } else if (entry.isFile) {
        totals.files++;
        totals.bytes += (await Deno.lstat(child)).size;
      }
    }
  }
  await walk(dir);
  return totals;
}

/** A small, seeded xorshift32 generator, so generated trees are identical between machines. */
function prng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

const WORDS = ("lorem ipsum dolor sit amet config value enabled path usr lib share " +
  "include bin default version name description license copyright package").split(" ");

/** Text of about `size` bytes made of config-file-like lines. */
function textContent(random: () => number, size: number): string {
  const lines: string[] = [];
  let length = 0;
  while (length < size) {
    const words = Array.from({ length: 3 + random() % 8 }, () => WORDS[random() % WORDS.length]);
    const line = `${words.join(" ")} = ${random() % 100_000}`;
    lines.push(line);
    length += line.length + 1;
  }
  return lines.join("\n") + "\n";
}

/**
 * Binary content of `size` bytes, roughly as compressible as executables: random
 * 4 KiB blocks alternate with blocks that repeat a short random pattern.
 */
function binaryContent(random: () => number, size: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4));
  const blockWords = 1024;
  for (let block = 0; block < words.length; block += blockWords) {
    const end = Math.min(block + blockWords, words.length);
    if (random() % 2 === 0) {
      for (let i = block; i < end; i++) words[i] = random();
    } else {
      const pattern = Array.from({ length: 16 }, random);
      for (let i = block; i < end; i++) words[i] = pattern[i % 16]!;
    }
  }
  return new Uint8Array(words.buffer, 0, size);
}

/**
 * Writes at least `files` regular files totalling at least `bytes` bytes under
 * `dir`: many small text files in nested directories, MB-sized binaries, and
 * symlinks between them.
 */
async function generateTree(dir: string, files: number, bytes: number): Promise<void> {
  const random = prng(0x5e7f1 ^ files ^ bytes);
  let written = 0;
  let count = 0;
  const bigFiles = Math.max(1, Math.ceil((bytes * 0.9) / (4 * 1024 * 1024)));
  const bigSize = Math.ceil((bytes * 0.9) / bigFiles);
  await Deno.mkdir(`${dir}/bin`, { recursive: true });
  for (let i = 0; i < bigFiles; i++) {
    const size = Math.max(1024, Math.round(bigSize * (0.5 + (random() % 1000) / 1000)));
    const path = `${dir}/bin/blob-${i}.bin`;
    await Deno.writeFile(path, binaryContent(random, size), { mode: 0o755 });
    if (i % 4 === 0) await Deno.symlink(`blob-${i}.bin`, `${dir}/bin/link-${i}`);
    written += size;
    count++;
  }
  for (let i = 0; count < files || written < bytes; i++) {
    const sub = `${dir}/share/pkg-${i % 60}/${["doc", "lib/x", "lib/y/z"][i % 3]}`;
    await Deno.mkdir(sub, { recursive: true });
    const text = textContent(random, 200 + random() % 8_000);
    await Deno.writeTextFile(`${sub}/file-${i}.conf`, text);
    if (i % 50 === 0) await Deno.symlink(`file-${i}.conf`, `${sub}/alias-${i}`);
    written += new TextEncoder().encode(text).length;
    count++;
  }
}

/** Fills `dir` with a base root filesystem; returns a description of where it came from. */
async function buildBaseTree(dir: string): Promise<string> {
  if (exists(PREBUILT_ROOTFS)) {
    console.log(`Copying the existing debootstrap tree ${PREBUILT_ROOTFS} ...`);
    await run("cp", ["-a", `${PREBUILT_ROOTFS}/.`, dir]);
    return `debootstrap minbase bookworm (copied from ${PREBUILT_ROOTFS})`;
  }
  if (onPath("debootstrap") && Deno.uid() === 0) {
    console.log("Running debootstrap --variant=minbase bookworm (about 2 minutes) ...");
    try {
      await run("debootstrap", ["--variant=minbase", "bookworm", dir, DEBIAN_MIRROR]);
      return "debootstrap minbase bookworm";
    } catch (err) {
      if (!(err instanceof CommandFailed)) throw err;
      console.log(`debootstrap failed; falling back to a generated tree.\n${err.message}`);
      await Deno.remove(dir, { recursive: true });
      await Deno.mkdir(dir);
    }
  } else {
    console.log("debootstrap unavailable (or not root): generating a synthetic tree ...");
  }
  await generateTree(dir, MIN_FILES, MIN_BYTES);
  return "generated tree";
}

/** Returns the cached tarball's description, building the tarball first when missing. */
async function ensureTarball(): Promise<RootfsInfo> {
  if (exists(TARBALL) && exists(TARBALL_INFO)) {
    return JSON.parse(await Deno.readTextFile(TARBALL_INFO)) as RootfsInfo;
  }
  await Deno.mkdir(CACHE, { recursive: true });
  const staging = `${CACHE}/rootfs`;
  await Deno.remove(staging, { recursive: true }).catch(() => {});
  await Deno.mkdir(staging);
  try {
    let source = await buildBaseTree(staging);
    let tree = await measureTree(staging);
    if (tree.files < MIN_FILES || tree.bytes < MIN_BYTES) {
      const files = Math.max(0, MIN_FILES - tree.files) + 100;
      const bytes = Math.max(0, MIN_BYTES - tree.bytes) + 1024 * 1024;
      console.log(`Topping up with /opt/bench-data (${files} files, ${mib(bytes)}) ...`);
      await generateTree(`${staging}/opt/bench-data`, files, bytes);
      source += " + generated /opt/bench-data";
      tree = await measureTree(staging);
    }
    console.log("Creating rootfs.tar.gz ...");
    const partial = `${TARBALL}.partial`;
    await run("tar", ["--numeric-owner", "-C", staging, "-czf", partial, "."]);
    await Deno.rename(partial, TARBALL);
    const info: RootfsInfo = { source, ...tree };
    await Deno.writeTextFile(TARBALL_INFO, JSON.stringify(info, null, 2) + "\n");
    return info;
  } finally {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
}

/** The benchmarked tools; podman only when installed and with a working storage driver. */
async function selectTools(): Promise<Tool[]> {
  const tools: Tool[] = [
    {
      name: "servin",
      command: (dir) => ({
        cmd: Deno.execPath(),
        args: ["run", "-A", "main.ts", "image", "import", TARBALL, "bench:latest"],
        env: { SERVIN_ROOT: dir },
      }),
    },
    {
      name: "tar",
      command: (dir) => ({ cmd: "tar", args: ["-xzf", TARBALL, "-C", dir] }),
    },
  ];
  if (!onPath("podman")) {
    console.log("Note: podman is not installed; skipping it.");
    return tools;
  }
  for (const driver of ["overlay", "vfs"]) {
    const podman: Tool = {
      name: "podman",
      command: (dir) => ({
        cmd: "podman",
        args: [
          "--root",
          `${dir}/root`,
          "--runroot",
          `${dir}/runroot`,
          "--storage-driver",
          driver,
          "import",
          TARBALL,
          "bench:latest",
        ],
      }),
    };
    try {
      await inFreshDir((dir) => runTool(podman, dir)); // probe, and warm up
      if (driver !== "overlay") console.log(`Note: podman overlay failed; using ${driver}.`);
      podman.name = `podman (${driver})`;
      return [...tools, podman];
    } catch (err) {
      if (!(err instanceof CommandFailed)) throw err;
      console.log(`Note: podman --storage-driver ${driver} failed:\n${err.message}`);
    }
  }
  console.log("Note: podman failed with both overlay and vfs; skipping it.");
  return tools;
}

/** Calls `body` with a fresh empty temporary directory, removed afterwards. */
async function inFreshDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "servin-bench-" });
  try {
    return await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs one import of `tool` into `dir`, after an untimed `sync`. */
async function runTool(tool: Tool, dir: string): Promise<Ran> {
  const { cmd, args, env } = tool.command(dir);
  await run("sync", []);
  return await run(cmd, args, { env });
}

/** Peak RSS of one import under `/usr/bin/time -v`, or undefined when unavailable. */
async function peakRss(tool: Tool): Promise<string | undefined> {
  if (!exists("/usr/bin/time")) return undefined;
  return await inFreshDir(async (dir) => {
    const { cmd, args, env } = tool.command(dir);
    const ran = await run("/usr/bin/time", ["-v", cmd, ...args], { env });
    const kib = ran.stderr.match(/Maximum resident set size \(kbytes\): (\d+)/)?.[1];
    return kib === undefined ? undefined : mib(Number(kib) * 1024);
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function firstLine(cmd: string, args: string[]): Promise<string> {
  try {
    return (await run(cmd, args)).stdout.split("\n")[0]!.trim();
  } catch (err) {
    return `unavailable (${err instanceof Error ? err.message.split("\n")[0] : err})`;
  }
}

function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd())
    .join("\n");
}

function parseRounds(): number {
  const { values } = parseArgs({ args: Deno.args, options: { rounds: { type: "string" } } });
  const rounds = Number(values.rounds ?? 5);
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new Error(`--rounds must be a positive integer, got ${values.rounds}`);
  }
  if (rounds < 5) console.log(`Note: ${rounds} rounds is fewer than the recommended 5.`);
  return rounds;
}

async function main(): Promise<void> {
  const rounds = parseRounds();

  const info = await ensureTarball();
  const compressed = (await Deno.stat(TARBALL)).size;
  console.log(`\nTarball: ${TARBALL}`);
  console.log(`  source:     ${info.source}`);
  console.log(`  compressed: ${mib(compressed)} (gzip)`);
  console.log(`  unpacked:   ${mib(info.bytes)} in regular files`);
  console.log(
    `  entries:    ${info.files} files, ${info.symlinks} symlinks, ${info.dirs} directories`,
  );

  console.log("\nVersions:");
  console.log(`  ${await firstLine(Deno.execPath(), ["--version"])}`);
  console.log(`  ${await firstLine("tar", ["--version"])}`);
  if (onPath("podman")) console.log(`  ${await firstLine("podman", ["--version"])}`);
  console.log();

  const tools = await selectTools();
  const servin = tools[0]!;

  // Untimed warm-up: fills deno's module cache and the page cache for the tarball.
  // servin's warm-up doubles as the peak-RSS measurement.
  const rss = await peakRss(servin);
  if (rss === undefined) await inFreshDir((dir) => runTool(servin, dir));
  await inFreshDir((dir) => runTool(tools[1]!, dir));

  const times = new Map(tools.map((tool) => [tool.name, [] as number[]]));
  for (let round = 0; round < rounds; round++) {
    // Rotate the order each round so no tool always runs right after another.
    const order = tools.map((_, i) => tools[(i + round) % tools.length]!);
    const line: string[] = [];
    for (const tool of order) {
      const { seconds } = await inFreshDir((dir) => runTool(tool, dir));
      times.get(tool.name)!.push(seconds);
      line.push(`${tool.name} ${seconds.toFixed(2)}s`);
    }
    console.log(`Round ${round + 1}/${rounds}: ${line.join(", ")}`);
  }

  const medians = new Map([...times].map(([name, values]) => [name, median(values)]));
  const tarMedian = medians.get("tar")!;
  const rows = [["tool", "median s", "min s", "max s", "x tar"]];
  for (const [name, values] of times) {
    rows.push([
      name,
      medians.get(name)!.toFixed(3),
      Math.min(...values).toFixed(3),
      Math.max(...values).toFixed(3),
      (medians.get(name)! / tarMedian).toFixed(2),
    ]);
  }
  console.log(`\nResults over ${rounds} rounds (wall time of the spawned process):\n`);
  console.log(formatTable(rows));

  const servinMedian = medians.get(servin.name)!;
  const ratio = servinMedian / tarMedian;
  console.log(`\nservin/tar:    ${ratio.toFixed(2)}x`);
  const podman = tools.find((tool) => tool.name.startsWith("podman"));
  if (podman) {
    console.log(`servin/podman: ${(servinMedian / medians.get(podman.name)!).toFixed(2)}x`);
  }
  console.log(`servin peak RSS: ${rss ?? "unknown (/usr/bin/time not installed)"}`);
  const met = ratio <= TARGET_RATIO;
  console.log(
    `\nTarget: servin median <= ${TARGET_RATIO.toFixed(1)}x tar median: ` +
      `${met ? "MET" : "NOT MET"} (${ratio.toFixed(2)}x)`,
  );
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    if (!(err instanceof CommandFailed)) throw err;
    console.error(`\nBenchmark aborted: ${err.message}`);
    Deno.exit(1);
  }
}
