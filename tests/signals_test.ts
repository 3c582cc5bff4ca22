/**
 * SIGINT and SIGTERM sent to real CLI processes in the middle of import,
 * load and save: exit 130 or 143 (by `Deno.exit`, not killed by the
 * signal), `<root>/tmp` empty, the index as it was, no partial output file.
 * Inputs fed through stdin are held half-written, so the command is surely
 * mid-way when the signal comes; a file input and a save are signalled as
 * soon as their staging or temporary output appears (bounded polls).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { listTree, ok, withTempDir, writeFixture } from "./_cli.ts";
import { tarDir, writeDockerManifest, writeImage, writeIndex } from "./_oci.ts";
import { buildTar, type FixtureEntry } from "./_tar.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A root filesystem of `files` files of 2 KiB of random bytes, in directories of 500. */
function bigTar(files: number): Uint8Array {
  const entries: FixtureEntry[] = [];
  for (let i = 0; i < files; i++) {
    if (i % 500 === 0) entries.push({ name: `d${i / 500}/`, type: "5" });
    entries.push({ name: `d${Math.floor(i / 500)}/f${i}`, body: randomBytes(2048) });
  }
  return buildTar(entries);
}

function randomBytes(n: number): Uint8Array {
  const bytes = new Uint8Array(n);
  crypto.getRandomValues(bytes);
  return bytes;
}

function spawn(root: string, args: string[], stdin: "piped" | "null") {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { SERVIN_ROOT: root, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdin,
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

/** Polls (at most 30 s) until `found` is true; fails when the child exited first. */
async function waitFor(
  child: Deno.ChildProcess,
  what: string,
  found: () => Promise<boolean>,
): Promise<void> {
  let exited = false;
  child.status.then(() => exited = true);
  for (let i = 0; i < 3000; i++) {
    if (await found()) return;
    if (exited) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never saw ${what} before the command ${exited ? "exited" : "timed out"}`);
}

const staged = (root: string) => async () =>
  (await listTree(join(root, "tmp"))).some((p) => /^(layer|blob)-[^/]+\/./.test(p));

async function index(root: string): Promise<string | undefined> {
  return await Deno.readTextFile(join(root, "images", "index.json")).catch(() => undefined);
}

/** Signals `child`, then checks how it ended and that the store is as it was. */
async function interrupt(
  child: Deno.ChildProcess,
  signal: "SIGINT" | "SIGTERM",
  root: string,
  indexBefore: string | undefined,
): Promise<void> {
  child.kill(signal);
  const [status, stderr] = await Promise.all([
    child.status,
    new Response(child.stderr).text(),
  ]);
  assert.equal(status.signal, null, `servin was killed by ${status.signal}, not exiting itself`);
  assert.equal(status.code, signal === "SIGINT" ? 130 : 143, stderr);
  assert.equal(stderr, "");
  assert.deepEqual(await listTree(join(root, "tmp")), []);
  assert.equal(await index(root), indexBefore);
}

Deno.test(
  "SIGINT during an import from stdin removes its staging and exits 130",
  withTempDir(async ({ dir, root }) => {
    const small = await writeFixture(dir, "small.tar", buildTar([{ name: "a", body: "a" }]));
    await ok(root, ["image", "import", small, "kept"]);
    const before = await index(root);
    const tarball = gzipSync(bigTar(4000), { level: 1 });
    const child = spawn(root, ["image", "import", "-", "doomed"], "piped");
    const writer = child.stdin.getWriter();
    // Half of it, and no end: the import waits for the rest, mid-way.
    await writer.write(tarball.subarray(0, tarball.length >> 1));
    await waitFor(child, "a staged layer", staged(root));
    await interrupt(child, "SIGINT", root, before);
    await writer.abort().catch(() => {});
    assert.equal((await ok(root, ["images", "-q"])).trim().split("\n").length, 1);
  }),
);

Deno.test(
  "SIGTERM during an import of a large tarball removes its staging and exits 143",
  withTempDir(async ({ dir, root }) => {
    const big = await writeFixture(dir, "big.tar.gz", gzipSync(bigTar(20000), { level: 1 }));
    const child = spawn(root, ["image", "import", big, "doomed"], "null");
    await waitFor(child, "a staged layer", staged(root));
    await interrupt(child, "SIGTERM", root, undefined);
    assert.deepEqual(await listTree(join(root, "images", "layers")), []);
    assert.deepEqual(await listTree(join(root, "images", "blobs", "sha256")), []);
  }),
);

Deno.test(
  "SIGTERM during a load from stdin removes its staged blobs and exits 143",
  withTempDir(async ({ dir, root }) => {
    const layoutDir = join(dir, "layout");
    const layout = await writeImage(layoutDir, [{ tar: bigTar(4000), compression: "gzip" }]);
    await writeIndex(layoutDir, []);
    await writeDockerManifest(layoutDir, layout, ["big:1"]);
    const archive = join(dir, "big.tar");
    await tarDir(layoutDir, archive);
    const bytes = await Deno.readFile(archive);
    const child = spawn(root, ["image", "load"], "piped");
    const writer = child.stdin.getWriter();
    await writer.write(bytes.subarray(0, bytes.length >> 1));
    await waitFor(child, "a staged blob", staged(root));
    await interrupt(child, "SIGTERM", root, undefined);
    await writer.abort().catch(() => {});
  }),
);

Deno.test(
  "SIGINT during a save removes the partial archive and exits 130",
  withTempDir(async ({ dir, root }) => {
    const big = await writeFixture(dir, "big.tar", bigTar(20000));
    await ok(root, ["image", "import", big, "big"]);
    const before = await index(root);
    const outDir = join(dir, "out");
    await Deno.mkdir(outDir);
    const child = spawn(root, ["image", "save", "-o", join(outDir, "big.tar"), "big"], "null");
    await waitFor(child, "the temporary archive", async () => {
      for await (const e of Deno.readDir(outDir)) {
        if (e.name.startsWith(".servin-")) return true;
      }
      return false;
    });
    await interrupt(child, "SIGINT", root, before);
    assert.deepEqual(await listTree(outDir), []);
  }),
);

Deno.test(
  "a second SIGINT exits at once, and the next command sweeps what was left",
  withTempDir(async ({ dir, root }) => {
    const tarball = bigTar(4000);
    const child = spawn(root, ["image", "import", "-", "doomed"], "piped");
    const writer = child.stdin.getWriter();
    await writer.write(tarball.subarray(0, tarball.length >> 1));
    await waitFor(child, "a staged layer", staged(root));
    child.kill("SIGINT");
    child.kill("SIGINT");
    const status = await child.status;
    await child.stderr.cancel();
    await writer.abort().catch(() => {});
    assert.equal(status.signal, null);
    assert.equal(status.code, 130);
    const small = await writeFixture(dir, "small.tar", buildTar([{ name: "a", body: "a" }]));
    await ok(root, ["image", "import", small, "next"]);
    assert.deepEqual(await listTree(join(root, "tmp")), []);
  }),
);
