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

import {
  CACHE,
  CommandFailed,
  copyPrebuiltRootfs,
  emptyDir,
  exists,
  generateTree,
  mib,
  onPath,
  packTree,
  parseOptions,
  peakRss,
  podmanTool,
  printPeakRss,
  printResults,
  printTarget,
  printVersions,
  readJson,
  removeQuietly,
  ROOTFS_MIN_BYTES,
  ROOTFS_MIN_FILES,
  ROOTFS_TARBALL,
  run,
  runFresh,
  runMain,
  timeRounds,
  type Tool,
  topUpTree,
  type TreeInfo,
  writeJson,
} from "./_common.ts";

// Deno's update check would look up dl.deno.land: keep all traffic on this machine.
Deno.env.set("DENO_NO_UPDATE_CHECK", "1");

/** servin's median must be at most this multiple of tar's median. */
const TARGET_RATIO = 1.0;
const DEBIAN_MIRROR = "http://deb.debian.org/debian";

/** The tarball built and imported here (the other benchmarks reuse its tree). */
const TARBALL = ROOTFS_TARBALL;
const TARBALL_INFO = `${CACHE}/rootfs.json`;

/** Fills `dir` with a base root filesystem; returns a description of where it came from. */
async function buildBaseTree(dir: string): Promise<string> {
  const copied = await copyPrebuiltRootfs(dir);
  if (copied) return copied;
  if (onPath("debootstrap") && Deno.uid() === 0) {
    console.log("Running debootstrap --variant=minbase bookworm (about 2 minutes) ...");
    try {
      await run("debootstrap", ["--variant=minbase", "bookworm", dir, DEBIAN_MIRROR]);
      return "debootstrap minbase bookworm";
    } catch (err) {
      if (!(err instanceof CommandFailed)) throw err;
      console.log(`debootstrap failed; falling back to a generated tree.\n${err.message}`);
      await emptyDir(dir);
    }
  } else {
    console.log("debootstrap unavailable (or not root): generating a synthetic tree ...");
  }
  await generateTree(dir, ROOTFS_MIN_FILES, ROOTFS_MIN_BYTES);
  return "generated tree";
}

/** Returns the cached tarball's description, building the tarball first when missing. */
async function ensureTarball(): Promise<TreeInfo> {
  if (exists(TARBALL) && exists(TARBALL_INFO)) return await readJson<TreeInfo>(TARBALL_INFO);
  const staging = `${CACHE}/rootfs`;
  await emptyDir(staging);
  try {
    const source = await buildBaseTree(staging);
    const { added, stats } = await topUpTree(staging, ROOTFS_MIN_FILES, ROOTFS_MIN_BYTES);
    console.log("Creating rootfs.tar.gz ...");
    await packTree(staging, TARBALL);
    const info: TreeInfo = { source: source + added, ...stats };
    await writeJson(TARBALL_INFO, info);
    return info;
  } finally {
    await removeQuietly(staging);
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
  try {
    return [...tools, await podmanTool(["import", TARBALL, "bench:latest"])];
  } catch (err) {
    if (!(err instanceof CommandFailed)) throw err;
    console.log("Note: podman failed with both overlay and vfs; skipping it.");
    return tools;
  }
}

async function main(): Promise<void> {
  const { rounds } = parseOptions({ removeEach: false });

  const info = await ensureTarball();
  const compressed = (await Deno.stat(TARBALL)).size;
  console.log(`\nTarball: ${TARBALL}`);
  console.log(`  source:     ${info.source}`);
  console.log(`  compressed: ${mib(compressed)} (gzip)`);
  console.log(`  unpacked:   ${mib(info.bytes)} in regular files`);
  console.log(
    `  entries:    ${info.files} files, ${info.symlinks} symlinks, ${info.dirs} directories`,
  );

  await printVersions(onPath("podman") ? ["tar", "podman"] : ["tar"]);
  console.log();

  const tools = await selectTools();
  const servin = tools[0]!;

  // Untimed warm-up: fills deno's module cache and the page cache for the tarball.
  // servin's warm-up doubles as the peak-RSS measurement.
  const { rss } = await peakRss(servin);
  await runFresh(tools[1]!);

  const times = await timeRounds(tools, rounds);
  const medians = printResults(times, rounds, { tar: "tar" });

  const tarMedian = medians.get("tar")!;
  const servinMedian = medians.get(servin.name)!;
  const ratio = servinMedian / tarMedian;
  console.log(`\nservin/tar:    ${ratio.toFixed(2)}x`);
  const podman = tools.find((tool) => tool.name.startsWith("podman"));
  if (podman) {
    console.log(`servin/podman: ${(servinMedian / medians.get(podman.name)!).toFixed(2)}x`);
  }
  printPeakRss(rss);
  printTarget(ratio, TARGET_RATIO, "tar");
}

if (import.meta.main) await runMain(main);
