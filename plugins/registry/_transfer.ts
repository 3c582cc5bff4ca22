/**
 * The work of the registry plugin (`plugin.ts`), imported when a pull, push
 * or login starts: describing an image a registry holds (the ingest pipeline
 * fetches, checks and unpacks it, reusing what the store has), uploading
 * one, and checking credentials.
 *
 * @module
 */

import { ServinError } from "../../core/errors.ts";
import { type Descriptor, type ImageRecord, MEDIA_TYPES } from "../../core/image.ts";
import type {
  BlobInfo,
  ProgressFn,
  ProgressPart,
  RegistryOptions,
  SinkContext,
  SourceContext,
  StagedBlob,
} from "../../core/kinds.ts";
import { parseRegistryReference, type RegistryReference } from "../../core/reference.ts";
import {
  compress,
  type Compression,
  decompress,
  isSupported,
  layerMediaType,
  mediaTypeCompression,
} from "../formats/compression.ts";
import { sha256Hex } from "../formats/digest.ts";
import { DOCKER_LIST, DOCKER_MANIFEST, parseDocument, resolveManifest } from "../formats/oci.ts";
import { bounded, readAll, readVerified, tap } from "../ingest/streams.ts";
import { credentialsFor, storeCredentials } from "./auth.ts";
import { type Credentials, isTransient, RegistryClient } from "./client.ts";
import type { RegistryPluginOptions } from "./mod.ts";

/** Every manifest and index media type a pull accepts. */
export const ACCEPT = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  DOCKER_MANIFEST,
  DOCKER_LIST,
].join(", ");

/** A client of `registry` with the plugin's retries and timeout and the stored credentials. */
export async function client(
  root: string,
  registry: string,
  connection: RegistryOptions,
  options: RegistryPluginOptions,
  credentials?: Credentials,
): Promise<RegistryClient> {
  return new RegistryClient(registry, {
    ...connection,
    attempts: options.retries,
    timeoutMs: options.timeout === undefined ? undefined : options.timeout * 1000,
    credentials: credentials ?? await credentialsFor(root, registry),
  });
}

function hexOf(digest: string | undefined, what: string): string {
  if (!digest || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw new ServinError("invalid-archive", `${what} has an unsupported digest "${digest}"`);
  }
  return digest.slice(7);
}

/** Counts bytes per blob and reports the whole and the parts. */
class Tracker {
  #parts: ProgressPart[];
  #progress?: ProgressFn;

  constructor(blobs: Descriptor[], progress?: ProgressFn) {
    this.#parts = blobs.map((b) => ({ id: b.digest.slice(7, 19), done: 0, total: b.size ?? 0 }));
    this.#progress = progress;
  }

  /** A byte counter for blob `i`. */
  counter(i: number): (n: number) => void {
    return (n) => {
      const part = this.#parts[i]!;
      part.done = Math.min(part.total, part.done + n);
      const done = this.#parts.reduce((a, p) => a + p.done, 0);
      const total = this.#parts.reduce((a, p) => a + p.total, 0);
      this.#progress?.(done, total, this.#parts);
    };
  }
}

/** Passes `stream` on, counting its bytes. */
function counted(
  stream: ReadableStream<Uint8Array>,
  count: (n: number) => void,
): ReadableStream<Uint8Array> {
  return stream.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        count(chunk.length);
        controller.enqueue(chunk);
      },
    }),
  );
}

/** Describes the image `ctx.name` names: manifest (through indexes), config and layer blobs. */
export async function pull(ctx: SourceContext, options: RegistryPluginOptions): Promise<void> {
  const ref = parseRegistryReference(ctx.name);
  const registry = await client(ctx.root, ref.registry, ctx.registry, options);
  const scope = `repository:${ref.path}:pull`;
  const max = ctx.limits.maxDocumentBytes;
  try {
    const top = { mediaType: "", digest: ref.digest ?? "", size: 0 };
    // Signatures name the digest of what the reference names, an index included.
    let named = ref.digest;
    const found = await resolveManifest(top, ctx.platform, async (desc) => {
      const { bytes } = await registry.document(
        `/v2/${ref.path}/manifests/${desc.digest || ref.tag || "latest"}`,
        scope,
        { headers: { accept: ACCEPT }, limit: max, what: "the manifest" },
      );
      if (desc.digest && `sha256:${sha256Hex(bytes)}` !== desc.digest) {
        throw new ServinError(
          "invalid-archive",
          `the registry sent a manifest that is not ${desc.digest}`,
        );
      }
      named ??= `sha256:${sha256Hex(bytes)}`;
      return bytes;
    });
    const manifest = parseDocument(found.bytes, "the manifest") as {
      config?: Descriptor;
      layers?: Descriptor[];
    };
    if (!manifest.config || !Array.isArray(manifest.layers)) {
      throw new ServinError("invalid-archive", "the manifest has no config or layers");
    }
    const configHex = hexOf(manifest.config.digest, "the config");
    const stored = await ctx.store.content.info(configHex);
    const config = stored
      ? await readAll(await ctx.store.content.read(configHex), max, "the config")
      : (await registry.document(`/v2/${ref.path}/blobs/sha256:${configHex}`, scope, {
        limit: max,
        what: "the config",
      })).bytes;
    const tracker = new Tracker(manifest.layers, ctx.progress);
    await ctx.emit({
      manifest: found.bytes,
      config,
      layers: manifest.layers.map((desc, i) => ({
        descriptor: desc,
        open: () =>
          Promise.resolve(
            counted(registry.blob(ref.path, desc.digest, desc.size, scope), tracker.counter(i)),
          ),
      })),
      tags: [],
      metadata: {
        source: "registry",
        registry: ref.registry,
        repository: ref.path,
        digest: named ?? "",
      },
    });
  } finally {
    registry.close();
  }
}

/** Where to send the next request of the upload session at `location`, with `digest` to finish it. */
function uploadTarget(registry: RegistryClient, location: string | null, digest?: string): string {
  if (!location) {
    throw new ServinError("unreachable", `${registry.registry}: no upload location`);
  }
  const url = new URL(location, "http://placeholder");
  if (digest) url.searchParams.set("digest", digest);
  return /^https?:\/\//.test(location) ? url.href : `${url.pathname}${url.search}`;
}

/** Opens an upload session (POST) and returns where it is; undefined when the registry mounted `mount` instead. */
async function startUpload(
  registry: RegistryClient,
  ref: RegistryReference,
  scope: string,
  mount?: { hex: string; from: string },
): Promise<string | undefined> {
  // A blob of another repository of the same registry can be mounted instead
  // of uploaded; a registry that will not answers 202 with an upload session.
  const query = mount ? `?mount=sha256:${mount.hex}&from=${encodeURIComponent(mount.from)}` : "";
  const start = await registry.request("POST", `/v2/${ref.path}/blobs/uploads/${query}`, scope, {
    ok: [201, 202],
  });
  await start.body?.cancel();
  if (mount && start.status === 201) return undefined;
  return uploadTarget(registry, start.headers.get("location"));
}

/** Uploads a stored blob unless the registry has it; HEAD first, then a mount, then a monolithic upload. */
async function pushBlob(
  registry: RegistryClient,
  ref: RegistryReference,
  scope: string,
  ctx: SinkContext,
  desc: Descriptor,
  sent: (n: number) => void,
  mountFrom?: string,
): Promise<void> {
  const hex = hexOf(desc.digest, "a blob");
  const head = await registry.request("HEAD", `/v2/${ref.path}/blobs/sha256:${hex}`, scope, {
    ok: [404],
  });
  await head.body?.cancel();
  if (head.status === 200) return sent(desc.size);
  const mount = mountFrom ? { hex, from: mountFrom } : undefined;
  const session = await startUpload(registry, ref, scope, mount);
  if (session === undefined) return sent(desc.size);
  const put = await registry.request(
    "PUT",
    uploadTarget(registry, session, `sha256:${hex}`),
    scope,
    {
      headers: { "content-type": "application/octet-stream", "content-length": String(desc.size) },
      body: () => readVerified(ctx.store.content, hex, desc.size),
      ok: [201, 204],
    },
  );
  await put.body?.cancel();
  sent(desc.size);
}

/** Attempts of a streamed upload, each from the start (a compressed stream cannot be resumed). */
const STREAMED_ATTEMPTS = 2;

/**
 * Uploads layer blob `desc` recompressed as `format` (decompressing it first
 * when it is compressed otherwise) while compressing it: the registry's
 * streamed upload (POST, one PATCH of the stream, PUT with the digest at the
 * end), since the digest is known only once all is compressed. The same
 * bytes go to the content store's staging, which hashes them; the staged
 * blob is returned for the caller to keep.
 */
async function pushCompressed(
  registry: RegistryClient,
  ref: RegistryReference,
  scope: string,
  ctx: SinkContext,
  desc: Descriptor,
  format: Compression,
  sent: (n: number) => void,
): Promise<StagedBlob> {
  const hex = hexOf(desc.digest, "a blob");
  const stored = mediaTypeCompression(desc.mediaType) ?? "none";
  // Bounded: at most STREAMED_ATTEMPTS rounds.
  for (let attempt = 1;; attempt++) {
    const input = counted(readVerified(ctx.store.content, hex, desc.size), sent);
    const { main, side, abort } = tap(compress(decompress(input, stored), format));
    const staging = ctx.store.content.ingest(side);
    // A failed upload fails the staging too (through `abort`); its error is the upload's.
    staging.catch(() => {});
    let used = false;
    try {
      const session = (await startUpload(registry, ref, scope))!;
      const patch = await registry.request(
        "PATCH",
        session,
        scope,
        {
          headers: { "content-type": "application/octet-stream" },
          body: () => {
            if (used) {
              throw new ServinError("unreachable", "the compressed stream was sent already");
            }
            used = true;
            return main;
          },
          once: true,
          ok: [202],
        },
      );
      await patch.body?.cancel();
      const staged = await staging;
      try {
        // The spec's answer names where the session goes on; without one, it stays where it was.
        const location = patch.headers.get("location") ?? session;
        const put = await registry.request(
          "PUT",
          uploadTarget(registry, location, `sha256:${staged.digest}`),
          scope,
          { body: new Uint8Array(0), ok: [201, 204] },
        );
        await put.body?.cancel();
        return staged;
      } catch (err) {
        await staged.discard();
        throw err;
      }
    } catch (err) {
      await abort(err);
      await staging.then((b) => b.discard(), () => {});
      if (attempt >= STREAMED_ATTEMPTS || !isTransient(err)) throw err;
    }
  }
}

/** A layer as the push sends it: as stored, as a variant made before, or compressed now. */
type LayerPlan =
  | { kind: "stored"; desc: Descriptor; variant?: Variant }
  | { kind: "compress"; desc: Descriptor; format: Compression; diffId: string };

/** A blob that is layer `diffId` compressed as `format`. */
interface Variant {
  diffId: string;
  format: Compression;
  digest: string;
}

/**
 * The variants of layer `diffId` that `push` made and kept, over every image
 * (any image's gzip of a layer is every image's): compression → blob.
 */
async function knownVariants(ctx: SinkContext): Promise<Map<string, BlobInfo>> {
  const found = new Map<string, BlobInfo>();
  for (const record of await ctx.store.index.list()) {
    for (const [diffId, forms] of Object.entries(record.variants ?? {})) {
      for (const [format, hex] of Object.entries(forms ?? {})) {
        if (typeof hex !== "string" || !/^[0-9a-f]{64}$/.test(hex)) continue;
        const info = found.has(`${diffId} ${format}`)
          ? undefined
          : await ctx.store.content.info(hex);
        if (info) found.set(`${diffId} ${format}`, info);
      }
    }
  }
  return found;
}

/**
 * How each layer goes up: compressed as `format` when it is stored
 * uncompressed, or compressed otherwise and `force` is set (podman's and
 * skopeo's rule: `--compression-format` recompresses unless
 * `--force-compression=false`); else as stored. A variant made by an
 * earlier push is reused.
 */
async function planLayers(
  ctx: SinkContext,
  image: ImageRecord,
  layers: Descriptor[],
): Promise<LayerPlan[]> {
  const { format, force } = ctx.compression ?? { format: "gzip", force: false };
  if (!isSupported(format)) {
    throw new ServinError(
      "invalid-argument",
      `Invalid compression format "${format}": use gzip, zstd or none`,
    );
  }
  const variants = await knownVariants(ctx);
  return layers.map((desc, i) => {
    const stored = mediaTypeCompression(desc.mediaType);
    const diffId = image.layers[i];
    // A blob whose compression its media type does not say, or an image
    // whose layers do not match its manifest, goes up as it is.
    if (stored === undefined || diffId === undefined || layers.length !== image.layers.length) {
      return { kind: "stored", desc };
    }
    if (stored === format || (stored !== "none" && !force)) return { kind: "stored", desc };
    const known = variants.get(`${diffId} ${format}`);
    if (known) {
      return {
        kind: "stored",
        desc: { ...desc, mediaType: layerType(desc.mediaType, format), ...descriptorOf(known) },
        variant: { diffId, format, digest: known.digest },
      };
    }
    return { kind: "compress", desc, format, diffId };
  });
}

function descriptorOf(blob: BlobInfo): { digest: string; size: number } {
  return { digest: `sha256:${blob.digest}`, size: blob.size };
}

/** The media type of a layer of type `mediaType` once compressed as `format`, Docker's or OCI's alike. */
function layerType(mediaType: string, format: Compression): string {
  if (!mediaType.startsWith("application/vnd.docker.")) return layerMediaType(format);
  const base = "application/vnd.docker.image.rootfs.diff.tar";
  return format === "none" ? base : `${base}.${format}`;
}

/**
 * The manifest with `layers` in place of its own; a Docker manifest with a
 * zstd layer becomes an OCI one, as skopeo does (Docker's schema has no zstd).
 */
function rewriteManifest(
  manifest: PushedManifest,
  layers: Descriptor[],
): { bytes: Uint8Array<ArrayBuffer>; mediaType?: string } {
  const out = { ...manifest, layers };
  if (manifest.mediaType === DOCKER_MANIFEST && layers.some((l) => /zstd$/.test(l.mediaType))) {
    out.mediaType = MEDIA_TYPES.manifest;
    out.config = { ...manifest.config, mediaType: MEDIA_TYPES.config };
    out.layers = layers.map((l) => ({
      ...l,
      mediaType: layerMediaType(mediaTypeCompression(l.mediaType) ?? "none"),
    }));
  }
  return { bytes: new TextEncoder().encode(JSON.stringify(out)), mediaType: out.mediaType };
}

/** The fields of a manifest that a push reads (the others go up as they are). */
interface PushedManifest {
  [field: string]: unknown;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

/**
 * Records the variants this push used as `image`'s: those it made (staged,
 * committed here) and those another image made, so that garbage collection
 * keeps each while an image that has it lives, and the next push reuses it.
 */
async function keepVariants(
  ctx: SinkContext,
  image: ImageRecord,
  made: (Variant & { blob: StagedBlob })[],
  reused: Variant[],
): Promise<void> {
  const fresh = reused.filter((v) => image.variants?.[v.diffId]?.[v.format] !== v.digest);
  if (made.length === 0 && fresh.length === 0) return;
  try {
    await ctx.store.index.transaction(async (tx) => {
      const record = tx.images.find((r) => r.id === image.id);
      // Removed while it was pushed: nothing to keep the blobs for.
      if (!record) return;
      for (const { blob } of made) await tx.commit(blob);
      // One of another image's that is gone since it was planned (that image removed) is not kept.
      const there = await Promise.all(fresh.map((v) => ctx.store.content.info(v.digest)));
      for (const { diffId, format, digest } of [...made, ...fresh.filter((_, i) => there[i])]) {
        if (!record.blobs?.includes(digest)) (record.blobs ??= []).push(digest);
        record.variants ??= {};
        record.variants[diffId] = { ...record.variants[diffId], [format]: digest };
      }
    });
  } finally {
    for (const { blob } of made) await blob.discard();
  }
}

/** Pushes `ctx.images[0]` to `ctx.destination`: its blobs, then its manifest; returns the manifest's digest. */
export async function push(ctx: SinkContext, options: RegistryPluginOptions): Promise<string> {
  const image = ctx.images[0]?.image;
  if (!image?.manifest || !ctx.destination) {
    throw new ServinError("unsupported", "the image has no manifest in the store");
  }
  const ref = parseRegistryReference(ctx.destination);
  const stored = await readAll(
    await ctx.store.content.read(image.manifest),
    4 * 1024 * 1024,
    "the manifest",
  );
  const manifest = parseDocument(stored, "the manifest") as PushedManifest;
  const plans = await planLayers(ctx, image, manifest.layers);
  const registry = await client(ctx.root, ref.registry, ctx.registry, options);
  const scope = `repository:${ref.path}:pull,push`;
  const made: (Variant & { blob: StagedBlob })[] = [];
  try {
    const blobs = [...plans.map((p) => p.desc), manifest.config];
    const tracker = new Tracker(blobs, ctx.progress);
    const from = image.metadata.registry === ref.registry && image.metadata.repository !== ref.path
      ? image.metadata.repository
      : undefined;
    const layers = plans.map((p) => p.desc);
    const tasks = blobs.map((b, i) => async () => {
      const plan = plans[i];
      if (plan?.kind !== "compress") {
        return await pushBlob(registry, ref, scope, ctx, b, tracker.counter(i), from);
      }
      const { desc, format, diffId } = plan;
      const blob = await pushCompressed(
        registry,
        ref,
        scope,
        ctx,
        desc,
        format,
        tracker.counter(i),
      );
      made.push({ diffId, format, digest: blob.digest, blob });
      layers[i] = { ...desc, mediaType: layerType(desc.mediaType, format), ...descriptorOf(blob) };
    });
    await bounded(tasks, options.parallel ?? 3);
    // Kept before the manifest goes up: a push that fails there reuses them next time.
    const reused = plans.flatMap((p) => p.kind === "stored" && p.variant ? [p.variant] : []);
    await keepVariants(ctx, image, made.splice(0), reused);
    const final = layers.some((l, i) => l !== manifest.layers[i])
      ? rewriteManifest(manifest, layers)
      : { bytes: stored, mediaType: manifest.mediaType };
    const put = await registry.request("PUT", `/v2/${ref.path}/manifests/${ref.tag}`, scope, {
      headers: { "content-type": final.mediaType ?? MEDIA_TYPES.manifest },
      body: final.bytes,
      ok: [201],
    });
    await put.body?.cancel();
    return put.headers.get("docker-content-digest") ?? `sha256:${sha256Hex(final.bytes)}`;
  } finally {
    for (const { blob } of made) await blob.discard();
    registry.close();
  }
}

/** Checks `credentials` against `registry`, then keeps them in `<root>/auth.json`. */
export async function login(
  root: string,
  registry: string,
  credentials: Credentials,
  connection: RegistryOptions,
  options: RegistryPluginOptions,
): Promise<void> {
  const c = await client(root, registry, connection, options, credentials);
  try {
    await c.ping();
  } finally {
    c.close();
  }
  await storeCredentials(root, registry, credentials);
}
