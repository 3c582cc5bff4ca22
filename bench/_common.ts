/**
 * What the benchmarks in `bench/` share: spawning and timing commands (after an
 * untimed `sync`), the realistic root-filesystem tree their fixtures are cut from
 * (a copy of the debootstrap tree in `/tmp/deb-rootfs`, a generated tree, a
 * top-up to a minimum size, tree statistics), fresh temporary directories and
 * their removal (right away or deferred), podman with the first storage driver
 * that works, interleaved rounds in a rotating order, and the statistics, tables,
 * versions and notes they print.
 *
 * Internal to the benchmarks, hence the leading `_`: no part of Servin's API.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** The repository root: spawned commands run there. */
export const REPO: string = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/** Where the benchmarks cache their fixtures between runs. */
export const CACHE = `${REPO}/bench/.cache`;
/** The rootfs tarball that `bench/import.ts` builds; the other benchmarks reuse its tree. */
export const ROOTFS_TARBALL = `${CACHE}/rootfs.tar.gz`;
/** A debootstrap tree left by an earlier run, copied instead of bootstrapping again. */
export const PREBUILT_ROOTFS = "/tmp/deb-rootfs";
/** Minimum number of regular files in the realistic root filesystem (topped up to it). */
export const ROOTFS_MIN_FILES = 5_000;
/** Minimum total size of the regular files in the realistic root filesystem. */
export const ROOTFS_MIN_BYTES = 150 * 1024 * 1024;

/** The outcome of a spawned command. */
export interface Ran {
  /** Wall time in milliseconds. */
  ms: number;
  /** The same wall time in seconds. */
  seconds: number;
  /** What it wrote to stdout. */
  stdout: string;
  /** What it wrote to stderr. */
  stderr: string;
}

/** A command failed: the benchmark is aborted with its message (see {@linkcode runMain}). */
export class CommandFailed extends Error {}

/** A command's stderr and stdout, for an error message. */
export function outputOf(ran: { stdout: string; stderr: string }): string {
  return `--- stderr ---\n${ran.stderr.trimEnd()}\n--- stdout ---\n${ran.stdout.trimEnd()}`;
}

/** Runs a command to completion and times it; throws `CommandFailed` on a non-zero exit. */
export async function run(
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
  const ms = performance.now() - start;
  const decoder = new TextDecoder();
  const ran = {
    ms,
    seconds: ms / 1000,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
  if (!output.success) {
    throw new CommandFailed(
      `\`${[cmd, ...args].join(" ")}\` exited with code ${output.code}\n${outputOf(ran)}`,
    );
  }
  return ran;
}

/** {@linkcode run} of `line` (a command line, say `deno run -A main.ts`) with `args` after it. */
export function runLine(line: string[], ...args: string[]): Promise<Ran> {
  return run(line[0]!, [...line.slice(1), ...args]);
}

/** Flushes the page cache's dirty pages (untimed), so that a timed operation does not pay for them. */
export async function sync(): Promise<void> {
  await run("sync", []);
}

/** {@linkcode run}, after an untimed {@linkcode sync}. */
export async function runSynced(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<Ran> {
  await sync();
  return await run(cmd, args, options);
}

/** True when `name` is an executable on PATH. */
export function onPath(name: string): boolean {
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

/** True when something (a symlink included, even a dangling one) is at `path`. */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** `bytes` in MiB, one decimal. */
export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** MiB, or KiB below 1 MiB. */
export function humanSize(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : mib(bytes);
}

/** Throws {@linkcode CommandFailed} naming the first of `tools` missing from PATH. */
export function requireTools(tools: string[]): void {
  for (const tool of tools) {
    if (!onPath(tool)) throw new CommandFailed(`${tool} is needed`);
  }
}

/** Installs the `tools` missing from PATH with apt-get (each tool is named as its Debian package). */
export async function ensureTools(tools: string[]): Promise<void> {
  const missing = tools.filter((tool) => !onPath(tool));
  if (missing.length === 0) return;
  console.log(`Installing ${missing.join(", ")} with apt-get ...`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  await run("apt-get", ["update"], { env });
  await run("apt-get", ["install", "-y", ...missing], { env });
}

/** Removes `path` and all below it, if it is there. */
export async function removeQuietly(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch(() => {});
}

/** Makes `path` an empty directory, removing whatever was there. */
export async function emptyDir(path: string): Promise<void> {
  await removeQuietly(path);
  await Deno.mkdir(path, { recursive: true });
}

/** Reads a JSON file, such as a fixture's description. */
export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(path)) as T;
}

/** Writes `value` as indented JSON, ending in a newline. */
export async function writeJson(path: string, value: unknown): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(value, null, 2) + "\n");
}

// ---------------------------------------------------------------------------
// Root-filesystem trees

/** What a tree holds. */
export interface TreeStats {
  /** Regular files. */
  files: number;
  /** Symbolic links. */
  symlinks: number;
  /** Directories, the top one not counted. */
  dirs: number;
  /** The total size of the regular files. */
  bytes: number;
}

/** What a cached tree holds, and where it came from. */
export interface TreeInfo extends TreeStats {
  /** Where the tree came from (a debootstrap copy, a generated tree, a top-up). */
  source: string;
}

/** Counts regular files, symlinks and directories under `dir`, and sums the file sizes. */
export async function measureTree(dir: string): Promise<TreeStats> {
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
export function prng(seed: number): () => number {
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
export function textContent(random: () => number, size: number): string {
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
export function binaryContent(random: () => number, size: number): Uint8Array {
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
export async function generateTree(dir: string, files: number, bytes: number): Promise<void> {
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

/**
 * Copies the debootstrap tree {@linkcode PREBUILT_ROOTFS} into `dir` when it
 * exists, announcing it as `what`; returns the tree's source description, or
 * undefined when there is no such tree.
 */
export async function copyPrebuiltRootfs(
  dir: string,
  what = "the existing debootstrap tree",
): Promise<string | undefined> {
  if (!exists(PREBUILT_ROOTFS)) return undefined;
  console.log(`Copying ${what} ${PREBUILT_ROOTFS} ...`);
  await run("cp", ["-a", `${PREBUILT_ROOTFS}/.`, dir]);
  return `debootstrap minbase bookworm (copied from ${PREBUILT_ROOTFS})`;
}

/**
 * Tops the tree in `dir` up, when it has fewer than `minFiles` regular files or
 * fewer than `minBytes` bytes in them, with a tree written by `generate` under
 * `/opt/bench-data`. Returns what to add to the tree's source description (empty
 * when nothing was added) and the tree's statistics.
 */
export async function topUpTree(
  dir: string,
  minFiles: number,
  minBytes: number,
  generate: (dir: string, files: number, bytes: number) => Promise<void> = generateTree,
): Promise<{ added: string; stats: TreeStats }> {
  const stats = await measureTree(dir);
  if (stats.files >= minFiles && stats.bytes >= minBytes) return { added: "", stats };
  const files = Math.max(0, minFiles - stats.files) + 100;
  const bytes = Math.max(0, minBytes - stats.bytes) + 1024 * 1024;
  console.log(`Topping up with /opt/bench-data (${files} files, ${mib(bytes)}) ...`);
  await generate(`${dir}/opt/bench-data`, files, bytes);
  return { added: " + generated /opt/bench-data", stats: await measureTree(dir) };
}

/** Packs the tree in `dir` into the gzipped tarball `tarball`, through a `.partial` file. */
export async function packTree(dir: string, tarball: string): Promise<void> {
  const partial = `${tarball}.partial`;
  try {
    await run("tar", ["--numeric-owner", "-C", dir, "-czf", partial, "."]);
    await Deno.rename(partial, tarball);
  } finally {
    await Deno.remove(partial).catch(() => {});
  }
}

// ---------------------------------------------------------------------------
// Fresh directories and their removal

/**
 * Untimed removals, run right away (`--remove-each`) or after the last round:
 * on an ext4 filesystem without a journal, inode allocation skips (slowly, one
 * inode-table lookup per inode) every inode deleted in the last 60 to 360
 * seconds, so removing thousands of entries between timed operations makes the
 * next ones much slower and noisier (see {@linkcode noJournalWarning}).
 */
export class Cleanup {
  #pending: (() => Promise<unknown>)[] = [];
  #now: boolean;

  /** Removals run right away when `now`, else on {@linkcode Cleanup.flush}. */
  constructor(now: boolean) {
    this.#now = now;
  }

  /** Runs `remove` now, or keeps it for {@linkcode Cleanup.flush}. */
  async add(remove: () => Promise<unknown>): Promise<void> {
    if (this.#now) await remove();
    else this.#pending.push(remove);
  }

  /** Runs the removals kept so far, oldest first. */
  async flush(): Promise<void> {
    for (const remove of this.#pending.splice(0)) await remove();
  }
}

/**
 * A warning when `path` is on ext4 without a journal: there, allocating an
 * inode skips, one inode-table lookup at a time, the free inodes deleted in
 * the last minute (six while their inode-table block is dirty), so file
 * creation right after a large deletion (a previous run's cleanup, other
 * processes' tests) is several times slower, for `cp -a` and `copy` alike.
 */
export function noJournalWarning(path: string): string | undefined {
  try {
    const dev = Deno.statSync(path).dev;
    const major = ((dev >> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
    const minor = (dev & 0xff) | ((dev >> 12) & ~0xff);
    for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
      if (line.split(" ")[2] !== `${major}:${minor}`) continue;
      const [fstype, source = ""] = line.split(" - ")[1]?.split(" ") ?? [];
      if (fstype !== "ext4") return undefined;
      const name = source.split("/").pop()!;
      let journaled = false;
      try {
        journaled = [...Deno.readDirSync("/proc/fs/jbd2")].some((e) =>
          e.name.startsWith(`${name}-`)
        );
      } catch {
        // no jbd2 at all: no journal anywhere
      }
      if (journaled) return undefined;
      return `${source} is ext4 without a journal: file creation is much slower for up to ` +
        `6 minutes after a large deletion (e.g. a previous run's cleanup), which makes copy ` +
        `and cp -a times noisy; leave a few quiet minutes between runs.`;
    }
  } catch {
    // not Linux, or no /proc: no warning
  }
  return undefined;
}

/** Removes `dir`, first unmounting whatever is mounted below it (podman's overlay may mount). */
export async function removeDir(dir: string): Promise<void> {
  const mounts = (await Deno.readTextFile("/proc/self/mounts")).split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) await run("umount", [point]);
  await Deno.remove(dir, { recursive: true });
}

/** One benchmarked tool: `command(dir)` is a single run into the fresh empty directory `dir`. */
export interface Tool {
  /** The name in the rounds and the results table. */
  name: string;
  /** The command of one run into the fresh empty directory `dir`. */
  command(dir: string): { cmd: string; args: string[]; env?: Record<string, string> };
  /** Untimed clean-up of `dir` before it is removed. */
  cleanup?(dir: string): Promise<void>;
  /** Where its fresh directories are made (e.g. a tmpfs); the system's temporary directory without it. */
  parent?: string;
}

/**
 * Calls `body` with a fresh empty temporary directory for `tool`, then cleans
 * it up (see {@linkcode Tool.cleanup}) and removes it through `cleanup`, or
 * right away without one.
 */
async function inFreshDir<T>(
  tool: Tool,
  body: (dir: string) => Promise<T>,
  cleanup?: Cleanup,
): Promise<T> {
  const dir = await Deno.makeTempDir({ dir: tool.parent, prefix: "servin-bench-" });
  const remove = async () => {
    try {
      await tool.cleanup?.(dir);
    } finally {
      await removeDir(dir);
    }
  };
  try {
    return await body(dir);
  } finally {
    if (cleanup) await cleanup.add(remove);
    else await remove();
  }
}

/** Runs `tool` once, timed after an untimed `sync`, into a fresh directory (see `inFreshDir`). */
export async function runFresh(tool: Tool, cleanup?: Cleanup): Promise<Ran> {
  return await inFreshDir(tool, (dir) => {
    const { cmd, args, env } = tool.command(dir);
    return runSynced(cmd, args, { env });
  }, cleanup);
}

/**
 * Runs `tool` once into a fresh directory under `/usr/bin/time -v`, and returns
 * its peak RSS with the run (`rss` is undefined when `/usr/bin/time` is missing:
 * the tool then runs on its own).
 */
export async function peakRss(tool: Tool, cleanup?: Cleanup): Promise<{ rss?: string; ran: Ran }> {
  return await inFreshDir(tool, async (dir) => {
    const { cmd, args, env } = tool.command(dir);
    if (!exists("/usr/bin/time")) return { ran: await run(cmd, args, { env }) };
    const ran = await run("/usr/bin/time", ["-v", cmd, ...args], { env });
    const kib = ran.stderr.match(/Maximum resident set size \(kbytes\): (\d+)/)?.[1];
    // Keep only the tool's own stderr, not time's report.
    ran.stderr = ran.stderr.replace(/\tCommand being timed:[^]*$/, "");
    return { rss: kib === undefined ? undefined : mib(Number(kib) * 1024), ran };
  }, cleanup);
}

/** podman's global flags for a store of its own under `dir` (`root`, `runroot`) with `driver`. */
export function podmanStorage(dir: string, driver: string): string[] {
  return ["--root", `${dir}/root`, "--runroot", `${dir}/runroot`, "--storage-driver", driver];
}

/**
 * podman running `args` (a subcommand and its arguments) in a fresh `--root` and
 * `--runroot`, with the overlay storage driver, or vfs when overlay fails; the
 * probe of each driver is a first, untimed run, and so a warm-up. With `reset`,
 * `podman system reset -f` cleans each directory up before it is removed.
 * Throws `CommandFailed` when both drivers fail.
 */
export async function podmanTool(
  args: string[],
  options: { cleanup?: Cleanup; reset?: boolean } = {},
): Promise<Tool> {
  const failures: string[] = [];
  for (const driver of ["overlay", "vfs"]) {
    const global = (dir: string) => podmanStorage(dir, driver);
    const podman: Tool = {
      name: `podman (${driver})`,
      command: (dir) => ({ cmd: "podman", args: [...global(dir), ...args] }),
    };
    if (options.reset) {
      podman.cleanup = async (dir) => {
        if (exists(`${dir}/root`)) await run("podman", [...global(dir), "system", "reset", "-f"]);
      };
    }
    try {
      await runFresh(podman, options.cleanup); // probe, and warm up
      if (driver !== "overlay") console.log(`Note: podman overlay failed; using ${driver}.`);
      return podman;
    } catch (err) {
      if (!(err instanceof CommandFailed)) throw err;
      console.log(`Note: podman --storage-driver ${driver} failed:\n${err.message}`);
      failures.push(driver);
    }
  }
  throw new CommandFailed(`podman ${args[0]} failed with the ${failures.join(" and ")} drivers`);
}

// ---------------------------------------------------------------------------
// Rounds, statistics and reports

/** `items` rotated left by `round`: the order of a round, so no item always runs right after another. */
export function rotated<T>(items: T[], round: number): T[] {
  return items.map((_, i) => items[(i + round) % items.length]!);
}

/** A timed case of {@linkcode timeCases}: its name and how to run it once. */
export interface Case {
  name: string;
  go: () => Promise<Ran>;
}

/**
 * Times `rounds` rounds of `cases`, in an order that rotates each round;
 * prints a line a round. Returns the wall times in seconds by case name, in
 * the order of `cases`.
 */
export async function timeCases(cases: Case[], rounds: number): Promise<Map<string, number[]>> {
  const times = new Map(cases.map((c) => [c.name, [] as number[]]));
  for (let round = 0; round < rounds; round++) {
    const line: string[] = [];
    for (const c of rotated(cases, round)) {
      const ran = await c.go();
      times.get(c.name)!.push(ran.seconds);
      line.push(`${c.name} ${ran.seconds.toFixed(2)}s`);
    }
    console.log(`Round ${round + 1}/${rounds}: ${line.join(", ")}`);
  }
  return times;
}

/**
 * Times `rounds` rounds of `tools`, each run into a fresh directory (see
 * {@linkcode runFresh}), in an order that rotates each round; prints a line a
 * round and passes every run to `check`. Returns the wall times in seconds by
 * tool name, in the order of `tools`.
 */
export function timeRounds(
  tools: Tool[],
  rounds: number,
  cleanup?: Cleanup,
  check?: (tool: Tool, ran: Ran) => void,
): Promise<Map<string, number[]>> {
  return timeCases(
    tools.map((tool) => ({
      name: tool.name,
      go: async () => {
        const ran = await runFresh(tool, cleanup);
        check?.(tool, ran);
        return ran;
      },
    })),
    rounds,
  );
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** `rows` as left-aligned columns two spaces apart; the first row gives the column count. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd())
    .join("\n");
}

/** How {@linkcode printResults} heads its table and writes the times. */
export interface TableUnits {
  /** The first column's heading: "tool" by default. */
  first?: string;
  /** The unit of the times: "s" (seconds) by default. */
  unit?: string;
  /** Digits after the point: 3 by default. */
  digits?: number;
}

/**
 * Prints the table of median / min / max wall times of {@linkcode timeRounds},
 * with a column `x label` of each tool's median over the median of the tool
 * that `against` names for that label. Returns the medians by tool name.
 */
export function printResults(
  times: Map<string, number[]>,
  rounds: number,
  against: Record<string, string>,
  table: TableUnits = {},
): Map<string, number> {
  const { first = "tool", unit = "s", digits = 3 } = table;
  const medians = new Map([...times].map(([name, values]) => [name, median(values)]));
  const bases = Object.entries(against).map(([label, name]) =>
    [label, medians.get(name)!] as const
  );
  const rows = [[
    first,
    `median ${unit}`,
    `min ${unit}`,
    `max ${unit}`,
    ...bases.map(([label]) => `x ${label}`),
  ]];
  for (const [name, values] of times) {
    rows.push([
      name,
      medians.get(name)!.toFixed(digits),
      Math.min(...values).toFixed(digits),
      Math.max(...values).toFixed(digits),
      ...bases.map(([, base]) => (medians.get(name)! / base).toFixed(2)),
    ]);
  }
  console.log(`\nResults over ${rounds} rounds (wall time of the spawned process):\n`);
  console.log(formatTable(rows));
  return medians;
}

/** "MET" or "NOT MET". */
export function verdict(met: boolean): string {
  return met ? "MET" : "NOT MET";
}

/** Prints whether servin's median is at most `target` times the median of `against`. */
export function printTarget(ratio: number, target: number, against: string): void {
  console.log(
    `\nTarget: servin median <= ${target.toFixed(1)}x ${against} median: ` +
      `${verdict(ratio <= target)} (${ratio.toFixed(2)}x)`,
  );
}

/** Prints servin's peak RSS as {@linkcode peakRss} measured it. */
export function printPeakRss(rss: string | undefined): void {
  console.log(`servin peak RSS: ${rss ?? "unknown (/usr/bin/time not installed)"}`);
}

/** Prints the distinct non-blank lines that servin wrote to stderr in `runs`, if any. */
export function printServinStderr(runs: Ran[]): void {
  const lines = new Set(runs.flatMap((ran) => ran.stderr.split("\n")).filter((l) => l.trim()));
  if (lines.size > 0) {
    console.log(`servin wrote to stderr:\n${[...lines].map((w) => `  ${w}`).join("\n")}`);
  }
}

/** The first line of a command's stdout, or why it could not be had. */
export async function firstLine(cmd: string, args: string[]): Promise<string> {
  try {
    return (await run(cmd, args)).stdout.split("\n")[0]!.trim();
  } catch (err) {
    return `unavailable (${err instanceof Error ? err.message.split("\n")[0] : err})`;
  }
}

/** Prints "Versions:" with deno's and each of `tools`' `--version`, then the `more` lines. */
export async function printVersions(tools: string[], more: string[] = []): Promise<void> {
  console.log("\nVersions:");
  console.log(`  ${await firstLine(Deno.execPath(), ["--version"])}`);
  for (const tool of tools) console.log(`  ${await firstLine(tool, ["--version"])}`);
  for (const line of more) console.log(`  ${line}`);
}

/** The command-line options. */
export interface Options {
  /** `--rounds N`: how many timed rounds. */
  rounds: number;
  /** `--remove-each`: remove each fresh directory right after its run, not after the last round. */
  removeEach: boolean;
}

/**
 * Parses `--rounds N` (`defaultRounds` without it) and, when `removeEach` is
 * true, `--remove-each`; notes when there are fewer than 5 rounds.
 */
export function parseOptions(
  { defaultRounds = 5, removeEach = true }: { defaultRounds?: number; removeEach?: boolean } = {},
): Options {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string" },
      ...(removeEach ? { "remove-each": { type: "boolean" } } : {}),
    },
  }) as { values: { rounds?: string; "remove-each"?: boolean } };
  const rounds = Number(values.rounds ?? defaultRounds);
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new Error(`--rounds must be a positive integer, got ${values.rounds}`);
  }
  if (rounds < 5) console.log(`Note: ${rounds} rounds is fewer than the recommended 5.`);
  return { rounds, removeEach: values["remove-each"] ?? false };
}

/** Runs a benchmark's `main`; a `CommandFailed` aborts it with its message and exit code 1. */
export async function runMain(main: () => Promise<void>): Promise<void> {
  // Deno's update check would look up dl.deno.land: keep all traffic on this machine
  // (the servin and deno commands a benchmark spawns inherit this).
  Deno.env.set("DENO_NO_UPDATE_CHECK", "1");
  try {
    await main();
  } catch (err) {
    if (!(err instanceof CommandFailed)) throw err;
    console.error(`\nBenchmark aborted: ${err.message}`);
    Deno.exit(1);
  }
}

/**
 * A tarball at `DIR/bb.tar` of a static busybox root (the host's
 * `/usr/bin/busybox`, a link per applet in `applets`, root in passwd and
 * group); returns its path.
 */
export async function busyboxTarball(dir: string, applets: string[]): Promise<string> {
  const tree = `${dir}/bb`;
  await Deno.mkdir(`${tree}/bin`, { recursive: true });
  await Deno.mkdir(`${tree}/etc`, { recursive: true });
  await Deno.writeTextFile(`${tree}/etc/passwd`, "root:x:0:0:root:/root:/bin/sh\n");
  await Deno.writeTextFile(`${tree}/etc/group`, "root:x:0:\n");
  await Deno.copyFile(await Deno.realPath("/usr/bin/busybox"), `${tree}/bin/busybox`);
  for (const a of applets) await Deno.symlink("busybox", `${tree}/bin/${a}`);
  await run("tar", ["-C", tree, "-cf", `${dir}/bb.tar`, "."]);
  return `${dir}/bb.tar`;
}
