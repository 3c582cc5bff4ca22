/**
 * Benchmark: `servin image load` against `podman load` of the same docker-archive.
 *
 * 1. Builds, once, a docker-archive `bench/.cache/load.tar` of at least 150 MB with
 *    uncompressed layers, as `docker save` writes it. A root filesystem (the
 *    debootstrap tree in `/tmp/deb-rootfs` when it exists, else the tree of
 *    `bench/.cache/rootfs.tar.gz` from `bench/import.ts`, else a generated tree of
 *    at least 5,000 files) is split into four layers: everything but the next
 *    three, `/usr/lib`, `/usr/share`, and `/usr/bin` + `/usr/sbin`; a fifth, small
 *    layer deletes `/etc/motd` with a whiteout. `umoci` assembles the layers into an
 *    OCI image layout and `skopeo copy` converts that to the docker-archive. Missing
 *    tools (umoci, skopeo, podman) are installed with apt-get.
 * 2. Times, interleaved over N rounds with a rotating order, `servin image load -i`
 *    into a fresh empty `SERVIN_ROOT` and `podman load -i` into a fresh `--root` and
 *    `--runroot` (overlay storage driver, vfs when overlay fails), with a `sync`
 *    (untimed) before every timed command. The fresh directories are made untimed
 *    and removed, untimed, after the last round: on an ext4 filesystem without a
 *    journal, inode allocation skips (slowly, one inode-table lookup per inode)
 *    every inode deleted in the last 60 to 360 seconds, so removing a load's 7,000
 *    entries makes the next loads much slower and noisier. `--remove-each` removes
 *    each directory right after its load instead.
 * 3. Prints median / min / max wall times, the servin/podman ratio, servin's peak
 *    RSS and the tool versions. The target is servin median <= 0.5x podman median;
 *    this is a report, so it exits 0 whether or not the target is met (but non-zero
 *    when a command fails, or when servin does not report a loaded image).
 *
 * Usage: `deno run -A bench/load.ts [--rounds N] [--remove-each]` (N = 5 by default).
 *
 * @module
 */

import { parseArgs } from "node:util";

// Deno's update check would look up dl.deno.land: keep all traffic on this machine.
Deno.env.set("DENO_NO_UPDATE_CHECK", "1");

/** Minimum number of regular files in the root filesystem the layers are cut from. */
const MIN_FILES = 5_000;
/** Minimum total size of those files, and so of the archive. */
const MIN_BYTES = 150 * 1024 * 1024;
/** servin's median must be at most this multiple of podman's median. */
const TARGET_RATIO = 0.5;
/** A debootstrap tree left by an earlier run, copied instead of bootstrapping. */
const PREBUILT_ROOTFS = "/tmp/deb-rootfs";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CACHE = `${REPO}/bench/.cache`;
/** The rootfs tarball that `bench/import.ts` caches, reused when there is no prebuilt tree. */
const ROOTFS_TARBALL = `${CACHE}/rootfs.tar.gz`;
const ARCHIVE = `${CACHE}/load.tar`;
const ARCHIVE_INFO = `${CACHE}/load.json`;
/** The tag written into the archive, and the name servin should report (skopeo adds docker.io/). */
const TAG = "bench/load:latest";
const LOADED_TAG = `docker.io/${TAG}`;
/** The file of the lowest layer that the top layer deletes with a whiteout. */
const WHITEOUT_TARGET = "etc/motd";
/** The layers cut out of the tree, bottom to top, above a first layer with everything else. */
const SPLIT_LAYERS = [["usr/lib"], ["usr/share"], ["usr/bin", "usr/sbin"]];

/** How the cached archive was made and what it holds. */
interface ArchiveInfo {
  source: string;
  files: number;
  symlinks: number;
  dirs: number;
  bytes: number;
  /** The layer tarballs, bottom first, as given to umoci. */
  layers: { contents: string; bytes: number }[];
  /** Layers listed in the archive's manifest.json. */
  archiveLayers: number;
}

/** One benchmarked tool: `command(dir)` is a single load into the fresh empty directory `dir`. */
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

/** MiB, or KiB below 1 MiB. */
function humanSize(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : mib(bytes);
}

/** Installs the Debian packages of the `tools` missing from PATH (each tool is its package). */
async function ensureTools(tools: string[]): Promise<void> {
  const missing = tools.filter((tool) => !onPath(tool));
  if (missing.length === 0) return;
  console.log(`Installing ${missing.join(", ")} with apt-get ...`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  await run("apt-get", ["update"], { env });
  await run("apt-get", ["install", "-y", ...missing], { env });
}

/** Counts regular files, symlinks and directories under `dir`, and sums the file sizes. */
async function measureTree(
  dir: string,
): Promise<Omit<ArchiveInfo, "source" | "layers" | "archiveLayers">> {
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
 * symlinks between them (the same generator as `bench/import.ts`).
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
  if (exists(ROOTFS_TARBALL)) {
    console.log(`Unpacking ${ROOTFS_TARBALL} ...`);
    await run("tar", ["-xzpf", ROOTFS_TARBALL, "-C", dir]);
    return `the tree of ${ROOTFS_TARBALL}`;
  }
  // A generated tree: a quarter of the minimum in each split layer, the rest topped up later.
  console.log("No debootstrap tree or rootfs.tar.gz: generating a synthetic tree ...");
  for (const path of ["usr/lib", "usr/share", "usr/bin"]) {
    await generateTree(`${dir}/${path}`, MIN_FILES / 4, MIN_BYTES / 4);
  }
  return "generated tree";
}

/** Writes the layer tarballs of `tree` into `out`, bottom first; returns their descriptions. */
async function cutLayers(tree: string, out: string): Promise<ArchiveInfo["layers"]> {
  const cut = SPLIT_LAYERS.map((paths) => paths.filter((path) => exists(`${tree}/${path}`)))
    .filter((paths) => paths.length > 0);
  const split = new Set(cut.flat());
  // The first layer: every top-level entry but usr, the usr directory itself, and what
  // of usr is not in another layer.
  const rest: string[] = [];
  for await (const entry of Deno.readDir(tree)) {
    if (entry.name !== "usr") rest.push(entry.name);
  }
  const usr: string[] = [];
  if (exists(`${tree}/usr`)) {
    for await (const entry of Deno.readDir(`${tree}/usr`)) {
      if (!split.has(`usr/${entry.name}`)) usr.push(`usr/${entry.name}`);
    }
  }
  rest.sort();
  usr.sort();
  const specs: { contents: string; args: string[] }[] = [
    {
      contents: "everything else",
      args: [...rest, ...(exists(`${tree}/usr`) ? ["--no-recursion", "usr", "--recursion"] : [])]
        .concat(usr),
    },
    ...cut.map((paths) => ({ contents: paths.map((p) => `/${p}`).join(" + "), args: paths })),
  ];
  const layers: ArchiveInfo["layers"] = [];
  for (const [i, spec] of specs.entries()) {
    const path = `${out}/layer-${i + 1}.tar`;
    await run("tar", ["--numeric-owner", "-C", tree, "-cf", path, ...spec.args]);
    layers.push({ contents: spec.contents, bytes: (await Deno.stat(path)).size });
  }
  // The top layer deletes a file of the first one with a whiteout.
  const whiteout = `${out}/whiteout`;
  const slash = WHITEOUT_TARGET.lastIndexOf("/");
  const parent = WHITEOUT_TARGET.slice(0, slash);
  await Deno.mkdir(`${whiteout}/${parent}`, { recursive: true, mode: 0o755 });
  await Deno.writeFile(
    `${whiteout}/${parent}/.wh.${WHITEOUT_TARGET.slice(slash + 1)}`,
    new Uint8Array(),
  );
  const path = `${out}/layer-${specs.length + 1}.tar`;
  await run("tar", ["--numeric-owner", "-C", whiteout, "-cf", path, parent.split("/")[0]!]);
  layers.push({ contents: `whiteout of /${WHITEOUT_TARGET}`, bytes: (await Deno.stat(path)).size });
  return layers;
}

/** Returns the cached archive's description, building the archive first when missing. */
async function ensureArchive(): Promise<ArchiveInfo> {
  if (exists(ARCHIVE) && exists(ARCHIVE_INFO)) {
    return JSON.parse(await Deno.readTextFile(ARCHIVE_INFO)) as ArchiveInfo;
  }
  await ensureTools(["umoci", "skopeo"]);
  await Deno.mkdir(CACHE, { recursive: true });
  const staging = `${CACHE}/load-build`;
  await Deno.remove(staging, { recursive: true }).catch(() => {});
  const tree = `${staging}/tree`;
  await Deno.mkdir(tree, { recursive: true });
  try {
    const start = performance.now();
    let source = await buildBaseTree(tree);
    if (!exists(`${tree}/${WHITEOUT_TARGET}`)) {
      await Deno.mkdir(`${tree}/${WHITEOUT_TARGET.slice(0, WHITEOUT_TARGET.lastIndexOf("/"))}`, {
        recursive: true,
      });
      await Deno.writeTextFile(`${tree}/${WHITEOUT_TARGET}`, "Deleted by the top layer.\n");
    }
    let measured = await measureTree(tree);
    if (measured.files < MIN_FILES || measured.bytes < MIN_BYTES) {
      const files = Math.max(0, MIN_FILES - measured.files) + 100;
      const bytes = Math.max(0, MIN_BYTES - measured.bytes) + 1024 * 1024;
      console.log(`Topping up with /opt/bench-data (${files} files, ${mib(bytes)}) ...`);
      await generateTree(`${tree}/opt/bench-data`, files, bytes);
      source += " + generated /opt/bench-data";
      measured = await measureTree(tree);
    }

    console.log("Cutting the layers ...");
    const layers = await cutLayers(tree, staging);
    await Deno.remove(tree, { recursive: true });

    console.log("Assembling an OCI layout with umoci ...");
    const layout = `${staging}/layout`;
    const image = `${layout}:bench`;
    await run("umoci", ["init", "--layout", layout]);
    await run("umoci", ["new", "--image", image]);
    for (const [i, layer] of layers.entries()) {
      await run("umoci", [
        "raw",
        "add-layer",
        "--image",
        image,
        "--history.created_by",
        `bench/load.ts: ${layer.contents}`,
        `${staging}/layer-${i + 1}.tar`,
      ]);
    }
    await run("umoci", ["config", "--image", image, "--config.cmd", "/bin/sh"]);

    console.log("Converting to a docker-archive with skopeo ...");
    const partial = `${ARCHIVE}.partial`;
    await Deno.remove(partial).catch(() => {});
    await run("skopeo", ["copy", "--quiet", `oci:${image}`, `docker-archive:${partial}:${TAG}`]);
    const manifest = JSON.parse((await run("tar", ["-xOf", partial, "manifest.json"])).stdout);
    const archiveLayers = (manifest as { Layers?: unknown[] }[])[0]?.Layers?.length ?? 0;
    if (archiveLayers !== layers.length) {
      throw new Error(`the archive has ${archiveLayers} layers, expected ${layers.length}`);
    }
    await Deno.rename(partial, ARCHIVE);
    const info: ArchiveInfo = { source, ...measured, layers, archiveLayers };
    await Deno.writeTextFile(ARCHIVE_INFO, JSON.stringify(info, null, 2) + "\n");
    console.log(`Built in ${((performance.now() - start) / 1000).toFixed(1)} s.`);
    return info;
  } finally {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
}

/** Checks that servin reported the loaded image; returns a note when not by the expected name. */
function checkServinOutput(ran: Ran): string | undefined {
  if (ran.stdout.split("\n").includes(`Loaded image: ${LOADED_TAG}`)) return undefined;
  if (/^Loaded image/m.test(ran.stdout)) {
    return `servin did not print "Loaded image: ${LOADED_TAG}" but:\n${ran.stdout.trimEnd()}`;
  }
  throw new CommandFailed(
    `servin printed no "Loaded image" line\n` +
      `--- stderr ---\n${ran.stderr.trimEnd()}\n--- stdout ---\n${ran.stdout.trimEnd()}`,
  );
}

/** The servin tool, and podman with the first storage driver that works (probing warms it up). */
async function selectTools(later?: string[]): Promise<Tool[]> {
  const servin: Tool = {
    name: "servin",
    command: (dir) => ({
      cmd: Deno.execPath(),
      args: ["run", "-A", "main.ts", "image", "load", "-i", ARCHIVE],
      env: { SERVIN_ROOT: dir },
    }),
  };
  const failures: string[] = [];
  for (const driver of ["overlay", "vfs"]) {
    const podman: Tool = {
      name: `podman (${driver})`,
      command: (dir) => ({
        cmd: "podman",
        args: [
          "--root",
          `${dir}/root`,
          "--runroot",
          `${dir}/runroot`,
          "--storage-driver",
          driver,
          "load",
          "-i",
          ARCHIVE,
        ],
      }),
    };
    try {
      await inFreshDir((dir) => runTool(podman, dir), later); // probe, and warm up
      if (driver !== "overlay") console.log(`Note: podman overlay failed; using ${driver}.`);
      return [servin, podman];
    } catch (err) {
      if (!(err instanceof CommandFailed)) throw err;
      console.log(`Note: podman --storage-driver ${driver} failed:\n${err.message}`);
      failures.push(driver);
    }
  }
  throw new CommandFailed(`podman load failed with the ${failures.join(" and ")} drivers`);
}

/** Removes `dir`, first unmounting whatever is mounted below it (podman's overlay may mount). */
async function removeDir(dir: string): Promise<void> {
  const mounts = (await Deno.readTextFile("/proc/self/mounts")).split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) await run("umount", [point]);
  await Deno.remove(dir, { recursive: true });
}

/**
 * Calls `body` with a fresh empty temporary directory, removed afterwards: right
 * away, or, when `later` is given, by the caller, who finds it added to `later`.
 */
async function inFreshDir<T>(body: (dir: string) => Promise<T>, later?: string[]): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "servin-bench-" });
  try {
    return await body(dir);
  } finally {
    if (later) later.push(dir);
    else await removeDir(dir);
  }
}

/** Runs one load of `tool` into `dir`, after an untimed `sync`. */
async function runTool(tool: Tool, dir: string): Promise<Ran> {
  const { cmd, args, env } = tool.command(dir);
  await run("sync", []);
  return await run(cmd, args, { env });
}

/** Peak RSS of one load under `/usr/bin/time -v`, or undefined when unavailable. */
async function peakRss(tool: Tool, later?: string[]): Promise<{ rss?: string; ran: Ran }> {
  return await inFreshDir(async (dir) => {
    const { cmd, args, env } = tool.command(dir);
    if (!exists("/usr/bin/time")) return { ran: await run(cmd, args, { env }) };
    const ran = await run("/usr/bin/time", ["-v", cmd, ...args], { env });
    const kib = ran.stderr.match(/Maximum resident set size \(kbytes\): (\d+)/)?.[1];
    // Keep only servin's own stderr, not time's report.
    ran.stderr = ran.stderr.replace(/\tCommand being timed:[^]*$/, "");
    return { rss: kib === undefined ? undefined : mib(Number(kib) * 1024), ran };
  }, later);
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

function parseOptions(): { rounds: number; removeEach: boolean } {
  const { values } = parseArgs({
    args: Deno.args,
    options: { rounds: { type: "string" }, "remove-each": { type: "boolean" } },
  });
  const rounds = Number(values.rounds ?? 5);
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new Error(`--rounds must be a positive integer, got ${values.rounds}`);
  }
  if (rounds < 5) console.log(`Note: ${rounds} rounds is fewer than the recommended 5.`);
  return { rounds, removeEach: values["remove-each"] ?? false };
}

async function main(): Promise<void> {
  const { rounds, removeEach } = parseOptions();

  const info = await ensureArchive();
  await ensureTools(["podman"]);
  const size = (await Deno.stat(ARCHIVE)).size;
  console.log(`\nArchive: ${ARCHIVE} (docker-archive, tag ${TAG})`);
  console.log(`  source:  ${info.source}`);
  console.log(`  size:    ${mib(size)} (uncompressed layers)`);
  console.log(
    `  tree:    ${mib(info.bytes)} in ${info.files} files, ${info.symlinks} symlinks, ` +
      `${info.dirs} directories`,
  );
  console.log(`  layers:  ${info.archiveLayers}, bottom first:`);
  for (const [i, layer] of info.layers.entries()) {
    console.log(`    ${i + 1}. ${humanSize(layer.bytes).padStart(10)}  ${layer.contents}`);
  }

  console.log("\nVersions:");
  console.log(`  ${await firstLine(Deno.execPath(), ["--version"])}`);
  for (const tool of ["podman", "skopeo", "umoci"]) {
    console.log(`  ${await firstLine(tool, ["--version"])}`);
  }
  console.log();

  // Fresh directories still to be removed; none are kept with --remove-each.
  const later = removeEach ? undefined : [] as string[];
  console.log(
    removeEach
      ? "Removing each load's directory right after timing it (--remove-each).\n"
      : "Keeping each load's directory until after the last round (see --remove-each).\n",
  );
  const notes = new Set<string>();
  const warnings = new Set<string>();
  let tools: Tool[];
  let rss: string | undefined;
  const times = new Map<string, number[]>();
  try {
    tools = await selectTools(later);
    const servin = tools[0]!;

    // Untimed warm-up: fills deno's module cache and the page cache for the archive
    // (podman was warmed up by its probe). It doubles as the peak-RSS measurement.
    const warmUp = await peakRss(servin, later);
    rss = warmUp.rss;
    const checked = [warmUp.ran];

    for (const tool of tools) times.set(tool.name, []);
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round so no tool always runs right after another.
      const order = tools.map((_, i) => tools[(i + round) % tools.length]!);
      const line: string[] = [];
      for (const tool of order) {
        const ran = await inFreshDir((dir) => runTool(tool, dir), later);
        if (tool === servin) checked.push(ran);
        times.get(tool.name)!.push(ran.seconds);
        line.push(`${tool.name} ${ran.seconds.toFixed(2)}s`);
      }
      console.log(`Round ${round + 1}/${rounds}: ${line.join(", ")}`);
    }
    for (const ran of checked) {
      const note = checkServinOutput(ran);
      if (note) notes.add(note);
      for (const warning of ran.stderr.split("\n")) if (warning.trim()) warnings.add(warning);
    }
  } finally {
    for (const dir of later ?? []) await removeDir(dir);
  }
  const [servin, podman] = tools as [Tool, Tool];

  const medians = new Map([...times].map(([name, values]) => [name, median(values)]));
  const podmanMedian = medians.get(podman.name)!;
  const rows = [["tool", "median s", "min s", "max s", "x podman"]];
  for (const [name, values] of times) {
    rows.push([
      name,
      medians.get(name)!.toFixed(3),
      Math.min(...values).toFixed(3),
      Math.max(...values).toFixed(3),
      (medians.get(name)! / podmanMedian).toFixed(2),
    ]);
  }
  console.log(`\nResults over ${rounds} rounds (wall time of the spawned process):\n`);
  console.log(formatTable(rows));

  const ratio = medians.get(servin.name)! / podmanMedian;
  console.log(`\nservin/podman: ${ratio.toFixed(2)}x`);
  console.log(`servin peak RSS: ${rss ?? "unknown (/usr/bin/time not installed)"}`);
  for (const note of notes) console.log(`Note: ${note}`);
  if (warnings.size > 0) {
    console.log(`servin wrote to stderr:\n${[...warnings].map((w) => `  ${w}`).join("\n")}`);
  }
  const met = ratio <= TARGET_RATIO;
  console.log(
    `\nTarget: servin median <= ${TARGET_RATIO.toFixed(1)}x podman median: ` +
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
