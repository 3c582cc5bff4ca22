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

import * as common from "./_common.ts";

/** servin's median must be at most this multiple of podman's median. */
const TARGET_RATIO = 0.5;

const ARCHIVE = `${common.CACHE}/load.tar`;
const ARCHIVE_INFO = `${common.CACHE}/load.json`;
/** The tag written into the archive, and the name servin should report (skopeo adds docker.io/). */
const TAG = "bench/load:latest";
const LOADED_TAG = `docker.io/${TAG}`;
/** The file of the lowest layer that the top layer deletes with a whiteout. */
const WHITEOUT_TARGET = "etc/motd";
/** The layers cut out of the tree, bottom to top, above a first layer with everything else. */
const SPLIT_LAYERS = [["usr/lib"], ["usr/share"], ["usr/bin", "usr/sbin"]];

/** How the cached archive was made and what it holds. */
interface ArchiveInfo extends common.TreeInfo {
  /** The layer tarballs, bottom first, as given to umoci. */
  layers: { contents: string; bytes: number }[];
  /** Layers listed in the archive's manifest.json. */
  archiveLayers: number;
}

/** Fills `dir` with a base root filesystem; returns a description of where it came from. */
async function buildBaseTree(dir: string): Promise<string> {
  const copied = await common.copyPrebuiltRootfs(dir);
  if (copied) return copied;
  if (common.exists(common.ROOTFS_TARBALL)) {
    console.log(`Unpacking ${common.ROOTFS_TARBALL} ...`);
    await common.run("tar", ["-xzpf", common.ROOTFS_TARBALL, "-C", dir]);
    return `the tree of ${common.ROOTFS_TARBALL}`;
  }
  // A generated tree: a quarter of the minimum in each split layer, the rest topped up later.
  console.log("No debootstrap tree or rootfs.tar.gz: generating a synthetic tree ...");
  for (const path of ["usr/lib", "usr/share", "usr/bin"]) {
    await common.generateTree(
      `${dir}/${path}`,
      common.ROOTFS_MIN_FILES / 4,
      common.ROOTFS_MIN_BYTES / 4,
    );
  }
  return "generated tree";
}

/** Writes the layer tarballs of `tree` into `out`, bottom first; returns their descriptions. */
async function cutLayers(tree: string, out: string): Promise<ArchiveInfo["layers"]> {
  const cut = SPLIT_LAYERS.map((paths) => paths.filter((path) => common.exists(`${tree}/${path}`)))
    .filter((paths) => paths.length > 0);
  const split = new Set(cut.flat());
  // The first layer: every top-level entry but usr, the usr directory itself, and what
  // of usr is not in another layer.
  const rest: string[] = [];
  for await (const entry of Deno.readDir(tree)) {
    if (entry.name !== "usr") rest.push(entry.name);
  }
  const usr: string[] = [];
  if (common.exists(`${tree}/usr`)) {
    for await (const entry of Deno.readDir(`${tree}/usr`)) {
      if (!split.has(`usr/${entry.name}`)) usr.push(`usr/${entry.name}`);
    }
  }
  rest.sort();
  usr.sort();
  const specs: { contents: string; args: string[] }[] = [
    {
      contents: "everything else",
      args: [
        ...rest,
        ...(common.exists(`${tree}/usr`) ? ["--no-recursion", "usr", "--recursion"] : []),
      ]
        .concat(usr),
    },
    ...cut.map((paths) => ({ contents: paths.map((p) => `/${p}`).join(" + "), args: paths })),
  ];
  const layers: ArchiveInfo["layers"] = [];
  for (const [i, spec] of specs.entries()) {
    const path = `${out}/layer-${i + 1}.tar`;
    await common.run("tar", ["--numeric-owner", "-C", tree, "-cf", path, ...spec.args]);
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
  await common.run("tar", ["--numeric-owner", "-C", whiteout, "-cf", path, parent.split("/")[0]!]);
  layers.push({ contents: `whiteout of /${WHITEOUT_TARGET}`, bytes: (await Deno.stat(path)).size });
  return layers;
}

/** Returns the cached archive's description, building the archive first when missing. */
async function ensureArchive(): Promise<ArchiveInfo> {
  if (common.exists(ARCHIVE) && common.exists(ARCHIVE_INFO)) {
    return await common.readJson<ArchiveInfo>(ARCHIVE_INFO);
  }
  await common.ensureTools(["umoci", "skopeo"]);
  const staging = `${common.CACHE}/load-build`;
  const tree = `${staging}/tree`;
  await common.removeQuietly(staging);
  await common.emptyDir(tree);
  try {
    const start = performance.now();
    let source = await buildBaseTree(tree);
    if (!common.exists(`${tree}/${WHITEOUT_TARGET}`)) {
      await Deno.mkdir(`${tree}/${WHITEOUT_TARGET.slice(0, WHITEOUT_TARGET.lastIndexOf("/"))}`, {
        recursive: true,
      });
      await Deno.writeTextFile(`${tree}/${WHITEOUT_TARGET}`, "Deleted by the top layer.\n");
    }
    const { added, stats } = await common.topUpTree(
      tree,
      common.ROOTFS_MIN_FILES,
      common.ROOTFS_MIN_BYTES,
    );
    source += added;

    console.log("Cutting the layers ...");
    const layers = await cutLayers(tree, staging);
    await Deno.remove(tree, { recursive: true });

    console.log("Assembling an OCI layout with umoci ...");
    const layout = `${staging}/layout`;
    const image = `${layout}:bench`;
    await common.run("umoci", ["init", "--layout", layout]);
    await common.run("umoci", ["new", "--image", image]);
    for (const [i, layer] of layers.entries()) {
      await common.run("umoci", [
        "raw",
        "add-layer",
        "--image",
        image,
        "--history.created_by",
        `bench/load.ts: ${layer.contents}`,
        `${staging}/layer-${i + 1}.tar`,
      ]);
    }
    await common.run("umoci", ["config", "--image", image, "--config.cmd", "/bin/sh"]);

    console.log("Converting to a docker-archive with skopeo ...");
    const partial = `${ARCHIVE}.partial`;
    await Deno.remove(partial).catch(() => {});
    await common.run("skopeo", [
      "copy",
      "--quiet",
      `oci:${image}`,
      `docker-archive:${partial}:${TAG}`,
    ]);
    const manifest = JSON.parse(
      (await common.run("tar", ["-xOf", partial, "manifest.json"])).stdout,
    );
    const archiveLayers = (manifest as { Layers?: unknown[] }[])[0]?.Layers?.length ?? 0;
    if (archiveLayers !== layers.length) {
      throw new Error(`the archive has ${archiveLayers} layers, expected ${layers.length}`);
    }
    await Deno.rename(partial, ARCHIVE);
    const info: ArchiveInfo = { source, ...stats, layers, archiveLayers };
    await common.writeJson(ARCHIVE_INFO, info);
    console.log(`Built in ${((performance.now() - start) / 1000).toFixed(1)} s.`);
    return info;
  } finally {
    await common.removeQuietly(staging);
  }
}

/** Checks that servin reported the loaded image; returns a note when not by the expected name. */
function checkServinOutput(ran: common.Ran): string | undefined {
  if (ran.stdout.split("\n").includes(`Loaded image: ${LOADED_TAG}`)) return undefined;
  if (/^Loaded image/m.test(ran.stdout)) {
    return `servin did not print "Loaded image: ${LOADED_TAG}" but:\n${ran.stdout.trimEnd()}`;
  }
  throw new common.CommandFailed(`servin printed no "Loaded image" line\n${common.outputOf(ran)}`);
}

async function main(): Promise<void> {
  const { rounds, removeEach } = common.parseOptions();

  const info = await ensureArchive();
  await common.ensureTools(["podman"]);
  const size = (await Deno.stat(ARCHIVE)).size;
  console.log(`\nArchive: ${ARCHIVE} (docker-archive, tag ${TAG})`);
  console.log(`  source:  ${info.source}`);
  console.log(`  size:    ${common.mib(size)} (uncompressed layers)`);
  console.log(
    `  tree:    ${common.mib(info.bytes)} in ${info.files} files, ${info.symlinks} symlinks, ` +
      `${info.dirs} directories`,
  );
  console.log(`  layers:  ${info.archiveLayers}, bottom first:`);
  for (const [i, layer] of info.layers.entries()) {
    console.log(`    ${i + 1}. ${common.humanSize(layer.bytes).padStart(10)}  ${layer.contents}`);
  }

  await common.printVersions(["podman", "skopeo", "umoci"]);
  console.log();

  // The fresh directories are removed right away with --remove-each, else after the last round.
  const cleanup = new common.Cleanup(removeEach);
  console.log(
    removeEach
      ? "Removing each load's directory right after timing it (--remove-each).\n"
      : "Keeping each load's directory until after the last round (see --remove-each).\n",
  );
  const servin: common.Tool = {
    name: "servin",
    command: (dir) => ({
      cmd: Deno.execPath(),
      args: ["run", "-A", "main.ts", "image", "load", "-i", ARCHIVE],
      env: { SERVIN_ROOT: dir },
    }),
  };
  let podman: common.Tool;
  let rss: string | undefined;
  let times: Map<string, number[]>;
  // servin's runs, checked after the last round.
  const checked: common.Ran[] = [];
  try {
    podman = await common.podmanTool(["load", "-i", ARCHIVE], { cleanup });

    // Untimed warm-up: fills deno's module cache and the page cache for the archive
    // (podman was warmed up by its probe). It doubles as the peak-RSS measurement.
    const warmUp = await common.peakRss(servin, cleanup);
    rss = warmUp.rss;
    checked.push(warmUp.ran);

    times = await common.timeRounds([servin, podman], rounds, cleanup, (tool, ran) => {
      if (tool === servin) checked.push(ran);
    });
  } finally {
    await cleanup.flush();
  }
  const notes = new Set<string>();
  for (const ran of checked) {
    const note = checkServinOutput(ran);
    if (note) notes.add(note);
  }

  const medians = common.printResults(times, rounds, { podman: podman.name });

  const ratio = medians.get(servin.name)! / medians.get(podman.name)!;
  console.log(`\nservin/podman: ${ratio.toFixed(2)}x`);
  common.printPeakRss(rss);
  for (const note of notes) console.log(`Note: ${note}`);
  common.printServinStderr(checked);
  common.printTarget(ratio, TARGET_RATIO, "podman");
}

if (import.meta.main) await common.runMain(main);
