/**
 * Crash tests: real CLI processes killed (SIGKILL) at random moments of
 * `image import`, `image load`, `image rm`, `image prune` and `rm` of a
 * container. After every kill the store must be consistent (see
 * `_invariants.ts`), the next command must clean `tmp/`, importing or
 * loading the same content again must give an image whose export equals the
 * source file by file — a layer directory that a crash left half-deleted
 * must never be reused — and `servin system check` must then find the store
 * clean.
 *
 * The moments are drawn from a seeded PRNG: a failure names the seed, and
 * `SERVIN_TEST_SEED=<seed>` draws the same moments again (the kills still
 * land where the machine's speed puts them). `SERVIN_CRASH_ROUNDS` sets the
 * rounds per command (default 12).
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { ok, run, type RunResult, tempDir, writeFixture } from "./_cli.ts";
import {
  assertCleanExit,
  assertExport,
  assertSystemCheckClean,
  assertTmpEmpty,
  checkStore,
  duration,
  exists,
  killAfter,
  prng,
  tarContents,
  testSeed,
} from "./_invariants.ts";
import { tarDir, writeDockerManifest, writeImage } from "./_oci.ts";
import { buildTar, type FixtureEntry } from "./_tar.ts";

const SEED = testSeed();
const ROUNDS = Number(Deno.env.get("SERVIN_CRASH_ROUNDS") ?? 12);

/** A root filesystem with enough files that unpacking and deleting it take a while. */
function rootfsEntries(): FixtureEntry[] {
  const entries: FixtureEntry[] = [{ name: "big/", type: "5" }];
  entries.push({ name: "big/blob", body: new Uint8Array(512 * 1024).fill(7) });
  for (let d = 0; d < 12; d++) {
    entries.push({ name: `d${d}/`, type: "5" });
    for (let f = 0; f < 20; f++) entries.push({ name: `d${d}/f${f}`, body: `file ${d}/${f}\n` });
    entries.push({ name: `d${d}/link`, type: "2", linkname: "f0" });
  }
  return entries;
}

/** What every test needs: a rootfs tarball and a two-layer docker-archive, with their contents. */
interface Fixture {
  rootfs: string;
  /** The diff_id of the rootfs, which is also the load archive's first layer. */
  diffId: string;
  rootfsFiles: Map<string, string>;
  archive: string;
  archiveFiles: Map<string, string>;
}

async function fixture(dir: string): Promise<Fixture> {
  const tar = buildTar(rootfsEntries());
  const rootfs = await writeFixture(dir, "rootfs.tar", tar);
  const top = buildTar([
    { name: "d0/", type: "5" },
    { name: "d0/f0", body: "changed on top\n" },
    { name: "top/", type: "5" },
    { name: "top/new", body: "new on top\n" },
  ]);
  const layoutDir = join(dir, "layout");
  const layout = await writeImage(layoutDir, [
    { tar, compression: "gzip" },
    { tar: top, compression: "none" },
  ]);
  await writeDockerManifest(layoutDir, layout, ["crash/load:1"]);
  const archive = join(dir, "archive.tar");
  await tarDir(layoutDir, archive);
  const archiveFiles = await tarContents(tar);
  for (const [k, v] of await tarContents(top)) archiveFiles.set(k, v);
  const diffId = createHash("sha256").update(tar).digest("hex");
  return { rootfs, diffId, rootfsFiles: await tarContents(tar), archive, archiveFiles };
}

/** When a round kills: `delay` ms after the start, or (`phase`) after the phase began. */
interface Moment {
  delay: number;
  phase: boolean;
}

/**
 * Runs `rounds` of `round(i, moment, what)` with a PRNG of its own seed
 * (`SEED + offset`): even rounds kill anywhere in `span` ms, odd ones within
 * 20 ms of the phase that matters (unpacking into place, deleting); fails
 * when no kill landed (the test would prove nothing).
 */
async function crashRounds(
  name: string,
  offset: number,
  span: number,
  round: (i: number, moment: Moment, what: string) => Promise<boolean>,
): Promise<void> {
  const random = prng(SEED + offset);
  let kills = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const phase = i % 2 === 1;
    const delay = random() * (phase ? 20 : span);
    const when = `${delay.toFixed(0)} ms after ${phase ? "its phase began" : "it started"}`;
    const what = `${name}, round ${i} (killed ${when}; SERVIN_TEST_SEED=${SEED})`;
    if (await round(i, { delay, phase }, what)) kills++;
  }
  assert.ok(kills > 0, `${name}: no kill landed in ${ROUNDS} rounds (SERVIN_TEST_SEED=${SEED})`);
  console.log(`${name}: ${kills} of ${ROUNDS} rounds killed mid-way (SERVIN_TEST_SEED=${SEED})`);
}

/** The phase of an ingest that moves the rootfs layer into place (before its marker). */
function placed(root: string, fx: Fixture): () => Promise<boolean> {
  return () => exists(join(root, "images", "layers", fx.diffId));
}

/** The phase of a removal that deletes the rootfs layer (its marker goes first). */
function deleting(root: string, fx: Fixture): () => Promise<boolean> {
  return async () => !(await exists(join(root, "images", "layers", `${fx.diffId}.json`)));
}

/** Fails unless re-running an interrupted removal ends cleanly (done, or nothing left to do). */
function assertRerun(r: RunResult, what: string): void {
  assertCleanExit(r, what);
  if (r.code !== 0) assert.match(r.stderr, /No such (image|container)/, `${what}: ${r.stderr}`);
}

/**
 * Rounds of a killed ingest, each in a fresh root: `args` are killed, the
 * store is checked, `args` run again (and clean `tmp/`), and the export of
 * `image` must equal the source.
 */
async function ingestRounds(
  name: string,
  offset: number,
  args: (fx: Fixture) => string[],
  image: string,
  files: (fx: Fixture) => Map<string, string>,
): Promise<void> {
  const [dir, cleanup] = await tempDir();
  try {
    const fx = await fixture(dir);
    const span = await duration(join(dir, "calibrate"), args(fx));
    await crashRounds(name, offset, span, async (i, { delay, phase }, what) => {
      const root = join(dir, `root${i}`);
      const when = phase ? placed(root, fx) : undefined;
      const { killed } = await killAfter(root, args(fx), delay, when);
      await checkStore(root, what);
      await ok(root, args(fx));
      await assertTmpEmpty(root, what);
      await checkStore(root, what);
      await assertExport(root, image, files(fx), join(dir, "out.tar"), what);
      await assertSystemCheckClean(root, what);
      await Deno.remove(root, { recursive: true });
      return killed;
    });
  } finally {
    await cleanup();
  }
}

Deno.test("a killed image import leaves a consistent store, and importing again gives the same files", async () => {
  const args = (fx: Fixture) => ["image", "import", fx.rootfs, "crash:1"];
  await ingestRounds("import", 1, args, "crash:1", (fx) => fx.rootfsFiles);
});

Deno.test("a killed image load leaves a consistent store, and loading again gives the same files", async () => {
  const args = (fx: Fixture) => ["image", "load", "-i", fx.archive];
  await ingestRounds("load", 2, args, "crash/load:1", (fx) => fx.archiveFiles);
});

/**
 * Rounds of a killed removal in one root that holds the image: `prepare`
 * readies the removal and returns its arguments, which are killed; the store
 * is checked, the removal is run again (it must end cleanly, and clean
 * `tmp/` when it did something), and the same content is imported again.
 */
async function removalRounds(
  name: string,
  offset: number,
  prepare: (root: string) => Promise<string[]>,
): Promise<void> {
  const [dir, cleanup] = await tempDir();
  try {
    const fx = await fixture(dir);
    const root = join(dir, "root");
    const restore = () => ok(root, ["image", "import", fx.rootfs, "crash:1"]);
    await restore();
    const span = await duration(root, await prepare(root));
    await restore();
    await crashRounds(name, offset, span, async (_, { delay, phase }, what) => {
      const args = await prepare(root);
      const { killed } = await killAfter(root, args, delay, phase ? deleting(root, fx) : undefined);
      await checkStore(root, what);
      const again = await run(root, args);
      assertRerun(again, `${what}: running it again`);
      // A removal that found nothing to do reaches no transaction: the import below sweeps.
      if (again.code === 0) await assertTmpEmpty(root, `${what}: after running it again`);
      assert.deepEqual(await checkStore(root, what), [], `${what}: the image is still there`);
      await restore();
      await assertTmpEmpty(root, what);
      await checkStore(root, what);
      await assertExport(root, "crash:1", fx.rootfsFiles, join(dir, "out.tar"), what);
      await assertSystemCheckClean(root, what);
      return killed;
    });
  } finally {
    await cleanup();
  }
}

Deno.test("a killed image rm leaves a consistent store, and importing again gives the same files", async () => {
  await removalRounds("image rm", 3, () => Promise.resolve(["image", "rm", "-f", "crash:1"]));
});

Deno.test("a killed image prune leaves a consistent store, and importing again gives the same files", async () => {
  await removalRounds("image prune", 4, () => Promise.resolve(["image", "prune", "-a", "-f"]));
});

Deno.test("a killed rm of a container leaves its lease or nothing, and importing again gives the same files", async () => {
  // The image goes first, so that removing the container deletes the layers it leased.
  await removalRounds("container rm", 5, async (root) => {
    const id = (await ok(root, ["create", "--snapshotter", "copy", "crash:1"])).trim();
    await ok(root, ["image", "rm", "-f", "crash:1"]);
    return ["rm", id];
  });
});
