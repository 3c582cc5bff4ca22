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
import { openServin, type Servin } from "../mod.ts";
import {
  binaryContent,
  CACHE,
  Cleanup,
  CommandFailed,
  copyPrebuiltRootfs,
  emptyDir,
  exists,
  firstLine,
  formatTable,
  measureTree,
  median,
  mib,
  noJournalWarning,
  packTree,
  parseOptions,
  printVersions,
  prng,
  type Ran,
  readJson,
  removeQuietly,
  ROOTFS_TARBALL,
  rotated,
  run,
  runMain,
  runSynced,
  sync,
  textContent,
  topUpTree,
  type TreeInfo,
  verdict,
  writeJson,
} from "./_common.ts";

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
const BUSYBOX = "/bin/busybox";

/** One benchmarked image: its unpacked tree, its tarball and its tag. */
interface Image {
  label: string;
  tag: string;
  tree: string;
  tarball: string;
  info: TreeInfo;
}

/** Timings of one image, in milliseconds. */
interface Timings {
  overlay: number[];
  copy: number[];
  cp: number[];
}

type Operation = keyof Timings;

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
  let source = await copyPrebuiltRootfs(dir, "the debootstrap tree");
  if (source === undefined && exists(ROOTFS_TARBALL)) {
    console.log(`Unpacking ${ROOTFS_TARBALL} (built by bench/import.ts) ...`);
    await run("tar", ["--numeric-owner", "-xzf", ROOTFS_TARBALL, "-C", dir]);
    source = `bench/import.ts's rootfs.tar.gz`;
  }
  if (source === undefined) {
    console.log("Generating a synthetic big tree ...");
    await writeSkeleton(dir);
    await generateTree(dir, BIG_MIN_FILES, BIG_MIN_BYTES);
    source = "generated tree";
  }
  source += (await topUpTree(dir, BIG_MIN_FILES, BIG_MIN_BYTES, generateTree)).added;
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
    return { ...image, info: await readJson<TreeInfo>(infoPath) };
  }
  for (const path of [tree, tarball, infoPath]) await removeQuietly(path);
  const staging = `${tree}.partial`;
  await emptyDir(staging);
  try {
    console.log(`Building the ${label} tree ...`);
    const source = await build(staging);
    const info: TreeInfo = { source, ...await measureTree(staging) };
    console.log(`Creating ${tarball} ...`);
    await packTree(staging, tarball);
    await Deno.rename(staging, tree);
    await writeJson(infoPath, info);
    return { ...image, info };
  } finally {
    await removeQuietly(staging);
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

/** Times one in-process container create; the removal goes to `cleanup`. */
async function timeCreate(
  servin: Servin,
  image: Image,
  snapshotter: "overlay" | "copy",
  cleanup: Cleanup,
  check?: (bundle: string) => Promise<void>,
): Promise<number> {
  await sync();
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
  try {
    return (await runSynced("cp", ["-a", image.tree, dest])).ms;
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

/** Times the whole `servin create` CLI process once, and bare start-up (`--version`) once. */
async function timeCli(root: string, image: Image): Promise<string> {
  const env = { SERVIN_ROOT: root };
  const main = [Deno.execPath(), "run", "-A", "main.ts"];
  const create = [...main.slice(1), "create", "--snapshotter", "overlay", image.tag, "/bin/sh"];
  await run(main[0]!, [...main.slice(1), "--version"], { env }); // warm-up
  const startup = (await run(main[0]!, [...main.slice(1), "--version"], { env })).ms;
  const created = await runSynced(main[0]!, create, { env });
  const id = created.stdout.trim();
  await run(main[0]!, [...main.slice(1), "rm", "-f", id], { env });
  return `CLI \`deno run -A main.ts create --snapshotter overlay ${image.tag} /bin/sh\`: ` +
    `${created.ms.toFixed(0)} ms wall (one run; \`main.ts --version\` alone: ` +
    `${startup.toFixed(0)} ms)`;
}

async function main(): Promise<void> {
  const { rounds, removeEach } = parseOptions({ defaultRounds: DEFAULT_ROUNDS });

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

  await printVersions(["cp"], [
    `kernel ${await firstLine("uname", ["-r"])}`,
    `${await firstLine(BUSYBOX, ["--help"])} (${BUSYBOX}, in both images)`,
  ]);

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
        const parts: string[] = [];
        for (const operation of rotated(operations, round)) {
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

if (import.meta.main) await runMain(main);
