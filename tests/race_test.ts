/**
 * Race tests: real CLI processes run concurrently against one store, each
 * pair many times with start offsets drawn from a seeded PRNG. Either side
 * may fail with one clear line (say, "… was removed by another command
 * while this one ran: try again"), but neither may exit 0 and leave a
 * record or a container pointing at a layer or blob that is gone (see
 * `_invariants.ts`), and after the races `servin system check` must find
 * the store clean. A failure names the seed; `SERVIN_TEST_SEED=<seed>`
 * draws the same offsets again. `SERVIN_RACE_TRIES` sets the tries per pair
 * (default 20).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ok, run, type RunResult, withTempDir, writeFixture } from "./_cli.ts";
import * as invariants from "./_invariants.ts";
import { tarDir, writeDockerManifest, writeImage } from "./_oci.ts";
import { buildTar, type FixtureEntry } from "./_tar.ts";

const SEED = invariants.testSeed();
const TRIES = Number(Deno.env.get("SERVIN_RACE_TRIES") ?? 20);

function layerTar(files: number): Uint8Array {
  const entries: FixtureEntry[] = [];
  for (let d = 0; d < files / 20; d++) {
    entries.push({ name: `d${d}/`, type: "5" });
    for (let f = 0; f < 20; f++) entries.push({ name: `d${d}/f${f}`, body: `file ${d}/${f}\n` });
  }
  return buildTar(entries);
}

const BASE = layerTar(200);
const TOP = buildTar([{ name: "top", body: "top\n" }]);

/** A docker-archive of BASE and TOP tagged `tag`, whose config differs by `cmd`. */
async function archive(dir: string, tag: string, cmd: string): Promise<string> {
  const layoutDir = join(dir, `layout-${cmd}`);
  const layout = await writeImage(layoutDir, [
    { tar: BASE, compression: "gzip" },
    { tar: TOP, compression: "none" },
  ], { cmd: [cmd] });
  await writeDockerManifest(layoutDir, layout, [tag]);
  const path = join(dir, `${cmd}.tar`);
  await tarDir(layoutDir, path);
  return path;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `tries` races of `first` against `second` in `root`, the later one
 * starting up to `span / 2` ms after the other; `check` sees both results
 * and the store's records, then puts the store back for the next try.
 * After the last try `servin system check` must find the store clean.
 */
async function races(
  name: string,
  offset: number,
  span: number,
  first: string[],
  second: string[],
  check: (a: RunResult, b: RunResult, what: string) => Promise<void>,
  root: string,
): Promise<void> {
  const random = invariants.prng(SEED + offset);
  const outcomes = new Map<string, number>();
  for (let i = 0; i < TRIES; i++) {
    const shift = (random() - 0.5) * span;
    const what = `${name}, try ${i} (offset ${shift.toFixed(0)} ms; SERVIN_TEST_SEED=${SEED})`;
    const [a, b] = await Promise.all([
      sleep(Math.max(0, -shift)).then(() => run(root, first)),
      sleep(Math.max(0, shift)).then(() => run(root, second)),
    ]);
    invariants.assertCleanExit(a, `${what}: ${first.join(" ")}`, failureCode(first));
    invariants.assertCleanExit(b, `${what}: ${second.join(" ")}`, failureCode(second));
    await check(a, b, what);
    const outcome = `${a.code}/${b.code}`;
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  // Which side won how often: a pair that never conflicts proves less, so say so.
  console.log(`${name}: exit codes (first/second) ${JSON.stringify(Object.fromEntries(outcomes))}`);
  await invariants.assertSystemCheckClean(
    root,
    `${name}: after ${TRIES} tries (SERVIN_TEST_SEED=${SEED})`,
  );
}

/** Docker's 125 for `run` and `create` failing before a process runs; 1 for the rest. */
function failureCode(args: string[]): number {
  return args[0] === "run" || args[0] === "create" ? 125 : 1;
}

const hasTag = (images: { repo_tags: string[] }[], tag: string) =>
  images.some((img) => img.repo_tags.some((t) => t === tag || t.endsWith(`/${tag}`)));

Deno.test(
  "load of an image whose layers the store has, against image rm -f of their holder, leaves no dangling record",
  withTempDir(async ({ dir, root }) => {
    const a = await archive(dir, "race/a:1", "a");
    const b = await archive(dir, "race/b:1", "b");
    await ok(root, ["image", "load", "-i", a]);
    const span = await invariants.duration(root, ["image", "load", "-i", b]);
    await ok(root, ["image", "rm", "race/b:1"]);
    await races(
      "load vs image rm -f",
      1,
      span,
      ["image", "load", "-i", b],
      ["image", "rm", "-f", "race/a:1"],
      async (load, rm, what) => {
        const images = await invariants.checkStore(root, what);
        if (load.code === 0) assert.ok(hasTag(images, "race/b:1"), `${what}: race/b:1 is missing`);
        if (rm.code === 0) assert.ok(!hasTag(images, "race/a:1"), `${what}: race/a:1 is there`);
        // Back to the start: race/a:1 holds the layers (reused if race/b:1 kept them).
        await ok(root, ["image", "load", "-i", a]);
        if (hasTag(images, "race/b:1")) await ok(root, ["image", "rm", "race/b:1"]);
      },
      root,
    );
  }),
);

Deno.test(
  "create with the copy snapshotter, against image rm -f of its image, leaves no container on a missing layer",
  withTempDir(async ({ dir, root }) => {
    const a = await archive(dir, "race/a:1", "a");
    await ok(root, ["image", "load", "-i", a]);
    const probe = (await ok(root, ["create", "--snapshotter", "copy", "race/a:1"])).trim();
    const span = await invariants.duration(root, ["rm", probe]);
    await races(
      "create vs image rm -f",
      2,
      span * 2,
      // --pull never: an image removed meanwhile is not looked for in a registry.
      ["create", "--pull", "never", "--snapshotter", "copy", "race/a:1"],
      ["image", "rm", "-f", "race/a:1"],
      async (create, rm, what) => {
        const images = await invariants.checkStore(root, what);
        if (rm.code === 0) assert.ok(!hasTag(images, "race/a:1"), `${what}: race/a:1 is there`);
        if (create.code === 0) {
          const id = create.stdout.trim();
          const containers = JSON.parse(
            await Deno.readTextFile(join(root, "containers", "index.json")),
          ) as { id: string }[];
          assert.ok(containers.some((c) => c.id === id), `${what}: container ${id} is missing`);
          await ok(root, ["rm", id]);
        }
        await ok(root, ["image", "load", "-i", a]);
      },
      root,
    );
  }),
);

Deno.test(
  "import against image prune -a leaves no record on a missing layer",
  withTempDir(async ({ dir, root }) => {
    const rootfs = await writeFixture(dir, "rootfs.tar", BASE);
    await ok(root, ["image", "import", rootfs, "race/kept:1"]);
    const span = await invariants.duration(root, ["image", "import", rootfs, "race/new:1"]);
    await races(
      "import vs image prune -a",
      3,
      span,
      ["image", "import", rootfs, "race/new:1"],
      ["image", "prune", "-a", "-f"],
      async (imported, _, what) => {
        const images = await invariants.checkStore(root, what);
        if (imported.code === 0 && hasTag(images, "race/new:1")) {
          assert.equal(images.length, 1, `${what}: the prune left ${images.length} images`);
        }
        await ok(root, ["image", "import", rootfs, "race/kept:1"]);
      },
      root,
    );
  }),
);
