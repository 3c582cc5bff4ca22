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
 * 4. As root, does the servin / tar comparison again on a tmpfs mounted for the
 *    purpose (unmounted after), where the disk no longer hides CPU costs; it says
 *    so, and skips this part, when it cannot mount one.
 *
 * Usage: `deno run -A bench/import.ts [--rounds N]` (or `deno task bench`). With
 * `SERVIN_BENCH_BASELINE=<checkout>`, the servin of that other checkout (say, the
 * main branch) runs too, interleaved, for a before / after figure under the same load.
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

/** servin's median must be at most this multiple of tar's median. */
const TARGET_RATIO = 1.0;
const DEBIAN_MIRROR = "http://deb.debian.org/debian";
/** The debootstrap minbase tar that `.ci/run` caches, unpacked instead of bootstrapping again. */
const CI_ROOTFS_TAR = Deno.env.get("SERVIN_DEBOOTSTRAP_TARBALL") ??
  "/var/cache/servin-ci/debian-bookworm-minbase.tar";

/** The tarball built and imported here (the other benchmarks reuse its tree). */
const TARBALL = ROOTFS_TARBALL;
const TARBALL_INFO = `${CACHE}/rootfs.json`;

/** Fills `dir` with a base root filesystem; returns a description of where it came from. */
async function buildBaseTree(dir: string): Promise<string> {
  const copied = await copyPrebuiltRootfs(dir);
  if (copied) return copied;
  if (exists(CI_ROOTFS_TAR)) {
    console.log(`Unpacking ${CI_ROOTFS_TAR} ...`);
    await run("tar", ["--numeric-owner", "-xpf", CI_ROOTFS_TAR, "-C", dir]);
    return `debootstrap minbase bookworm (from ${CI_ROOTFS_TAR})`;
  }
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

/** servin's import, from this checkout or, with `repo`, from another one. */
function servinTool(repo?: string): Tool {
  const script = repo ? ["--config", `${repo}/deno.json`, `${repo}/main.ts`] : ["main.ts"];
  return {
    name: repo ? `servin (${repo})` : "servin",
    command: (dir) => ({
      cmd: Deno.execPath(),
      args: ["run", "-A", ...script, "image", "import", TARBALL, "bench:latest"],
      env: { SERVIN_ROOT: dir },
    }),
  };
}

const tarTool: Tool = {
  name: "tar",
  command: (dir) => ({ cmd: "tar", args: ["-xzf", TARBALL, "-C", dir] }),
};

/** The benchmarked tools; podman only when installed and with a working storage driver. */
async function selectTools(baseline?: string): Promise<Tool[]> {
  const tools: Tool[] = [servinTool(), tarTool];
  if (baseline) tools.push(servinTool(baseline));
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

/** Prints the servin/tar ratio (and servin/baseline) of `times`; returns servin/tar. */
function printRatios(times: Map<string, number[]>, rounds: number): number {
  const medians = printResults(times, rounds, { tar: "tar" });
  const servinMedian = medians.get("servin")!;
  const ratio = servinMedian / medians.get("tar")!;
  console.log(`\nservin/tar:    ${ratio.toFixed(2)}x`);
  for (const [name, value] of medians) {
    if (name !== "servin" && name !== "tar") {
      console.log(`servin/${name}: ${(servinMedian / value).toFixed(2)}x`);
    }
  }
  return ratio;
}

/**
 * Mounts a fresh tmpfs, passes its mount point to `body`, then unmounts and
 * removes it; returns why when it cannot mount one (not root, no tmpfs).
 */
async function onTmpfs(body: (dir: string) => Promise<void>): Promise<string | undefined> {
  if (Deno.uid() !== 0) return "not running as root";
  const dir = await Deno.makeTempDir({ prefix: "servin-bench-tmpfs-" });
  try {
    try {
      await run("mount", ["-t", "tmpfs", "-o", "mode=0755", "servin-bench", dir]);
    } catch (err) {
      if (!(err instanceof CommandFailed)) throw err;
      return err.message.split("\n").slice(0, 3).join(" ");
    }
    try {
      await body(dir);
    } finally {
      await run("umount", [dir]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function main(): Promise<void> {
  const { rounds } = parseOptions({ removeEach: false });
  const baseline = Deno.env.get("SERVIN_BENCH_BASELINE");

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

  const tools = await selectTools(baseline);
  const servin = tools[0]!;

  // Untimed warm-up: fills deno's module cache and the page cache for the tarball.
  // servin's warm-up doubles as the peak-RSS measurement.
  const { rss } = await peakRss(servin);
  for (const tool of tools.slice(1)) {
    if (!tool.name.startsWith("podman")) await runFresh(tool);
  }

  console.log("On disk:");
  const ratio = printRatios(await timeRounds(tools, rounds), rounds);
  printPeakRss(rss);
  printTarget(ratio, TARGET_RATIO, "tar");

  console.log("\nOn a tmpfs:");
  const unmountable = await onTmpfs(async (dir) => {
    const onTmp = tools.filter((tool) => !tool.name.startsWith("podman"))
      .map((tool) => ({ ...tool, parent: dir }));
    printTarget(printRatios(await timeRounds(onTmp, rounds), rounds), TARGET_RATIO, "tar");
  });
  if (unmountable) console.log(`Cannot mount a tmpfs (${unmountable}): no tmpfs comparison.`);
}

if (import.meta.main) await runMain(main);
