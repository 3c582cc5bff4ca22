/**
 * `servin system check [--repair]` for the local store (`local.ts`),
 * imported when a check starts so that other commands never load it. A
 * layer is verified against its source of truth, the layer blob kept as
 * received (the image's manifest maps blob to diff_id): the blob is
 * unpacked again through the store's own extractor into staging and that
 * tree is compared with the stored directory, never with anything import
 * computed.
 *
 * @module
 */

import { messageOf } from "../../core/errors.ts";
import { type ImageRecord, shortId } from "../../core/image.ts";
import type {
  CheckOptions,
  Lease,
  Platform,
  Problem,
  StagedLayer,
  Store,
} from "../../core/kinds.ts";
import { compareTrees } from "../formats/compare.ts";
import { decompress, detectCompression, isSupported } from "../formats/compression.ts";
import { sha256Hasher } from "../formats/digest.ts";
import { joinPath as join } from "../platform/_common.ts";
import { atomicWrite, doom, HEX64, readJson, readJsonArray } from "./fs.ts";
import { checkRecord } from "./record.ts";

/** What the check needs of the local store beyond {@link Store}: its paths and a few of its steps. */
export interface CheckedStore {
  /** The store, for `content.info`. */
  store: Store;
  /** `images/index.json`. */
  indexPath: string;
  /** `images/leases.json`. */
  leasesPath: string;
  /** `images/blobs/sha256/`. */
  blobs: string;
  /** `images/layers/`. */
  layers: string;
  /** `<root>/tmp/`, where deletion moves things first. */
  tmp: string;
  /** The platform, for owners and xattrs. */
  platform: Platform;
  /** Where warnings go. */
  warn: (message: string) => void;
  /** The leases, validated as a transaction reads them. */
  leases(): Promise<Record<string, Lease>>;
  /** Unpacks `tar` into staging as `layers.apply` does, without warnings; `tree` is its path. */
  unpack(tar: ReadableStream<Uint8Array>, label: string): Promise<[StagedLayer, tree: string]>;
  /** Deletes the layers and blobs that no image and no lease uses. */
  collect(images: ImageRecord[], leases: Record<string, Lease>): Promise<void>;
}

/**
 * Checks the store (the caller holds the index lock): the records, every
 * layer against the blob it was unpacked from, every blob against its
 * digest, every image's blobs, layers and config, every lease's layers.
 * With `repair`, what is broken goes (blobs and layers out of place first,
 * as garbage collection deletes them), then the records and leases that
 * need it, then what only they used. An index that is not JSON at all is
 * reported and left for a person to look at.
 */
export async function checkLocalStore(
  s: CheckedStore,
  options: CheckOptions = {},
): Promise<Problem[]> {
  const repair = options.repair ?? false;
  const problems: Problem[] = [];
  const found = (kind: string, id: string, message: string, repaired?: string) =>
    problems.push({ kind, id, message, ...(repair && repaired ? { repaired } : {}) });
  let records: unknown[] | undefined;
  try {
    records = await readJsonArray(s.indexPath);
  } catch (err) {
    const why = `${messageOf(err)} (not repaired: move it aside to start over)`;
    found("index", "index.json", why);
  }
  const valid: ImageRecord[] = [];
  for (const value of records ?? []) {
    try {
      valid.push(checkRecord(value, s.indexPath));
    } catch (err) {
      const id = (value as { id?: unknown } | null)?.id;
      found("index", typeof id === "string" ? id : "?", messageOf(err), "removed the record");
    }
  }
  // What each blob hashes to, computed once: a layer blob's while it is unpacked again.
  const digests = new Map<string, string | undefined>();
  const sources = await layerSources(s, valid, digests);
  const layers = new Set<string>();
  const names = new Set<string>();
  for await (const e of Deno.readDir(s.layers)) {
    const hex = e.name.replace(/\.json$/, "");
    if (HEX64.test(hex)) names.add(hex);
  }
  for (const diffId of [...names].sort()) {
    const why = await layerProblem(s, diffId, sources.get(diffId) ?? [], digests);
    if (!why) {
      layers.add(diffId);
      continue;
    }
    found("layer", diffId, `layer ${diffId} is damaged: ${why}`, "removed the layer");
    if (repair) {
      await Deno.remove(join(s.layers, `${diffId}.json`)).catch(() => {});
      await doom(join(s.layers, diffId), s.tmp);
    }
  }
  const blobs = new Set<string>();
  for await (const e of Deno.readDir(s.blobs)) {
    if (!HEX64.test(e.name)) continue;
    const digest = e.isFile ? await digestOf(s, e.name, digests) : undefined;
    if (digest === e.name) {
      blobs.add(e.name);
      continue;
    }
    const why = digest ? `its content hashes to sha256:${digest}` : "it is not a file";
    found("blob", e.name, `blob sha256:${e.name} is damaged: ${why}`, "removed the blob");
    if (repair) await doom(join(s.blobs, e.name), s.tmp);
  }
  const images: ImageRecord[] = [];
  for (const record of valid) {
    const why = await imageProblem(s, record, blobs, layers);
    if (!why) {
      images.push(record);
      continue;
    }
    const tags = record.repo_tags.length ? ` (${record.repo_tags.join(", ")})` : "";
    const message = `image ${shortId(record.id)}${tags} is broken: ${why}`;
    found("image", record.id, message, "removed the image");
  }
  let leases: Record<string, Lease> | undefined;
  try {
    leases = await s.leases();
  } catch (err) {
    found("lease", "leases.json", `${messageOf(err)} (not repaired)`);
  }
  let leasesChanged = false;
  for (const [owner, lease] of Object.entries(leases ?? {})) {
    const list: unknown = lease?.layers;
    const gone = Array.isArray(list) ? list.find((l) => !layers.has(l)) : "";
    if (gone === undefined) continue;
    const why = gone ? `layer ${gone} is missing or damaged` : "it has no list of layers";
    found("lease", owner, `lease ${owner} is broken: ${why}`, "removed the lease");
    delete leases![owner];
    leasesChanged = true;
  }
  if (repair && records && leases) {
    if (images.length !== records.length) await writeJson(s.indexPath, images);
    if (leasesChanged) await writeJson(s.leasesPath, leases);
    // What only the removed images used goes too, as after any change.
    if (problems.length) await s.collect(images, leases);
  }
  return problems;
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await atomicWrite(path, new TextEncoder().encode(JSON.stringify(value, null, 2) + "\n"));
}

/** What the blob `hex` hashes to (undefined when it cannot be read), hashed once per check. */
async function digestOf(
  s: CheckedStore,
  hex: string,
  digests: Map<string, string | undefined>,
): Promise<string | undefined> {
  if (!digests.has(hex)) {
    const hash = sha256Hasher();
    try {
      for await (const chunk of (await Deno.open(join(s.blobs, hex))).readable) {
        hash.update(chunk);
      }
      digests.set(hex, hash.digest("hex"));
    } catch {
      digests.set(hex, undefined);
    }
  }
  return digests.get(hex);
}

/** The blobs each layer can be unpacked from again, as the sound manifests of the records say. */
async function layerSources(
  s: CheckedStore,
  records: readonly ImageRecord[],
  digests: Map<string, string | undefined>,
): Promise<Map<string, string[]>> {
  const sources = new Map<string, string[]>();
  for (const record of records) {
    const hex = record.manifest;
    if (!hex || (await digestOf(s, hex, digests)) !== hex) continue;
    const listed: unknown = await readJson(join(s.blobs, hex), undefined)
      .then((m) => (m as { layers?: unknown } | null)?.layers, () => undefined);
    if (!Array.isArray(listed) || listed.length !== record.layers.length) continue;
    record.layers.forEach((diffId, i) => {
      const blob = String(listed[i]?.digest).replace(/^sha256:/, "");
      if (!HEX64.test(blob)) return;
      const list = sources.get(diffId) ?? [];
      if (!list.includes(blob)) sources.set(diffId, [...list, blob]);
    });
  }
  return sources;
}

/**
 * Why the stored layer is not what it was (one line), or undefined when it
 * is: complete, and the tree the extractor makes of one of its sound
 * `blobs` again. A layer no blob describes (its image was removed while a
 * container keeps it) is checked for completeness only, and a warning says so.
 */
async function layerProblem(
  s: CheckedStore,
  diffId: string,
  blobs: readonly string[],
  digests: Map<string, string | undefined>,
): Promise<string | undefined> {
  const marker = await readJson(join(s.layers, `${diffId}.json`), undefined).catch(() => null);
  if (marker === undefined) return "it is incomplete (its marker is missing)";
  if (typeof (marker as { size?: unknown } | null)?.size !== "number") {
    return "its marker is damaged";
  }
  if (!(await Deno.lstat(join(s.layers, diffId)).catch(() => undefined))?.isDirectory) {
    return "its directory is missing";
  }
  for (const blob of blobs) {
    const result = await unpackAgain(s, blob, diffId, digests);
    // A damaged blob is a problem of its own; another blob may still tell.
    if (result) return result.why;
  }
  if (!blobs.length) {
    s.warn(
      `layer ${diffId}: no blob in the store describes it, so only its completeness was checked`,
    );
  }
  return undefined;
}

/**
 * Unpacks `blob` again through the extractor into staging (its digest and
 * the tar's checked while it streams), and compares that tree with the
 * stored layer `diffId`: `why` says how they differ. Undefined when the
 * blob is damaged or missing; an error that is not the blob's fault (a
 * full disk) ends the check.
 */
async function unpackAgain(
  s: CheckedStore,
  blob: string,
  diffId: string,
  digests: Map<string, string | undefined>,
): Promise<{ why?: string } | undefined> {
  const size = (await s.store.content.info(blob))?.size;
  if (size === undefined) return undefined;
  const file = await Deno.open(join(s.blobs, blob));
  const head = new Uint8Array(8);
  let compression: string;
  try {
    compression = detectCompression(head.subarray(0, (await file.read(head)) ?? 0));
    await file.seek(0, Deno.SeekMode.Start);
  } catch (err) {
    file.close();
    throw err;
  }
  const hash = sha256Hasher();
  let seen = 0;
  const hashed = file.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.length;
        hash.update(chunk);
        controller.enqueue(chunk);
      },
    }),
  );
  const tar = decompress(hashed, isSupported(compression) ? compression : "none");
  let staged: StagedLayer;
  let tree: string;
  try {
    [staged, tree] = await s.unpack(tar, `layer sha256:${blob}`);
  } catch (err) {
    if ((await digestOf(s, blob, digests)) !== blob) return undefined;
    throw err;
  }
  try {
    if (seen === size) digests.set(blob, hash.digest("hex"));
    if ((await digestOf(s, blob, digests)) !== blob) return undefined;
    if (staged.diffId !== diffId) {
      return { why: `its blob sha256:${blob} unpacks to diff_id sha256:${staged.diffId}` };
    }
    const why = compareTrees(tree, join(s.layers, diffId), {
      owners: s.platform.canChown,
      getxattr: s.platform.getxattr,
      listxattr: s.platform.listxattr,
    });
    return { why };
  } finally {
    await staged.discard();
  }
}

/** Why the image cannot be used (one line), or undefined when it can. */
async function imageProblem(
  s: CheckedStore,
  record: ImageRecord,
  blobs: ReadonlySet<string>,
  layers: ReadonlySet<string>,
): Promise<string | undefined> {
  const needed = [record.id, ...(record.manifest ? [record.manifest] : []), ...record.blobs ?? []];
  const blob = needed.find((hex) => !blobs.has(hex));
  if (blob) return `its blob sha256:${blob} is missing or damaged`;
  const layer = record.layers.find((diffId) => !layers.has(diffId));
  if (layer) return `its layer ${layer} is missing or damaged`;
  let diffIds: unknown;
  try {
    const config = JSON.parse(await Deno.readTextFile(join(s.blobs, record.id)));
    diffIds = config?.rootfs?.diff_ids;
  } catch {
    return "its config is not JSON";
  }
  const listed = Array.isArray(diffIds)
    ? diffIds.map((d) => String(d).replace(/^sha256:/, ""))
    : undefined;
  if (listed?.join() !== record.layers.join()) {
    return "the diff_ids of its config are not its layers";
  }
  return undefined;
}
