/**
 * The one ingest pipeline, for import, load, pull and build: a source
 * describes images (manifest, config, and a way to open each layer blob),
 * and this does the rest once — sniff the bytes and check them against the
 * media type, enforce the descriptor's size and the byte budgets while
 * streaming, decompress, hash, unpack through the extractor (or only verify
 * a layer the store has), stage, let the policy hook see the config, and
 * commit everything in one transaction that re-checks what it reuses.
 *
 * @module
 */

import type {
  AppendOptions,
  IngestContext,
  IngestRequest,
  LoadedImage,
  StreamInput,
} from "../../core/api.ts";
import { osError, ServinError } from "../../core/errors.ts";
import {
  configSummary,
  type Descriptor,
  type ImageConfig,
  type ImageRecord,
  MEDIA_TYPES,
  mergeEnv,
  resolveImage,
} from "../../core/image.ts";
import type {
  BlobInfo,
  ProgressFn,
  SourceBlob,
  SourceImage,
  Staged,
  StagedBlob,
  StagedLayer,
} from "../../core/kinds.ts";
import { normalizeReference } from "../../core/reference.ts";
import {
  decompressHashed,
  detectCompression,
  isSupported,
  layerMediaType,
  mediaTypeCompression,
} from "../formats/compression.ts";
import { sha256Hex } from "../formats/digest.ts";
import { invalidArchive as invalid } from "../formats/oci.ts";
import { isTarHeader } from "../formats/tar.ts";
import {
  buildAppendedConfig,
  buildOciConfig,
  buildOciManifest,
  type BuiltConfig,
  DEFAULT_CONFIG,
} from "./config.ts";
import { bounded, limitBytes, peek, readAll, readFile, tap } from "./streams.ts";

/** A layer ready to commit: staged, or reused from the store (re-checked at commit). */
interface ReadyLayer {
  diffId: string;
  size: number;
  blob: BlobInfo;
  mediaType: string;
  layer?: StagedLayer;
  staged?: StagedBlob;
}

/** An image ready to commit. */
interface ReadyImage {
  source: SourceImage;
  id: string;
  config: StagedBlob;
  manifest: StagedBlob;
  oci: Record<string, unknown>;
  summary: ImageConfig;
  layers: ReadyLayer[];
  tags: string[];
}

/** One ingest: everything it staged is thrown away at the end unless committed. */
class Ingest {
  #req: IngestRequest;
  #ctx: IngestContext;
  #parallel: number;
  #staged: Staged[] = [];
  /** The input's name, once opened. */
  #name = "";

  constructor(req: IngestRequest, ctx: IngestContext, parallel: number) {
    this.#req = req;
    this.#ctx = ctx;
    this.#parallel = parallel;
  }

  async run(): Promise<LoadedImage[]> {
    const pending: Promise<ReadyImage>[] = [];
    const { verb, platform, options } = this.#req;
    const opened = await this.#open();
    this.#name = opened.path;
    const [head, stream] = await peek(countBytes(opened, options.onProgress), 4096);
    try {
      const directory = opened.directory ?? false;
      if (directory && verb === "import") {
        throw new ServinError(
          "invalid-argument",
          `Cannot import "${opened.path}": it is a directory`,
        );
      }
      const probe = { name: opened.path, head, directory };
      const source = this.#ctx.kinds.all("source").find((s) =>
        s.verbs.includes(verb as "import") && s.detect(probe)
      );
      if (!source) {
        throw verb === "pull"
          ? new ServinError(
            "unsupported",
            `Cannot pull "${opened.path}": no registry source is installed`,
          )
          : invalid(`Cannot ${verb} "${opened.path}": not a tar archive (plain, gzip or zstd)`);
      }
      const read = source.read({
        name: opened.path,
        input: stream,
        head,
        directory,
        platform,
        store: this.#ctx.store,
        limits: this.#ctx.limits,
        registry: options,
        root: this.#ctx.root,
        warn: this.#ctx.warn,
        progress: verb === "pull" ? options.onProgress : undefined,
        emit: (image) => {
          const ready = this.#prepare(image);
          pending.push(ready);
          return ready.then(() => {});
        },
      });
      await settle([read]);
      const images = await settle(pending);
      if (images.length === 0) throw invalid(`"${opened.path}" holds no image`);
      return await this.#commit(images);
    } catch (err) {
      await stream.cancel(err).catch(() => {});
      await settle(pending).catch(() => {});
      throw this.#named(err);
    } finally {
      for (const s of this.#staged.splice(0)) await s.discard().catch(() => {});
    }
  }

  /**
   * Stores `base` plus one step: the base's layers are reused (checked
   * again under the lock), the step's layer goes through {@link #layer} as
   * any layer does, and the config is built canonically.
   */
  async append(req: AppendOptions): Promise<ImageRecord> {
    const { store, limits, platform } = this.#ctx;
    const verb = this.#req.verb;
    const tags = req.reference ? [normalizeReference(req.reference)] : [];
    this.#name = req.reference ?? req.base ?? "scratch";
    try {
      let baseOci: Record<string, unknown> = {};
      let layers: ReadyLayer[] = [];
      const base = req.base ? resolveImage(await store.index.list(), req.base) : undefined;
      if (base) {
        const read = async (hex: string, what: string) =>
          parseJson(
            await readAll(await store.content.read(hex), limits.maxDocumentBytes, what),
            what,
            limits.maxDocumentBytes,
          );
        if (!base.manifest) {
          throw new ServinError("invalid-argument", `Image ${base.id} has no manifest to build on`);
        }
        baseOci = await read(base.id, `the config of ${base.id}`);
        const manifest = await read(base.manifest, `the manifest of ${base.id}`);
        const descs = manifest.layers as Descriptor[] | undefined;
        if (!Array.isArray(descs) || descs.length !== base.layers.length) {
          throw invalid(`the manifest of image ${base.id} does not list its layers`);
        }
        layers = base.layers.map((diffId, i) => ({
          diffId,
          size: base.layer_sizes?.[i] ?? 0,
          blob: { digest: hexOf(descs[i]!.digest, `layer ${i}`), size: descs[i]!.size },
          mediaType: ociLayerType(descs[i]!.mediaType),
        }));
      }
      const config = structuredClone(req.config);
      const summary = configSummary({ config });
      const labels = JSON.stringify(summary.labels);
      const metadata: Record<string, string> = { source: verb, ...base ? { parent: base.id } : {} };
      await this.#ctx.beforeCommit({
        verb,
        input: this.#name,
        tags,
        config: summary,
        origin: metadata,
      });
      // A label a policy hook set is kept in the config built here, as for import.
      if (JSON.stringify(summary.labels) !== labels) config.Labels = summary.labels;
      const step = req.layer
        ? await this.#layer(
          { descriptor: { mediaType: MEDIA_TYPES.layer }, open: () => Promise.resolve(req.layer!) },
          undefined,
          layers.length,
        )
        : undefined;
      if (step) layers.push(step);
      const configBytes = buildAppendedConfig({
        base: baseOci,
        config,
        diffId: step?.diffId,
        history: req.history,
        created: req.created,
        platform,
      });
      const staged = await this.#stageBytes(configBytes);
      const manifest = await this.#stageBytes(buildOciManifest(
        { mediaType: MEDIA_TYPES.config, digest: `sha256:${staged.digest}`, size: staged.size },
        layers.map((l) => ({
          mediaType: l.mediaType,
          digest: `sha256:${l.blob.digest}`,
          size: l.blob.size,
        })),
      ));
      const oci = JSON.parse(new TextDecoder().decode(configBytes));
      const [loaded] = await this.#commit([{
        source: { layers: [], tags, metadata },
        id: staged.digest,
        config: staged,
        manifest,
        oci,
        summary: configSummary(oci),
        layers,
        tags,
      }]);
      return loaded!.image;
    } catch (err) {
      throw this.#named(err);
    } finally {
      for (const s of this.#staged.splice(0)) await s.discard().catch(() => {});
    }
  }

  /** An input opener's stream, else the file or directory, or stdin for `-`; a pull's reference as is. */
  async #open(): Promise<StreamInput> {
    const { verb, input } = this.#req;
    if (typeof input !== "string") return input;
    if (verb === "pull") return { path: input, stream: ReadableStream.from([]) };
    for (const opener of this.#ctx.kinds.all("input")) {
      const opened = await opener.open(input);
      if (opened) return opened;
    }
    if (input === "-") return { path: input, stream: Deno.stdin.readable };
    let stat: Deno.FileInfo;
    try {
      stat = await Deno.stat(input);
    } catch (err) {
      const why = err instanceof Deno.errors.NotFound ? "no such file" : (err as Error).message;
      throw new ServinError("not-found", `Cannot ${verb} "${input}": ${why}`);
    }
    if (stat.isDirectory) return { path: input, stream: ReadableStream.from([]), directory: true };
    if (!stat.isFile) {
      throw new ServinError("invalid-argument", `Cannot ${verb} "${input}": not a regular file`);
    }
    return { path: input, stream: readFile(await Deno.open(input)), size: stat.size };
  }

  /** Errors say which input failed: `Cannot load "x.tar": …`. */
  #named(err: unknown): unknown {
    if (
      !(err instanceof ServinError) || err.code === "vetoed" || err.message.startsWith("Cannot")
    ) {
      return err;
    }
    if (err.message.startsWith("plugin ")) return err;
    return new ServinError(
      err.code,
      `Cannot ${this.#req.verb} "${this.#name}": ${err.message}`,
      { cause: err },
    );
  }

  #keep<T extends Staged>(staged: T): T {
    this.#staged.push(staged);
    return staged;
  }

  async #stageBytes(bytes: Uint8Array): Promise<StagedBlob> {
    return this.#keep(await this.#ctx.store.content.ingest(ReadableStream.from([bytes])));
  }

  /** Checks the config against the manifest, lets the policy hook see it, then fetches the layers. */
  async #prepare(image: SourceImage): Promise<ReadyImage> {
    const { verb } = this.#req;
    const name = this.#name;
    const tags = (this.#req.tags ?? image.tags).map(normalizeReference);
    let manifestDoc: { config?: Descriptor; layers?: Descriptor[] } | undefined;
    if (image.manifest) {
      manifestDoc = parseJson(
        image.manifest,
        `the manifest sha256:${sha256Hex(image.manifest)}`,
        this.#ctx.limits.maxDocumentBytes,
      );
      checkBlob(manifestDoc?.config, image.config, "the config");
      if (!Array.isArray(manifestDoc?.layers)) throw invalid("the manifest has no layers");
    }
    let oci: Record<string, unknown> | undefined;
    let diffIds: string[] | undefined;
    let summary: ImageConfig;
    let extra: Pick<BuiltConfig, "volumes" | "stop_signal"> = {};
    if (image.config) {
      oci = parseJson(
        image.config,
        `the config sha256:${sha256Hex(image.config)}`,
        this.#ctx.limits.maxDocumentBytes,
      );
      diffIds = diffIdsOf(oci!);
      if (diffIds.length !== image.layers.length) {
        throw invalid(
          `the image lists ${image.layers.length} layers but its config ${diffIds.length}`,
        );
      }
      summary = configSummary(oci);
    } else {
      // Fields the index has no place for go to the OCI config only.
      const { volumes, stop_signal, ...given }: Partial<BuiltConfig> = this.#req.config ?? {};
      extra = { volumes, stop_signal };
      summary = {
        ...DEFAULT_CONFIG,
        ...given,
        env: mergeEnv(DEFAULT_CONFIG.env, given.env ?? []),
        labels: { ...given.labels },
      };
    }
    await this.#ctx.beforeCommit({
      verb,
      input: name,
      tags,
      config: summary,
      oci,
      origin: image.metadata,
      registry: this.#req.options,
    });
    const layers = await bounded(
      image.layers.map((blob, i) => () => this.#layer(blob, diffIds?.[i], i)),
      this.#parallel,
    );
    let configBytes = image.config;
    if (!configBytes) {
      const tag = tags[0] ?? "";
      configBytes = buildOciConfig({
        config: { ...summary, ...extra },
        diffIds: layers.map((l) => l.diffId),
        created: new Date(),
        architecture: this.#ctx.platform.architecture,
        os: this.#ctx.platform.os,
        createdBy: this.#req.history?.createdBy || `servin image ${verb} ${name} ${tag}`.trim(),
        comment: this.#req.history?.comment,
      });
      oci = JSON.parse(new TextDecoder().decode(configBytes));
    }
    const config = await this.#stageBytes(configBytes);
    const manifestBytes = image.manifest ?? buildOciManifest(
      { mediaType: MEDIA_TYPES.config, digest: `sha256:${config.digest}`, size: config.size },
      layers.map((l) => ({
        mediaType: l.mediaType,
        digest: `sha256:${l.blob.digest}`,
        size: l.blob.size,
      })),
    );
    const manifest = await this.#stageBytes(manifestBytes);
    return { source: image, id: config.digest, config, manifest, oci: oci!, summary, layers, tags };
  }

  /** One layer: reused when the store has it whole, else streamed, checked and unpacked or verified. */
  async #layer(blob: SourceBlob, expected: string | undefined, i: number): Promise<ReadyLayer> {
    const { store, limits } = this.#ctx;
    const desc = blob.descriptor;
    const hex = desc.digest ? hexOf(desc.digest, `layer ${i}`) : blob.staged?.digest;
    const label = hex ? `layer sha256:${hex}` : `layer ${i}`;
    if (blob.staged) {
      this.#keep(blob.staged);
      if (blob.staged.digest !== hex) {
        throw invalid(`${label} has digest sha256:${blob.staged.digest}, expected sha256:${hex}`);
      }
      if (desc.size !== undefined && blob.staged.size !== desc.size) {
        throw invalid(`${label} has ${blob.staged.size} bytes, expected ${desc.size}`);
      }
    }
    const have = expected ? await store.layers.info(expected) : undefined;
    const stored = hex ? await store.content.info(hex) : undefined;
    if (have && stored) {
      return { diffId: have.diffId, size: have.size, blob: stored, mediaType: desc.mediaType };
    }
    let stream = blob.staged ? await blob.staged.read() : await blob.open();
    if (!blob.staged && desc.size !== undefined) stream = limitBytes(stream, desc.size, label);
    const [head, whole] = await peek(stream, 512);
    stream = whole;
    const compression = sniff(head);
    const claimed = mediaTypeCompression(desc.mediaType);
    if (!isSupported(compression) || (claimed && claimed !== compression)) {
      await stream.cancel().catch(() => {});
      if (compression === "not-tar") throw invalid(`${label} is not a tar`);
      if (!isSupported(compression)) {
        throw new ServinError(
          "unsupported",
          `${label}: ${compression} compression is not supported (use gzip, zstd or none)`,
        );
      }
      throw invalid(`${label} is ${compression} data, but its media type is ${desc.mediaType}`);
    }
    let blobDone: Promise<StagedBlob> | undefined;
    let abort = (_: unknown) => Promise.resolve();
    let side: ReadableStream<Uint8Array> | undefined;
    if (!blob.staged) {
      const split = tap(stream);
      stream = split.main;
      abort = split.abort;
      side = split.side;
    }
    // The worker that inflates also hashes what goes in and what comes out,
    // so that this thread hashes nothing; an uncompressed blob is its own
    // tar, hashed once (as a blob, or when it was staged).
    const inflated = compression === "none" ? undefined : decompressHashed(stream, compression);
    const digests = inflated?.digests;
    if (side) {
      const knownDigest = digests && handled(digests.then((d) => d.compressed));
      blobDone = store.content.ingest(side, { digest: hex, size: desc.size, knownDigest });
    }
    const compressedSize = desc.size ?? blob.staged?.size ?? 0;
    const budget = Math.max(
      this.#req.options.maxLayerBytes ?? limits.maxLayerBytes,
      limits.layerRatio * compressedSize,
    );
    const tar = limitBytes(inflated?.output ?? stream, budget, `${label} uncompressed`);
    const knownDiffId = digests
      ? handled(digests.then((d) => d.decompressed))
      : blob.staged?.digest ?? handled(blobDone!.then(({ digest, size }) => ({ digest, size })));
    const unpacked: Promise<{ diffId: string; size: number; layer?: StagedLayer }> = have
      ? drained(tar, knownDiffId).then((diffId) => ({ diffId, size: have.size, layer: undefined }))
      : store.layers.apply(tar, { label, knownDiffId }).then((layer) => ({
        diffId: layer.diffId,
        size: layer.size,
        layer: this.#keep(layer),
      }));
    // When one side fails, the other is stopped too. An OS error (a full disk) is never the
    // other side's doing, so it says why; else the first ServinError does.
    const sides = [unpacked, blobDone ?? Promise.resolve(blob.staged!)] as const;
    for (const side of sides) side.catch((err) => abort(err));
    const [u, b] = await Promise.allSettled(sides);
    if (u.status === "rejected" || b.status === "rejected") {
      if (b.status === "fulfilled" && blobDone) await b.value.discard();
      if (u.status === "fulfilled") await u.value.layer?.discard();
      const errors = [u, b].flatMap((r) =>
        r.status === "rejected" ? [osError(r.reason) ?? r.reason] : []
      );
      throw errors.find((e) => e instanceof ServinError && e.code === "os-error") ??
        errors.find((e) => e instanceof ServinError) ?? errors[0];
    }
    const done = u.value;
    const staged = b.value;
    if (blobDone) this.#keep(staged);
    if (this.#req.verb === "import" && done.layer && isImageArchive(done.layer.topLevel)) {
      throw new ServinError(
        "invalid-argument",
        'it is an image archive, not a root filesystem: use "servin image load"',
      );
    }
    if (expected && done.diffId !== expected) {
      throw invalid(
        `${label} has diff_id sha256:${done.diffId}, but the config says sha256:${expected}`,
      );
    }
    return {
      diffId: done.diffId,
      size: done.size,
      blob: { digest: staged.digest, size: staged.size },
      mediaType: desc.mediaType || layerMediaType(compression as "none"),
      layer: done.layer,
      staged,
    };
  }

  /** Commits every image in one transaction; what was reused is checked again under the lock. */
  async #commit(images: ReadyImage[]): Promise<LoadedImage[]> {
    const { store } = this.#ctx;
    const rootfs = await this.#rootfsPaths(images);
    return await store.index.transaction(async (tx) => {
      const out: LoadedImage[] = [];
      for (const [n, img] of images.entries()) {
        for (const l of img.layers) {
          if (l.layer) await tx.commit(l.layer);
          else if (!(await store.layers.info(l.diffId))) throw vanished(`layer sha256:${l.diffId}`);
          if (l.staged) await tx.commit(l.staged);
          else if (!(await store.content.info(l.blob.digest))) {
            throw vanished(`blob sha256:${l.blob.digest}`);
          }
        }
        await tx.commit(img.config);
        await tx.commit(img.manifest);
        for (const tag of img.tags) {
          for (const other of tx.images) other.repo_tags = other.repo_tags.filter((t) => t !== tag);
        }
        const existing = tx.images.find((r) => r.id === img.id);
        if (existing) {
          existing.repo_tags.push(...img.tags.filter((t) => !existing.repo_tags.includes(t)));
          out.push({ image: structuredClone(existing), tags: img.tags });
          continue;
        }
        const record = this.#record(img, rootfs[n]!);
        tx.images.push(record);
        out.push({ image: structuredClone(record), tags: img.tags });
      }
      return out;
    });
  }

  async #rootfsPaths(images: ReadyImage[]): Promise<string[]> {
    return await Promise.all(images.map(async (img) => {
      const top = img.layers.at(-1)?.diffId;
      if (!top) return "";
      try {
        const [dir] = await this.#ctx.store.layers.mounts([top]);
        return dir ?? "";
      } catch {
        return "";
      }
    }));
  }

  #record(img: ReadyImage, rootfsPath: string): ImageRecord {
    const created =
      typeof img.oci.created === "string" && !Number.isNaN(Date.parse(img.oci.created))
        ? new Date(img.oci.created).toISOString()
        : new Date().toISOString();
    const comment = this.#req.history?.comment;
    return {
      id: img.id,
      repo_tags: [...img.tags],
      created,
      size: img.layers.reduce((n, l) => n + l.size, 0),
      layers: img.layers.map((l) => l.diffId),
      layer_sizes: img.layers.map((l) => l.size),
      rootfs_type: this.#req.verb === "import" ? "tarball" : "layers",
      rootfs_path: rootfsPath,
      config: img.summary,
      metadata: {
        ...img.source.metadata,
        ...(this.#req.input === "" ? {} : { original_path: this.#name }),
        ...(comment ? { comment } : {}),
      },
      manifest: img.manifest.digest,
      blobs: [img.id, img.manifest.digest, ...img.layers.map((l) => l.blob.digest)],
    };
  }
}

/**
 * The OCI media type of a Docker layer media type (the new manifest is an
 * OCI one); any other type as it is.
 */
function ociLayerType(mediaType: string): string {
  const compression = mediaTypeCompression(mediaType);
  const docker = mediaType.startsWith("application/vnd.docker.image.rootfs.diff.");
  return docker && compression ? layerMediaType(compression) : mediaType;
}

/** True when the top-level names of a "root filesystem" are those of a docker-archive or an OCI layout. */
function isImageArchive(names: string[]): boolean {
  const has = (n: string) => names.includes(n);
  if (has("oci-layout") && has("index.json")) return true;
  return has("manifest.json") && (has("repositories") || has("blobs"));
}

/** Awaits all, and then throws the first failure (so nothing is left running). */
async function settle<T>(promises: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

function vanished(what: string): ServinError {
  return new ServinError(
    "conflict",
    `${what} was removed by another command while this one ran: try again`,
  );
}

function parseJson<T = Record<string, unknown>>(bytes: Uint8Array, what: string, max: number): T {
  if (bytes.length > max) {
    throw new ServinError("limit-exceeded", `${what} is larger than ${max} bytes`);
  }
  try {
    const value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    if (value && typeof value === "object") return value as T;
  } catch { /* below */ }
  throw invalid(`${what} is not a JSON object`);
}

/** The digest (hex) of `digest`, or an error naming `what`. */
export function hexOf(digest: unknown, what: string): string {
  if (typeof digest !== "string" || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw invalid(`${what} has an unsupported digest "${digest}"`);
  }
  return digest.slice(7);
}

function checkBlob(desc: Descriptor | undefined, bytes: Uint8Array | undefined, what: string) {
  if (!desc || !bytes) throw invalid(`the manifest has no ${what.replace(/^the /, "")}`);
  const want = hexOf(desc.digest, what);
  const got = sha256Hex(bytes);
  if (got !== want) throw invalid(`${what} has digest sha256:${got}, expected sha256:${want}`);
  if (desc.size !== undefined && desc.size !== bytes.length) {
    throw invalid(`${what} has ${bytes.length} bytes, expected ${desc.size}`);
  }
}

function diffIdsOf(config: Record<string, unknown>): string[] {
  const ids = (config.rootfs as { diff_ids?: unknown } | undefined)?.diff_ids;
  if (!Array.isArray(ids)) throw invalid("the config has no rootfs.diff_ids");
  return ids.map((d, i) => hexOf(d, `diff_id ${i}`));
}

/** The compression of a layer's first bytes, `not-tar` when it is neither compressed nor a tar. */
function sniff(head: Uint8Array): string {
  // An empty blob is no tar (import says so of an empty file too), not a truncated one.
  if (head.length === 0) return "not-tar";
  const compression = detectCompression(head);
  if (compression !== "none") return compression;
  return isTarHeader(head) || head.every((b) => b === 0) ? "none" : "not-tar";
}

/**
 * Reads `stream` to its end, and then its digest as known: a layer the store
 * has is only verified. A wrong count is a bug, as in the store.
 */
async function drained(
  stream: ReadableStream<Uint8Array>,
  known: string | Promise<BlobInfo>,
): Promise<string> {
  let size = 0;
  for await (const chunk of stream) size += chunk.byteLength;
  if (typeof known === "string") return known;
  const { digest, size: hashed } = await known;
  if (hashed !== size) {
    throw new ServinError("internal", `a digest covers ${hashed} bytes, but ${size} were read`);
  }
  return digest;
}

/** `promise`, whose rejection is no longer unhandled when nobody awaits it (the failure surfaces elsewhere). */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** Reports input bytes as they are read, against the input's size when known. */
function countBytes(input: StreamInput, onProgress?: ProgressFn): ReadableStream<Uint8Array> {
  if (!onProgress) return input.stream;
  let read = 0;
  return input.stream.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        read += chunk.byteLength;
        onProgress(read, input.size);
        controller.enqueue(chunk);
      },
    }),
  );
}

/** Stores what {@link AppendOptions} describe (`servin.append`): a base image plus one step. */
export async function append(
  request: AppendOptions,
  context: IngestContext,
): Promise<ImageRecord> {
  const verb = request.verb ?? "commit";
  const history = { createdBy: request.history.created_by ?? "", comment: request.history.comment };
  const req: IngestRequest = { verb, input: "", platform: "", history, options: {} };
  return await new Ingest(req, context, 1).append(request);
}

/** Runs one ingest. */
export async function ingest(
  request: IngestRequest,
  context: IngestContext,
  parallel = 3,
): Promise<LoadedImage[]> {
  return await new Ingest(request, context, parallel).run();
}
