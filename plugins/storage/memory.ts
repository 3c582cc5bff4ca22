/**
 * The `memory` storage backend: blobs, layers and the image index held in
 * maps, gone when the process ends. It keeps the contracts the `local`
 * backend keeps (digests and sizes checked while streaming, nothing visible
 * until a transaction commits it, serialised transactions, collection of
 * what nothing references), so library users can test code of their own
 * against a store without a directory, and the contracts are proved free of
 * paths. Layers are parsed with the same tar reader and checked by the same
 * rules as on disk (the extractor's `LayerRules`), so they are refused for
 * the same hostile entries with the same words; having no directories, they
 * cannot be mounted.
 *
 * @example
 * ```ts
 * import { openServin } from "../../mod.ts";
 * import { memoryStorage } from "./memory.ts";
 *
 * const servin = await openServin({ plugins: [memoryStorage()], storage: "memory" });
 * try {
 *   console.log((await servin.listImages()).length); // 0
 * } finally {
 *   await servin.close();
 * }
 * ```
 *
 * @module
 */

import { ServinError } from "../../core/errors.ts";
import type { ImageRecord } from "../../core/image.ts";
import { checkRecord } from "./record.ts";
import type * as kinds from "../../core/kinds.ts";
import { definePlugin, type Plugin } from "../../core/registry.ts";
import type { EntryKind, LayerRules } from "../formats/extract.ts";
import type { TarHeader } from "../formats/tar.ts";

/**
 * The memory storage plugin: registers the `memory` backend. Each store it
 * opens starts empty and ignores `root`; choose it with `storage: "memory"`.
 */
export function memoryStorage(): Plugin {
  return definePlugin({
    name: "storage-memory",
    setup(api) {
      api.provide("storage", {
        name: "memory",
        open: (context: kinds.StorageContext) => Promise.resolve(new MemoryStore(context.limits)),
      });
    },
  });
}

/** One entry of a stored layer: its tar header, and its bytes when it is a regular file. */
interface LayerFile {
  header: TarHeader;
  data?: Uint8Array;
}

interface MemoryLayer extends kinds.LayerInfo {
  /** Entries in the layer tar. */
  entries: number;
  /** Entries by confined path (`""` is the root directory). */
  files: Map<string, LayerFile>;
}

/** What a staged handle stands for; `state` says whether it may still be committed. */
type Payload =
  & { state: "staged" | "committed" | "discarded" }
  & ({ kind: "blob"; digest: string; bytes: Uint8Array<ArrayBuffer> } | {
    kind: "layer";
    layer: MemoryLayer;
  });

const HEX64 = /^[0-9a-f]{64}$/;

function internal(message: string): ServinError {
  return new ServinError("internal", message);
}

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function concat(chunks: Uint8Array[], size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

class MemoryStore implements kinds.Store {
  readonly content: kinds.ContentStore;
  readonly layers: kinds.LayerStore;
  readonly index: kinds.ImageIndex;
  #limits: kinds.Limits;
  #blobs = new Map<string, Uint8Array<ArrayBuffer>>();
  #layers = new Map<string, MemoryLayer>();
  #images: ImageRecord[] = [];
  #leases: Record<string, kinds.Lease> = {};
  /** Handles this store gave out, and what they stand for (only ours can be committed). */
  #payloads = new WeakMap<object, Payload>();
  /** Payloads still staged, for `close`. */
  #staged = new Set<Payload>();
  /** Tail of the transaction queue: each transaction starts when the one before settled. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(limits: kinds.Limits) {
    this.#limits = limits;
    this.content = {
      info: (digest) => Promise.resolve(this.#blobInfo(digest)),
      read: (digest) => this.#read(digest),
      ingest: (stream, expected) => this.#ingest(stream, expected),
      walk: () => this.#walkBlobs(),
    };
    this.layers = {
      info: (diffId) => Promise.resolve(this.#layerInfo(diffId)),
      apply: (tar, options) => this.#apply(tar, options),
      mounts: (diffIds) => this.#mounts(diffIds),
      walk: () => this.#walkLayers(),
    };
    this.index = {
      list: () => Promise.resolve(clone(this.#images)),
      transaction: (fn) => this.#transaction(fn),
    };
  }

  #blobInfo(digest: string): kinds.BlobInfo | undefined {
    const bytes = this.#blobs.get(digest);
    return bytes && { digest, size: bytes.length };
  }

  #read(digest: string): Promise<ReadableStream<Uint8Array>> {
    const bytes = this.#blobs.get(digest);
    if (!bytes) {
      return Promise.reject(new ServinError("not-found", `No such blob: sha256:${digest}`));
    }
    // Stored bytes are never changed in place, so readers can share them.
    return Promise.resolve(new Blob([bytes]).stream());
  }

  async *#walkBlobs(): AsyncIterable<kinds.BlobInfo> {
    for (const [digest, bytes] of [...this.#blobs]) yield { digest, size: bytes.length };
  }

  #layerInfo(diffId: string): kinds.LayerInfo | undefined {
    const layer = this.#layers.get(diffId);
    return layer && { diffId, size: layer.size };
  }

  async *#walkLayers(): AsyncIterable<kinds.LayerInfo> {
    for (const layer of [...this.#layers.values()]) {
      yield { diffId: layer.diffId, size: layer.size };
    }
  }

  async #ingest(
    stream: ReadableStream<Uint8Array>,
    expected: kinds.Expected = {},
  ): Promise<kinds.StagedBlob> {
    if (expected.digest !== undefined && !HEX64.test(expected.digest)) {
      throw new ServinError("invalid-argument", `Invalid sha256 digest "${expected.digest}"`);
    }
    const hash = await sha256();
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = stream.getReader();
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.length;
        // Checked before keeping anything, so an endless stream costs at most one chunk more.
        if (expected.size !== undefined && size > expected.size) {
          throw new ServinError(
            "limit-exceeded",
            `the blob${describe(expected)} is longer than the ${expected.size} bytes expected`,
          );
        }
        hash.update(value);
        // A producer may reuse its buffer once read returns.
        chunks.push(value.slice());
      }
    } catch (err) {
      await reader.cancel(err).catch(() => {});
      throw err;
    } finally {
      reader.releaseLock();
    }
    // A digest known elsewhere is not used (hashing in memory is as quick), but
    // its failure is the stream's: the bytes' producer failed.
    await expected.knownDigest;
    const digest = hash.digest("hex");
    if (expected.size !== undefined && size !== expected.size) {
      throw new ServinError(
        "invalid-archive",
        `the blob${describe(expected)} has ${size} bytes, expected ${expected.size}`,
      );
    }
    if (expected.digest !== undefined && digest !== expected.digest) {
      throw new ServinError(
        "invalid-archive",
        `the blob has digest sha256:${digest}, expected sha256:${expected.digest}`,
      );
    }
    const payload: Payload = { state: "staged", kind: "blob", digest, bytes: concat(chunks, size) };
    const staged: kinds.StagedBlob = {
      kind: "blob",
      digest,
      size,
      read: () =>
        payload.state === "discarded"
          ? Promise.reject(internal(`read of the discarded blob sha256:${digest}`))
          : Promise.resolve(new Blob([payload.bytes]).stream()),
      discard: () => Promise.resolve(this.#discard(payload)),
    };
    return this.#stage(staged, payload);
  }

  async #apply(
    tar: ReadableStream<Uint8Array>,
    options: kinds.ApplyOptions,
  ): Promise<kinds.StagedLayer> {
    // A digest still to come is not waited for: hashing here is as quick in memory.
    const known = typeof options.knownDiffId === "string" ? options.knownDiffId : undefined;
    const hash = known === undefined ? await sha256() : undefined;
    const max = options.maxBytes;
    let bytes = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const chunk of tar) {
        bytes += chunk.length;
        if (max !== undefined && bytes > max) {
          throw new ServinError(
            "limit-exceeded",
            `the layer of "${options.label}" is larger than ${max} bytes`,
          );
        }
        hash?.update(chunk);
        yield chunk;
      }
    }
    const source = counted();
    let layer: MemoryLayer;
    try {
      // The tar reader and the extractor's rules are imported when a layer arrives.
      const [{ readTar }, { LayerRules }] = await Promise.all([
        import("../formats/tar.ts"),
        import("../formats/extract.ts"),
      ]);
      const files = await unpackInMemory(readTar(source, this.#limits), new LayerRules());
      layer = { diffId: known ?? hash!.digest("hex"), ...files };
    } catch (err) {
      // Ends the loop over `tar`, which cancels it: nothing more is read.
      await source.return(undefined).catch(() => {});
      throw err;
    }
    const payload: Payload = { state: "staged", kind: "layer", layer };
    const staged: kinds.StagedLayer = {
      kind: "layer",
      diffId: layer.diffId,
      size: layer.size,
      entries: layer.entries,
      topLevel: [...new Set([...layer.files.keys()].map((n) => n.split("/")[0]!))].slice(0, 100),
      discard: () => Promise.resolve(this.#discard(payload)),
    };
    return this.#stage(staged, payload);
  }

  #mounts(diffIds: readonly string[]): Promise<string[]> {
    // No layers need no directories: a container from the fallback rootfs still works.
    if (diffIds.length === 0) return Promise.resolve([]);
    return Promise.reject(
      new ServinError("unsupported", "the memory store has no layer directories"),
    );
  }

  #stage<T extends kinds.StagedBlob | kinds.StagedLayer>(staged: T, payload: Payload): T {
    this.#payloads.set(staged, payload);
    this.#staged.add(payload);
    return staged;
  }

  #discard(payload: Payload): void {
    if (payload.state !== "staged") return;
    payload.state = "discarded";
    this.#staged.delete(payload);
    // Drops the bytes now, even while the caller still holds the handle.
    if (payload.kind === "blob") payload.bytes = new Uint8Array(0);
    else payload.layer.files.clear();
  }

  #transaction<T>(fn: (tx: kinds.IndexTransaction) => T | Promise<T>): Promise<T> {
    const run = this.#queue.then(() => this.#run(fn));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #run<T>(fn: (tx: kinds.IndexTransaction) => T | Promise<T>): Promise<T> {
    const pending: Payload[] = [];
    let open = true;
    const tx: kinds.IndexTransaction = {
      images: clone(this.#images),
      leases: clone(this.#leases),
      commit: (staged) => {
        const payload = this.#payloads.get(staged);
        if (!open) return Promise.reject(internal("commit called after its transaction ended"));
        if (!payload) {
          return Promise.reject(internal("commit of something this store did not stage"));
        }
        if (payload.state === "discarded") {
          return Promise.reject(internal(`commit of a discarded ${payload.kind}`));
        }
        // Applied when `fn` returns, so that a transaction that throws leaves no trace.
        pending.push(payload);
        return Promise.resolve();
      },
    };
    let result: T;
    let images: ImageRecord[];
    let leases: Record<string, kinds.Lease>;
    try {
      result = await fn(tx);
      // Cloned again so that the caller's objects never alias the index.
      images = clone(tx.images).map((r) => checkRecord(r, "the memory store's index"));
      leases = clone(tx.leases);
    } finally {
      open = false;
    }
    for (const payload of pending) {
      if (payload.state !== "staged") continue;
      if (payload.kind === "blob") {
        if (!this.#blobs.has(payload.digest)) this.#blobs.set(payload.digest, payload.bytes);
      } else if (!this.#layers.has(payload.layer.diffId)) {
        this.#layers.set(payload.layer.diffId, payload.layer);
      }
      payload.state = "committed";
      this.#staged.delete(payload);
    }
    this.#images = images;
    this.#leases = leases;
    this.#collect();
    return result;
  }

  /** Deletes blobs and layers that no image and no lease references. */
  #collect(): void {
    const blobs = new Set<string>();
    const layers = new Set<string>();
    for (const img of this.#images) {
      blobs.add(img.id);
      if (img.manifest) blobs.add(img.manifest);
      for (const b of img.blobs ?? []) blobs.add(b);
      for (const l of img.layers) layers.add(l);
    }
    for (const lease of Object.values(this.#leases)) for (const l of lease.layers) layers.add(l);
    for (const digest of [...this.#blobs.keys()]) {
      if (!blobs.has(digest)) this.#blobs.delete(digest);
    }
    for (const id of [...this.#layers.keys()]) if (!layers.has(id)) this.#layers.delete(id);
  }

  close(): Promise<void> {
    for (const payload of [...this.#staged]) this.#discard(payload);
    return Promise.resolve();
  }
}

function describe(expected: kinds.Expected): string {
  return expected.digest === undefined ? "" : ` sha256:${expected.digest}`;
}

/** An incremental sha256, imported when bytes arrive (as the local backend does). */
async function sha256() {
  return (await import("../formats/digest.ts")).sha256Hasher();
}

/**
 * Applies tar entries to a map under the extractor's {@link LayerRules}, so
 * that a layer the disk would refuse is refused here, with the same words.
 * Whiteouts are kept as their `.wh.` files, as on a platform without
 * overlayfs.
 */
async function unpackInMemory(
  entries: AsyncIterable<{ header: TarHeader; body: AsyncIterable<Uint8Array> }>,
  rules: LayerRules,
): Promise<{ files: Map<string, LayerFile>; size: number; entries: number }> {
  const files = new Map<string, LayerFile>();
  let size = 0;
  let count = 0;

  /** Records `kind` at `rel`, dropping what was there (a directory with everything under it). */
  const replace = (rel: string, kind: EntryKind) => {
    if (rules.replace(rel, kind) === "dir") {
      for (const key of [...files.keys()]) if (key.startsWith(`${rel}/`)) files.delete(key);
    }
    files.delete(rel);
  };

  for await (const { header: h, body } of entries) {
    const { rel, link, whiteout } = rules.check(h);
    count++;
    if (whiteout.kind === "void") continue; // nothing left to delete
    switch (h.type) {
      case "dir":
        if (rules.kind(rel) !== "dir") replace(rel, "dir");
        files.set(rel, { header: h });
        break;
      case "file": {
        replace(rel, "file");
        const chunks: Uint8Array[] = [];
        for await (const chunk of body) chunks.push(chunk.slice());
        size += h.size;
        files.set(rel, { header: h, data: concat(chunks, h.size) });
        break;
      }
      case "link":
        if (link!.target === rel) break;
        replace(rel, link!.kind);
        files.set(rel, { header: { ...h, linkname: link!.target } });
        break;
      default:
        replace(rel, h.type === "symlink" ? "symlink" : "other");
        files.set(rel, { header: h });
    }
  }
  return { files, size, entries: count };
}
