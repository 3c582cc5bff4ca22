/**
 * Benchmark: container-create time with the `overlay` and `copy` snapshotters,
 * next to `cp -a` of the same root filesystem.
 *
 * 1. Builds, once, two root-filesystem trees and their tarballs under
 *    `bench/.cache/`: a ~10 MiB one (a static busybox, a few hundred small files
 *    and some 1 MiB files) and a ~200 MiB one (the debootstrap tree in
 *    `/tmp/deb-rootfs` when it exists, else the tree in `bench/.cache/rootfs.tar.gz`,
 *    else a generated tree of at least 5,000 files). Both get a static busybox at
 *    `/bin/busybox` and a `/bin/sh`, so the images are runnable. The unpacked
 *    trees stay in the cache as the `cp -a` sources.
 * 2. Imports both tarballs (`servin image import`) into a fresh temporary Servin
 *    root, then times, interleaved over N rounds and for each image, in-process
 *    through the library API: `servin.containers.create(image, { snapshotter })`
 *    with `overlay` and with `copy`; and, spawned, `cp -a` of the unpacked tree
 *    into a fresh directory. Every timed operation follows an untimed `sync`.
 *    Containers and copies are removed (untimed) after the last round, not after
 *    each operation: on an ext4 filesystem without a journal, inode allocation
 *    skips (slowly, one inode-table lookup per inode) every inode deleted in the
 *    last 60 to 360 seconds, so removing a 7,000-entry copy makes the next copies
 *    several times slower and very noisy. `--remove-each` removes each container
 *    and copy right after timing it instead.
 * 3. Prints median / min / max times, the copy/cp-a ratios, the wall time of one
 *    whole `servin create` CLI process for context, and the tool versions.
 *    Targets: overlay create median <= 50 ms and flat across image sizes
 *    (big/small median ratio <= 2x); copy create median <= 1.2x `cp -a` median.
 *    This is a report: it exits 0 whether or not the targets are met (but
 *    non-zero when a command fails).
 *
 * Usage: `deno run -A bench/rootfs.ts [--rounds N] [--remove-each]` (N = 7 by default).
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { openServin, type Servin } from "../mod.ts";

// Deno's update check would look up dl.deno.land: keep all traffic on this machine.
Deno.env.set("DENO_NO_UPDATE_CHECK", "1");

/** Default number of timed rounds. */
const DEFAULT_ROUNDS = 7;
/** Overlay create median must be at most this many milliseconds. */
const OVERLAY_TARGET_MS = 50;
/** Overlay is "flat" when the big image's median is at most this multiple of the small one's. */
const FLAT_RATIO = 2;
/** Copy create median must be at most this multiple of `cp -a`'s median. */
const COPY_TARGET_RATIO = 1.2;

/** Total size of the regular files in the small tree. */
const SMALL_BYTES = 10 * 1024 * 1024;
/** Number of small generated files in the small tree. */
const SMALL_FILES = 300;
/** Minimum number of regular files in the big tree. */
const BIG_MIN_FILES = 5_000;
/** Minimum total size of the regular files in the big tree. */
const BIG_MIN_BYTES = 190 * 1024 * 1024;
/** A debootstrap tree left by an earlier run (see bench/import.ts), copied when present. */
const PREBUILT_ROOTFS = "/tmp/deb-rootfs";
const BUSYBOX = "/bin/busybox";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CACHE = `${REPO}/bench/.cache`;
/** The tarball bench/import.ts builds; its tree is the second choice for the big image. */
const IMPORT_TARBALL = `${CACHE}/rootfs.tar.gz`;

/** What a cached tree holds and where it came from. */
interface TreeInfo {
  source: string;
  files: number;
  symlinks: number;
  dirs: number;
  bytes: number;
}

/** One benchmarked image: its unpacked tree, its tarball and its tag. */
interface Image {
  label: string;
  tag: string;
  tree: string;
  tarball: string;
  info: TreeInfo;
}

/** The outcome of a spawned command. */
interface Ran {
  ms: number;
  stdout: string;
  stderr: string;
}

/** Timings of one image, in milliseconds. */
interface Timings {
  overlay: number[];
  copy: number[];
  cp: number[];
}

type Operation = keyof Timings;

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
  const ms = performance.now() - start;
  const decoder = new TextDecoder();
  const ran = { ms, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
  if (!output.success) {
    throw new CommandFailed(
      `\`${[cmd, ...args].join(" ")}\` exited with code ${output.code}\n` +
        `--- stderr ---\n${ran.stderr.trimEnd()}\n--- stdout ---\n${ran.stdout.trimEnd()}`,
    );
  }
  return ran;
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
async function measureTree(dir: string): Promise<Omit<TreeInfo, "source">> {
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

/** Binary content of `size` bytes: random 4 KiB blocks alternating with repetitive ones. */
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

/** Writes `count` small text files (200 B to 8 KiB) in nested directories under `dir`. */
async function writeSmallFiles(dir: string, count: number, random: () => number): Promise<number> {
  let written = 0;
  for (let i = 0; i < count; i++) {
    const sub = `${dir}/pkg-${i % 30}/${["doc", "lib/x", "lib/y/z"][i % 3]}`;
    await Deno.mkdir(sub, { recursive: true });
    const text = textContent(random, 200 + random() % 8_000);
    await Deno.writeTextFile(`${sub}/file-${i}.conf`, text);
    if (i % 50 === 0) await Deno.symlink(`file-${i}.conf`, `${sub}/alias-${i}`);
    written += new TextEncoder().encode(text).length;
  }
  return written;
}

/** Writes a file of `size` binary bytes at `path`. */
async function writeBlob(path: string, size: number, random: () => number): Promise<void> {
  await Deno.writeFile(path, binaryContent(random, size), { mode: 0o755 });
}

/**
 * Writes at least `files` regular files totalling at least `bytes` bytes under
 * `dir`: MB-sized binaries plus many small text files.
 */
async function generateTree(dir: string, files: number, bytes: number): Promise<void> {
  const random = prng(0x2007f5 ^ files ^ bytes);
  const blobs = Math.max(1, Math.ceil((bytes * 0.85) / (4 * 1024 * 1024)));
  await Deno.mkdir(`${dir}/usr/lib/blobs`, { recursive: true });
  let written = 0;
  for (let i = 0; i < blobs; i++) {
    const size = Math.round((bytes * 0.85 / blobs) * (0.5 + (random() % 1000) / 1000));
    await writeBlob(`${dir}/usr/lib/blobs/blob-${i}.so`, size, random);
    written += size;
  }
  const small = Math.max(files - blobs, 1);
  written += await writeSmallFiles(`${dir}/usr/share`, small, random);
  for (let i = 0; written < bytes; i++) {
    const size = 1024 * 1024;
    await writeBlob(`${dir}/usr/lib/blobs/extra-${i}.so`, size, random);
    written += size;
  }
}

/** Minimal /etc, /tmp and /root, so a user can be resolved and a shell can run. */
async function writeSkeleton(dir: string): Promise<void> {
  for (const sub of ["bin", "etc", "root", "tmp", "proc", "sys", "dev"]) {
    await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
  }
  await Deno.chmod(`${dir}/tmp`, 0o1777);
  await Deno.chmod(`${dir}/root`, 0o700);
  await Deno.writeTextFile(`${dir}/etc/passwd`, "root:x:0:0:root:/root:/bin/sh\n");
  await Deno.writeTextFile(`${dir}/etc/group`, "root:x:0:\n");
}

/** True when the ELF file at `path` has no program interpreter (is statically linked). */
function isStaticElf(path: string): boolean {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch {
    return false;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const isElf64 = bytes.length > 64 && view.getUint32(0) === 0x7f454c46 && bytes[4] === 2;
  if (!isElf64) return false;
  const phoff = Number(view.getBigUint64(0x20, true));
  const phentsize = view.getUint16(0x36, true);
  const phnum = view.getUint16(0x38, true);
  for (let i = 0; i < phnum; i++) {
    if (view.getUint32(phoff + i * phentsize, true) === 3) return false; // PT_INTERP
  }
  return true;
}

/** Makes sure a static busybox is at /bin/busybox, installing busybox-static when needed. */
async function ensureBusybox(): Promise<void> {
  if (isStaticElf(BUSYBOX)) return;
  console.log(`${BUSYBOX} is missing or not static: apt-get install -y busybox-static ...`);
  await run("apt-get", ["install", "-y", "busybox-static"], {
    env: { DEBIAN_FRONTEND: "noninteractive" },
  });
  if (!isStaticElf(BUSYBOX)) throw new CommandFailed(`${BUSYBOX} is still not a static binary`);
}

/** `dir/bin` as a host path, following a `/bin` symlink inside the tree (merged /usr). */
function binDir(dir: string): string {
  const bin = `${dir}/bin`;
  try {
    if (!Deno.lstatSync(bin).isSymlink) return bin;
  } catch {
    Deno.mkdirSync(bin, { recursive: true });
    return bin;
  }
  // An absolute target is resolved inside the tree too (as `chroot` would), never on the host.
  return join(dir, Deno.readLinkSync(bin));
}

/** Puts the host's static busybox at `/bin/busybox`, and `/bin/sh -> busybox` when missing. */
async function addBusybox(dir: string): Promise<string> {
  const bin = binDir(dir);
  await Deno.copyFile(BUSYBOX, `${bin}/busybox`);
  await Deno.chmod(`${bin}/busybox`, 0o755);
  if (exists(`${bin}/sh`)) return "busybox at /bin/busybox (the tree's own /bin/sh kept)";
  await Deno.symlink("busybox", `${bin}/sh`);
  return "busybox at /bin/busybox, /bin/sh -> busybox";
}

/** Fills `dir` with the small tree: busybox, a few hundred small files and 1 MiB files. */
async function buildSmallTree(dir: string): Promise<string> {
  await writeSkeleton(dir);
  const note = await addBusybox(dir);
  for (const applet of ["ls", "cat", "echo", "true", "mkdir", "rm"]) {
    await Deno.symlink("busybox", `${dir}/bin/${applet}`);
  }
  const random = prng(0x51a11);
  await writeSmallFiles(`${dir}/usr/share`, SMALL_FILES, random);
  await Deno.mkdir(`${dir}/usr/lib/blobs`, { recursive: true });
  let bytes = (await measureTree(dir)).bytes;
  for (let i = 0; bytes < SMALL_BYTES; i++) {
    const size = Math.min(1024 * 1024, SMALL_BYTES - bytes);
    await writeBlob(`${dir}/usr/lib/blobs/blob-${i}.so`, size, random);
    bytes += size;
  }
  return `generated: ${SMALL_FILES} small files + 1 MiB files, ${note}`;
}

/** Fills `dir` with the big tree; returns where it came from. */
async function buildBigTree(dir: string): Promise<string> {
  let source: string;
  if (exists(PREBUILT_ROOTFS)) {
    console.log(`Copying the debootstrap tree ${PREBUILT_ROOTFS} ...`);
    await run("cp", ["-a", `${PREBUILT_ROOTFS}/.`, dir]);
    source = `debootstrap minbase bookworm (copied from ${PREBUILT_ROOTFS})`;
  } else if (exists(IMPORT_TARBALL)) {
    console.log(`Unpacking ${IMPORT_TARBALL} (built by bench/import.ts) ...`);
    await run("tar", ["--numeric-owner", "-xzf", IMPORT_TARBALL, "-C", dir]);
    source = `bench/import.ts's rootfs.tar.gz`;
  } else {
    console.log("Generating a synthetic big tree ...");
    await writeSkeleton(dir);
    await generateTree(dir, BIG_MIN_FILES, BIG_MIN_BYTES);
    source = "generated tree";
  }
  const tree = await measureTree(dir);
  if (tree.files < BIG_MIN_FILES || tree.bytes < BIG_MIN_BYTES) {
    const files = Math.max(0, BIG_MIN_FILES - tree.files) + 100;
    const bytes = Math.max(0, BIG_MIN_BYTES - tree.bytes) + 1024 * 1024;
    console.log(`Topping up with /opt/bench-data (${files} files, ${mib(bytes)}) ...`);
    await generateTree(`${dir}/opt/bench-data`, files, bytes);
    source += " + generated /opt/bench-data";
  }
  if (!exists(`${dir}/etc/passwd`)) await writeSkeleton(dir);
  return `${source}, ${await addBusybox(dir)}`;
}

/** Returns the cached image `label`, building its tree and tarball first when missing. */
async function ensureImage(
  label: string,
  build: (dir: string) => Promise<string>,
): Promise<Image> {
  const tree = `${CACHE}/create-${label}`;
  const tarball = `${CACHE}/create-${label}.tar.gz`;
  const infoPath = `${CACHE}/create-${label}.json`;
  const image = { label, tag: `${label}:latest`, tree, tarball };
  if (exists(tree) && exists(tarball) && exists(infoPath)) {
    return { ...image, info: JSON.parse(await Deno.readTextFile(infoPath)) as TreeInfo };
  }
  await Deno.mkdir(CACHE, { recursive: true });
  for (const path of [tree, tarball, infoPath]) {
    await Deno.remove(path, { recursive: true }).catch(() => {});
  }
  const staging = `${tree}.partial`;
  await Deno.remove(staging, { recursive: true }).catch(() => {});
  await Deno.mkdir(staging);
  try {
    console.log(`Building the ${label} tree ...`);
    const source = await build(staging);
    const info: TreeInfo = { source, ...await measureTree(staging) };
    console.log(`Creating ${tarball} ...`);
    await run("tar", ["--numeric-owner", "-C", staging, "-czf", `${tarball}.partial`, "."]);
    await Deno.rename(`${tarball}.partial`, tarball);
    await Deno.rename(staging, tree);
    await Deno.writeTextFile(infoPath, JSON.stringify(info, null, 2) + "\n");
    return { ...image, info };
  } finally {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
    await Deno.remove(`${tarball}.partial`).catch(() => {});
  }
}

/** Imports `image` into the Servin root `root` through the CLI. */
async function importImage(root: string, image: Image): Promise<Ran> {
  return await run(
    Deno.execPath(),
    ["run", "-A", "main.ts", "image", "import", image.tarball, image.tag],
    { env: { SERVIN_ROOT: root } },
  );
}

/** Untimed removals, run right away (`--remove-each`) or after the last round. */
class Cleanup {
  #pending: (() => Promise<unknown>)[] = [];
  #now: boolean;

  constructor(now: boolean) {
    this.#now = now;
  }

  async add(remove: () => Promise<unknown>): Promise<void> {
    if (this.#now) await remove();
    else this.#pending.push(remove);
  }

  async flush(): Promise<void> {
    for (const remove of this.#pending.splice(0)) await remove();
  }
}

/** Times one in-process container create; the removal goes to `cleanup`. */
async function timeCreate(
  servin: Servin,
  image: Image,
  snapshotter: "overlay" | "copy",
  cleanup: Cleanup,
  check?: (bundle: string) => Promise<void>,
): Promise<number> {
  await run("sync", []);
  const start = performance.now();
  const container = await servin.containers.create(image.tag, {
    snapshotter,
    command: ["/bin/sh"],
  });
  const ms = performance.now() - start;
  try {
    await check?.(container.bundle);
  } finally {
    await cleanup.add(() => servin.containers.remove(container.id, { force: true }));
  }
  return ms;
}

let copies = 0;

/** Times one spawned `cp -a` of the image's tree into a fresh directory under `scratch`. */
async function timeCp(image: Image, scratch: string, cleanup: Cleanup): Promise<number> {
  const dest = `${scratch}/cp-${image.label}-${++copies}`;
  await run("sync", []);
  try {
    return (await run("cp", ["-a", image.tree, dest])).ms;
  } finally {
    await cleanup.add(() => Deno.remove(dest, { recursive: true }));
  }
}

/** Compares the copy snapshotter's rootfs with the source tree by counts; returns a note. */
async function compareCopy(image: Image, bundle: string): Promise<string | undefined> {
  const got = await measureTree(`${bundle}/rootfs`);
  const want = image.info;
  const same = got.files === want.files && got.symlinks === want.symlinks &&
    got.dirs === want.dirs && got.bytes === want.bytes;
  if (same) return undefined;
  return `copy rootfs of ${image.tag} differs from the source tree: ` +
    `${got.files}/${got.symlinks}/${got.dirs}/${got.bytes} (files/symlinks/dirs/bytes) vs ` +
    `${want.files}/${want.symlinks}/${want.dirs}/${want.bytes}`;
}

/**
 * A warning when `path` is on ext4 without a journal: there, allocating an
 * inode skips, one inode-table lookup at a time, the free inodes deleted in
 * the last minute (six while their inode-table block is dirty), so file
 * creation right after a large deletion (a previous run's cleanup, other
 * processes' tests) is several times slower, for `cp -a` and `copy` alike.
 */
function noJournalWarning(path: string): string | undefined {
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
  const rounds = Number(values.rounds ?? DEFAULT_ROUNDS);
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new Error(`--rounds must be a positive integer, got ${values.rounds}`);
  }
  if (rounds < 5) console.log(`Note: ${rounds} rounds is fewer than the recommended 5.`);
  return { rounds, removeEach: values["remove-each"] ?? false };
}

function verdict(met: boolean): string {
  return met ? "MET" : "NOT MET";
}

/** Times the whole `servin create` CLI process once, and bare start-up (`--version`) once. */
async function timeCli(root: string, image: Image): Promise<string> {
  const env = { SERVIN_ROOT: root };
  const main = [Deno.execPath(), "run", "-A", "main.ts"];
  const create = [...main.slice(1), "create", "--snapshotter", "overlay", image.tag, "/bin/sh"];
  await run(main[0]!, [...main.slice(1), "--version"], { env }); // warm-up
  const startup = (await run(main[0]!, [...main.slice(1), "--version"], { env })).ms;
  await run("sync", []);
  const created = await run(main[0]!, create, { env });
  const id = created.stdout.trim();
  await run(main[0]!, [...main.slice(1), "rm", "-f", id], { env });
  return `CLI \`deno run -A main.ts create --snapshotter overlay ${image.tag} /bin/sh\`: ` +
    `${created.ms.toFixed(0)} ms wall (one run; \`main.ts --version\` alone: ` +
    `${startup.toFixed(0)} ms)`;
}

async function main(): Promise<void> {
  const { rounds, removeEach } = parseOptions();

  await ensureBusybox();
  const images = [
    await ensureImage("small", buildSmallTree),
    await ensureImage("big", buildBigTree),
  ];
  for (const image of images) {
    const { info } = image;
    const compressed = (await Deno.stat(image.tarball)).size;
    console.log(`\nImage ${image.tag}: ${image.tarball}`);
    console.log(`  source:     ${info.source}`);
    console.log(`  compressed: ${mib(compressed)} (gzip); unpacked: ${mib(info.bytes)}`);
    console.log(
      `  entries:    ${info.files} files, ${info.symlinks} symlinks, ${info.dirs} directories`,
    );
  }

  console.log("\nVersions:");
  console.log(`  ${await firstLine(Deno.execPath(), ["--version"])}`);
  console.log(`  ${await firstLine("cp", ["--version"])}`);
  console.log(`  kernel ${await firstLine("uname", ["-r"])}`);
  console.log(`  ${await firstLine(BUSYBOX, ["--help"])} (${BUSYBOX}, in both images)`);

  const root = await Deno.makeTempDir({ prefix: "servin-bench-rootfs-" });
  const warnings: string[] = [];
  const notes: string[] = [];
  let servin: Servin | undefined;
  try {
    console.log(`\nServin root: ${root}`);
    const fsWarning = noJournalWarning(root);
    if (fsWarning) {
      console.log(`  Note: ${fsWarning}`);
      notes.push(fsWarning);
    }
    for (const image of images) {
      const ran = await importImage(root, image);
      console.log(`  imported ${image.tag} in ${(ran.ms / 1000).toFixed(2)}s (CLI, untimed)`);
      if (ran.stderr.trim()) notes.push(`import ${image.tag} stderr: ${ran.stderr.trim()}`);
    }
    const cli = await timeCli(root, images[0]!);

    servin = await openServin({
      root,
      warn: (message) => {
        warnings.push(message);
        console.log(`servin: warning: ${message}`);
      },
    });
    const scratch = `${root}/scratch`;
    await Deno.mkdir(scratch);

    const cleanup = new Cleanup(removeEach);
    console.log(
      removeEach
        ? "Removing each container and copy right after timing it (--remove-each)."
        : "Keeping containers and copies until after the last round (see --remove-each).",
    );

    // Untimed warm-up (JIT, page cache), which also checks the copy snapshotter's output.
    for (const image of images) {
      await timeCreate(servin, image, "overlay", cleanup);
      await timeCreate(servin, image, "copy", cleanup, async (bundle) => {
        const note = await compareCopy(image, bundle);
        if (note) notes.push(note);
      });
      await timeCp(image, scratch, cleanup);
    }

    const operations: Operation[] = ["overlay", "copy", "cp"];
    const times = new Map<string, Timings>(
      images.map((image) => [image.label, { overlay: [], copy: [], cp: [] }]),
    );
    for (let round = 0; round < rounds; round++) {
      const line: string[] = [];
      for (const image of images) {
        // Rotate the order each round so no operation always runs right after another.
        const order = operations.map((_, i) => operations[(i + round) % operations.length]!);
        const parts: string[] = [];
        for (const operation of order) {
          const ms = operation === "cp"
            ? await timeCp(image, scratch, cleanup)
            : await timeCreate(servin, image, operation, cleanup);
          times.get(image.label)![operation].push(ms);
          parts.push(`${operation === "cp" ? "cp -a" : operation} ${ms.toFixed(1)}`);
        }
        line.push(`${image.label}: ${parts.join(", ")}`);
      }
      console.log(`Round ${round + 1}/${rounds} (ms): ${line.join(" | ")}`);
    }
    await cleanup.flush();

    const rows = [[
      "image",
      "MiB",
      "files",
      "overlay med",
      "min",
      "max",
      "copy med",
      "min",
      "max",
      "cp -a med",
      "copy/cp -a",
    ]];
    for (const image of images) {
      const t = times.get(image.label)!;
      rows.push([
        image.tag,
        (image.info.bytes / 1024 / 1024).toFixed(1),
        String(image.info.files),
        median(t.overlay).toFixed(1),
        Math.min(...t.overlay).toFixed(1),
        Math.max(...t.overlay).toFixed(1),
        median(t.copy).toFixed(1),
        Math.min(...t.copy).toFixed(1),
        Math.max(...t.copy).toFixed(1),
        median(t.cp).toFixed(1),
        `${(median(t.copy) / median(t.cp)).toFixed(2)}x`,
      ]);
    }
    console.log(
      `\nResults over ${rounds} rounds, in ms (create: in-process library call; ` +
        `cp -a: wall time of the spawned process):\n`,
    );
    console.log(formatTable(rows));
    console.log(`\n${cli}`);

    console.log("\nTargets:");
    const small = times.get("small")!;
    const big = times.get("big")!;
    for (const image of images) {
      const m = median(times.get(image.label)!.overlay);
      console.log(
        `  overlay create median <= ${OVERLAY_TARGET_MS} ms (${image.tag}): ` +
          `${verdict(m <= OVERLAY_TARGET_MS)} (${m.toFixed(1)} ms)`,
      );
    }
    const flat = median(big.overlay) / median(small.overlay);
    console.log(
      `  overlay create flat across sizes (big/small median <= ${FLAT_RATIO.toFixed(1)}x): ` +
        `${verdict(flat <= FLAT_RATIO)} (${flat.toFixed(2)}x)`,
    );
    for (const image of images) {
      const t = times.get(image.label)!;
      const ratio = median(t.copy) / median(t.cp);
      console.log(
        `  copy create median <= ${COPY_TARGET_RATIO.toFixed(1)}x cp -a median (${image.tag}): ` +
          `${verdict(ratio <= COPY_TARGET_RATIO)} (${ratio.toFixed(2)}x)`,
      );
    }
    if (warnings.length || notes.length) {
      console.log("\nNotes:");
      for (const w of warnings) console.log(`  servin warning: ${w}`);
      for (const n of notes) console.log(`  ${n}`);
    }
  } finally {
    await servin?.close();
    await Deno.remove(root, { recursive: true });
  }
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
