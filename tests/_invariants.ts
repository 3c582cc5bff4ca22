/**
 * What a store must look like after any crash or race, checked from the
 * files themselves (not through Servin): a valid index whose every record
 * points at complete layers and intact blobs, leases on complete layers,
 * container records with their bundles and leases. Also the tools the crash
 * and race tests share: a seeded PRNG, a kill at a chosen moment, and the
 * file-by-file contents of a tar.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { DEFAULT_LIMITS, type ImageRecord } from "../core/image.ts";
import { checkRecord } from "../plugins/storage/record.ts";
import { readTar } from "../plugins/formats/tar.ts";
import { readJson } from "../plugins/storage/fs.ts";
import { ok, run, type RunResult, spawn } from "./_cli.ts";

/** A seeded PRNG (mulberry32): the same seed gives the same sequence in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed of this run: `SERVIN_TEST_SEED`, else a fresh one (printed in every failure). */
export function testSeed(): number {
  const given = Deno.env.get("SERVIN_TEST_SEED");
  return given ? Number(given) : Math.floor(Math.random() * 2 ** 31);
}

/**
 * Starts `servin ARGS…` and kills it (SIGKILL) `delayMs` after it started,
 * or, with `when`, `delayMs` after `when()` first holds (polled every
 * millisecond: a phase of the command's work) — unless it ended first.
 */
export async function killAfter(
  root: string,
  args: string[],
  delayMs: number,
  when?: () => Promise<boolean>,
): Promise<{ killed: boolean; result: RunResult }> {
  const child = spawn(root, args);
  let ended = false;
  const output = child.output().finally(() => ended = true);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // It had already ended.
    }
  };
  // Bounded: the poll stops when the process ends.
  while (when && !ended && !(await when())) await new Promise((r) => setTimeout(r, 1));
  if (!ended) timer = setTimeout(kill, delayMs);
  const out = await output;
  clearTimeout(timer);
  const dec = new TextDecoder();
  return {
    killed: out.signal === "SIGKILL",
    result: { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) },
  };
}

/** How long `servin ARGS…` takes on this machine now: the range kills and offsets are drawn from. */
export async function duration(root: string, args: string[]): Promise<number> {
  const start = performance.now();
  await ok(root, args);
  return performance.now() - start;
}

/** True when `path` exists (not following a final symlink). */
export async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/**
 * Fails unless `r` is a success, or a failure with exit `code` (1; Docker's
 * 125 for `run` and `create`) and one clear `servin: …` line.
 */
export function assertCleanExit(r: RunResult, what: string, code = 1): void {
  if (r.code === 0) return;
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(r.code, code, `${what}: exit ${r.code}: ${r.stderr}`);
  assert.match(lines.at(-1) ?? "", /^servin: \S/, `${what}: ${r.stderr}`);
  assert.ok(
    !/Uncaught|^\s+at /m.test(r.stderr) && lines.filter((l) => l.startsWith("servin: ")).length,
    `${what}: not one clear line: ${r.stderr}`,
  );
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  const file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** Fails unless `diffId`'s layer is complete: its marker and its directory are there. */
async function assertLayer(root: string, diffId: string, what: string): Promise<void> {
  const layers = join(root, "images", "layers");
  const marker = await readJson(join(layers, `${diffId}.json`), undefined) as
    | { size?: unknown }
    | undefined;
  assert.equal(typeof marker?.size, "number", `${what}: layer ${diffId} has no marker`);
  const stat = await Deno.lstat(join(layers, diffId)).catch(() => undefined);
  assert.ok(stat?.isDirectory, `${what}: layer ${diffId} has a marker but no directory`);
}

/**
 * Fails (the message starts with `what`) unless the store at `root` is
 * consistent: index.json parses and every record validates; every record's
 * layers are complete and every blob it lists is there with its digest;
 * every lease's layers are complete; every container record has its bundle
 * and a lease on its image's layers. Returns the image records.
 */
export async function checkStore(root: string, what: string): Promise<ImageRecord[]> {
  const indexPath = join(root, "images", "index.json");
  let raw: unknown;
  try {
    raw = await readJson(indexPath, []);
  } catch (err) {
    assert.fail(`${what}: index.json does not parse: ${err}`);
  }
  assert.ok(Array.isArray(raw), `${what}: index.json is not an array`);
  const images = raw.map((r) => checkRecord(r, `${what}: index.json`));
  const hashed = new Map<string, string>();
  for (const img of images) {
    const label = `${what}: image ${img.id.slice(0, 12)} (${img.repo_tags})`;
    for (const diffId of img.layers) await assertLayer(root, diffId, label);
    for (const blob of img.blobs ?? [img.id]) {
      const path = join(root, "images", "blobs", "sha256", blob);
      if (!hashed.has(blob)) hashed.set(blob, await sha256File(path).catch(() => "missing"));
      assert.equal(hashed.get(blob), blob, `${label}: blob ${blob} is missing or damaged`);
    }
  }
  const leases = await readJson(join(root, "images", "leases.json"), {}) as Record<
    string,
    { layers: string[] }
  >;
  for (const [owner, lease] of Object.entries(leases)) {
    for (const diffId of lease.layers) await assertLayer(root, diffId, `${what}: lease ${owner}`);
  }
  const containers = await readJson(join(root, "containers", "index.json"), []) as {
    id: string;
    image_id: string;
    layers: string[];
  }[];
  for (const c of containers) {
    const label = `${what}: container ${c.id.slice(0, 12)}`;
    const bundle = await Deno.lstat(join(root, "containers", c.id)).catch(() => undefined);
    assert.ok(bundle?.isDirectory, `${label} has no bundle`);
    if (!c.image_id) continue;
    assert.deepEqual(leases[`container:${c.id}`]?.layers, c.layers, `${label} has no lease`);
  }
  return images;
}

/**
 * Fails unless `servin system check` finds the store at `root` clean: exit 0
 * and nothing on stdout or stderr. Unlike {@link checkStore} it unpacks every
 * layer's blob again and compares the trees, so it also sees a layer that is
 * complete but not what its blob holds.
 */
export async function assertSystemCheckClean(root: string, what: string): Promise<void> {
  const r = await run(root, ["system", "check"]);
  assert.deepEqual(
    [r.code, r.stdout, r.stderr],
    [0, "", ""],
    `${what}: servin system check: exit ${r.code}: ${r.stdout}${r.stderr}`,
  );
}

/** Fails unless `<root>/tmp` is empty. */
export async function assertTmpEmpty(root: string, what: string): Promise<void> {
  const left = await Array.fromAsync(Deno.readDir(join(root, "tmp"))).catch(() => []);
  assert.deepEqual(left.map((e) => e.name), [], `${what}: tmp/ was not cleaned`);
}

/** A tar's entries, file by file: path → type and content digest (or link target). */
export async function tarContents(tar: Uint8Array | string): Promise<Map<string, string>> {
  const bytes = typeof tar === "string" ? await Deno.readFile(tar) : tar;
  const out = new Map<string, string>();
  for await (const entry of readTar(ReadableStream.from([bytes]), DEFAULT_LIMITS)) {
    const { name, type, linkname } = entry.header;
    const path = name.replace(/^(\.\/)+/, "").replace(/\/+$/, "");
    const hash = createHash("sha256");
    for await (const chunk of entry.body) hash.update(chunk);
    const what = type === "file" ? hash.digest("hex") : type === "dir" ? "" : linkname;
    if (path && path !== ".") out.set(path, `${type} ${what}`);
  }
  return out;
}

/** Fails unless `image export IMAGE` gives exactly `expected`, file by file. */
export async function assertExport(
  root: string,
  image: string,
  expected: Map<string, string>,
  out: string,
  what: string,
): Promise<void> {
  await ok(root, ["image", "export", image, "-o", out]);
  const got = await tarContents(out);
  const missing = [...expected.keys()].filter((k) => !got.has(k));
  const differ = [...expected.keys()].filter((k) => got.has(k) && got.get(k) !== expected.get(k));
  const extra = [...got.keys()].filter((k) => !expected.has(k));
  assert.ok(
    missing.length + differ.length + extra.length === 0,
    `${what}: the export of ${image} differs from the source: ${missing.length} missing (${
      missing.slice(0, 3)
    }), ${differ.length} different (${differ.slice(0, 3)}), ${extra.length} extra (${
      extra.slice(0, 3)
    })`,
  );
}
