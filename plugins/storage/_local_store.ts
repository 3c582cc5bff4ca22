/**
 * The `local` store's work: blobs, layers, staging, index transactions,
 * garbage collection and `check`; imported by `local.ts` (the registration
 * module, which also lists the index) when a command first needs more than
 * the list of images.
 *
 * @module
 */

import { ServinError } from "../../core/errors.ts";
import type { ImageRecord } from "../../core/image.ts";
import { checkRecord } from "./record.ts";
import { type LocalStorageOptions, readIndex } from "./local.ts";
import type {
  ApplyOptions,
  BlobInfo,
  CheckOptions,
  ContentStore,
  Expected,
  ImageIndex,
  IndexTransaction,
  LayerInfo,
  LayerStore,
  Lease,
  Problem,
  StagedBlob,
  StagedLayer,
  StorageContext,
  Store,
} from "../../core/kinds.ts";
import { joinPath as join } from "../platform/_common.ts";
import {
  atomicWrite,
  doom,
  HEX64,
  lockExclusive,
  readJson,
  stage,
  type Staging,
  sweepStaging,
  sweepWrites,
  writeAll,
} from "./fs.ts";

/** The local store (see `local.ts` for its layout); `local.ts` makes its directories first. */
export class LocalStore implements Store {
  readonly content: ContentStore;
  readonly layers: LayerStore;
  readonly index: ImageIndex;
  #ctx: StorageContext;
  #options: LocalStorageOptions;
  #tmp: string;
  #indexPath: string;
  #leasesPath: string;
  #blobs: string;
  #layers: string;
  #staged = new Set<Staging>();
  #committed = new WeakSet<Staging>();
  #swept = false;
  #closed = false;
  #inflight = new Set<Promise<unknown>>();

  private constructor(ctx: StorageContext, options: LocalStorageOptions) {
    this.#ctx = ctx;
    this.#options = options;
    const images = join(ctx.root, "images");
    this.#tmp = join(ctx.root, "tmp");
    this.#indexPath = join(images, "index.json");
    this.#leasesPath = join(images, "leases.json");
    this.#blobs = join(images, "blobs", "sha256");
    this.#layers = join(images, "layers");
    this.content = {
      info: (digest) => this.#blobInfo(digest),
      read: (digest) => this.#readBlob(digest),
      ingest: (stream, expected) => this.#ingest(stream, expected),
      walk: () => this.#walkBlobs(),
    };
    this.layers = {
      info: (diffId) => this.#layerInfo(diffId),
      apply: (tar, opts) => this.#apply(tar, opts),
      mounts: (diffIds) => Promise.resolve(diffIds.map((d) => join(this.#layers, checkHex(d)))),
      walk: () => this.#walkLayers(),
    };
    this.index = {
      list: () => this.#list(),
      transaction: (fn) => this.#transaction(fn),
    };
  }

  /** Checks the store under the index lock (see `_check.ts`); with `repair`, removes what is broken. */
  async check(options?: CheckOptions): Promise<Problem[]> {
    const { checkLocalStore } = await import("./_check.ts");
    return await this.#locked(() =>
      checkLocalStore({
        store: this,
        indexPath: this.#indexPath,
        leasesPath: this.#leasesPath,
        blobs: this.#blobs,
        layers: this.#layers,
        tmp: this.#tmp,
        platform: this.#ctx.platform,
        warn: this.#ctx.warn,
        leases: () => this.#leases(),
        unpack: async (tar, label) => {
          // Warnings were given when the layer was imported.
          const staged = await this.#apply(tar, { label }, () => {});
          return [staged, (staged as unknown as { [STAGING]: Staging })[STAGING].path];
        },
        collect: (images, leases) => this.#collect(images, leases),
      }, options)
    );
  }

  /** The store under `ctx.root`, whose directories `local.ts` made. */
  static create(ctx: StorageContext, options: LocalStorageOptions): LocalStore {
    return new LocalStore(ctx, options);
  }

  // ------------------------------------------------------------ content

  async #blobInfo(digest: string): Promise<BlobInfo | undefined> {
    try {
      const stat = await Deno.lstat(join(this.#blobs, checkHex(digest)));
      return stat.isFile ? { digest, size: stat.size } : undefined;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    }
  }

  async #readBlob(digest: string): Promise<ReadableStream<Uint8Array>> {
    try {
      return (await Deno.open(join(this.#blobs, checkHex(digest)))).readable;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new ServinError("not-found", `blob sha256:${digest} is not in the store`);
      }
      throw err;
    }
  }

  async #ingest(stream: ReadableStream<Uint8Array>, expected: Expected = {}): Promise<StagedBlob> {
    const hash = expected.knownDigest ? undefined : await sha256();
    const staging = await this.#stagingDir("blob-");
    const path = join(staging.path, "blob");
    let size = 0;
    return await this.#discardable(staging, stream, async () => {
      const file = await Deno.open(path, { write: true, createNew: true, mode: 0o644 });
      try {
        for await (const chunk of stream) {
          size += chunk.length;
          if (expected.size !== undefined && size > expected.size) {
            throw new ServinError(
              "limit-exceeded",
              `blob ${
                expected.digest ? `sha256:${expected.digest} ` : ""
              }is larger than ${expected.size} bytes`,
            );
          }
          hash?.update(chunk);
          await writeAll(file, chunk);
        }
      } finally {
        file.close();
      }
      const digest = hash?.digest("hex") ?? await knownDigest(expected.knownDigest!, size, "blob");
      if (expected.digest && digest !== expected.digest) {
        throw new ServinError(
          "invalid-archive",
          `blob has digest sha256:${digest}, expected sha256:${expected.digest}`,
        );
      }
      if (expected.size !== undefined && size !== expected.size) {
        throw new ServinError(
          "invalid-archive",
          `blob sha256:${digest} has ${size} bytes, expected ${expected.size}`,
        );
      }
      return {
        kind: "blob" as const,
        digest,
        size,
        read: async () => (await Deno.open(path)).readable,
      };
    });
  }

  async *#walkBlobs(): AsyncIterable<BlobInfo> {
    for await (const e of Deno.readDir(this.#blobs)) {
      if (!HEX64.test(e.name)) continue;
      const info = await this.#blobInfo(e.name);
      if (info) yield info;
    }
  }

  // ------------------------------------------------------------ layers

  async #layerInfo(diffId: string): Promise<LayerInfo | undefined> {
    const marker = await readJson(this.#marker(checkHex(diffId)), undefined).catch(() => undefined);
    const size = (marker as { size?: unknown } | undefined)?.size;
    if (typeof size !== "number") return undefined;
    try {
      if (!(await Deno.lstat(join(this.#layers, diffId))).isDirectory) return undefined;
    } catch {
      return undefined;
    }
    return { diffId, size };
  }

  #marker(diffId: string): string {
    return join(this.#layers, `${diffId}.json`);
  }

  async #apply(
    tar: ReadableStream<Uint8Array>,
    options: ApplyOptions,
    warn = this.#ctx.warn,
  ): Promise<StagedLayer> {
    const known = options.knownDiffId;
    const hash = known ? undefined : await sha256();
    const staging = await this.#stagingDir("layer-");
    // Read through a reader of our own, so that a failure can cancel the stream.
    const reader = tar.getReader();
    const max = options.maxBytes ?? Infinity;
    let seen = 0;
    async function* hashed() {
      while (true) {
        const { done, value } = await reader.read();
        if (done) return;
        seen += value.length;
        if (seen > max) {
          throw new ServinError("limit-exceeded", `${options.label} is larger than ${max} bytes`);
        }
        hash?.update(value);
        yield value;
      }
    }
    return await this.#discardable(staging, reader, async () => {
      const [{ unpack }, { readTar }] = await Promise.all([
        import("../formats/extract.ts"),
        import("../formats/tar.ts"),
      ]);
      const topLevel = new Set<string>();
      const limits = this.#ctx.limits;
      const entries = async function* () {
        for await (const entry of readTar(hashed(), limits)) {
          if (topLevel.size < 100) {
            const top = entry.header.name.split("/").find((p) => p !== "" && p !== ".");
            if (top) topLevel.add(top);
          }
          yield entry;
        }
      };
      const stats = await unpack(entries(), staging.path, { platform: this.#ctx.platform, warn });
      return {
        kind: "layer",
        diffId: typeof known === "string"
          ? known
          : hash?.digest("hex") ?? await knownDigest(known!, seen, options.label),
        size: stats.size,
        entries: stats.entries,
        topLevel: [...topLevel],
      };
    });
  }

  /**
   * What `fill` staged in `staging`, made discardable; a failure cancels
   * `source` (so that its producer stops) and releases `staging`.
   */
  async #discardable<T extends Omit<StagedBlob, "discard"> | Omit<StagedLayer, "discard">>(
    staging: Staging,
    source: { cancel(reason?: unknown): Promise<void> },
    fill: () => Promise<T>,
  ): Promise<T & { discard(): Promise<void> }> {
    try {
      const staged = {
        ...(await fill()),
        discard: () => this.#release(staging),
        [STAGING]: staging,
      };
      return staged as T & { discard(): Promise<void> };
    } catch (err) {
      await source.cancel(err).catch(() => {});
      await this.#release(staging);
      throw err;
    }
  }

  async *#walkLayers(): AsyncIterable<LayerInfo> {
    for await (const e of Deno.readDir(this.#layers)) {
      if (!e.isDirectory || !HEX64.test(e.name)) continue;
      const info = await this.#layerInfo(e.name);
      if (info) yield info;
    }
  }

  // ------------------------------------------------------------ staging

  /** A staging directory whose lock keeps other processes' sweeps away while this one lives. */
  async #stagingDir(prefix: string): Promise<Staging> {
    await this.#sweepOnce();
    const staging = await this.#track(stage(this.#tmp, `${prefix}${crypto.randomUUID()}`));
    this.#staged.add(staging);
    // Closed meanwhile (a signal interrupts the command): nothing new is staged after close.
    if (this.#closed) {
      await this.#release(staging);
      throw new ServinError("conflict", "the store was closed while this command ran");
    }
    return staging;
  }

  /** Throws away a staged directory, or with `moved` only drops its lock (it was renamed away). */
  async #release(staging: Staging, moved = false): Promise<void> {
    if (!this.#staged.delete(staging)) return;
    await this.#track(moved ? staging.detach() : staging.release());
  }

  /** Keeps count of staging work under way, so that `close` can wait for it to end. */
  #track<T>(work: Promise<T>): Promise<T> {
    this.#inflight.add(work);
    work.finally(() => this.#inflight.delete(work)).catch(() => {});
    return work;
  }

  async #settle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  /**
   * Sweeps `tmp/` once per process, at its first staging or its first transaction (a removal
   * stages nothing): once, not per staging, since an archive of many members stages many blobs.
   */
  async #sweepOnce(): Promise<void> {
    if (this.#swept) return;
    this.#swept = true;
    await sweepStaging(this.#tmp);
  }

  // ------------------------------------------------------------ index

  async #list(): Promise<ImageRecord[]> {
    return await readIndex(this.#indexPath);
  }

  async #leases(): Promise<Record<string, Lease>> {
    const data = await readJson(this.#leasesPath, {});
    if (!data || typeof data !== "object" || Array.isArray(data)) {
      throw new ServinError("invalid-argument", `${this.#leasesPath} is not a JSON object`);
    }
    return data as Record<string, Lease>;
  }

  /** Runs `fn` under the index lock, once what killed commands left is swept. */
  async #locked<T>(fn: () => Promise<T>): Promise<T> {
    const lock = await lockExclusive(join(this.#ctx.root, "images", "index.lock"), {
      notice: this.#ctx.warn,
      timeoutMs: this.#options.lockTimeoutMs,
    });
    try {
      await this.#sweepOnce();
      await sweepWrites(join(this.#ctx.root, "images"));
      return await fn();
    } finally {
      lock.close();
    }
  }

  #transaction<T>(fn: (tx: IndexTransaction) => T | Promise<T>): Promise<T> {
    return this.#locked(async () => {
      const images = await this.#list();
      const leases = await this.#leases();
      const before = [JSON.stringify(images), JSON.stringify(leases)];
      // Commits take effect only when `fn` succeeds: a failed transaction changes nothing.
      const commits: (StagedBlob | StagedLayer)[] = [];
      const result = await fn({
        images,
        leases,
        commit: (staged) => {
          this.#checkCommittable(staged);
          commits.push(staged);
          return Promise.resolve();
        },
      });
      for (const staged of commits) await this.#commit(staged);
      const imagesChanged = JSON.stringify(images) !== before[0];
      const leasesChanged = JSON.stringify(leases) !== before[1];
      if (imagesChanged) {
        images.forEach((r) => checkRecord(r, this.#indexPath));
        await this.#write(this.#indexPath, JSON.stringify(images, null, 2));
      }
      if (leasesChanged) await this.#write(this.#leasesPath, JSON.stringify(leases, null, 2));
      // Garbage is collected only after a successful change, never after a failure.
      if (imagesChanged || leasesChanged) await this.#collect(images, leases);
      return result;
    });
  }

  async #write(path: string, text: string): Promise<void> {
    await atomicWrite(path, new TextEncoder().encode(text + "\n"));
  }

  #checkCommittable(staged: StagedBlob | StagedLayer): void {
    const staging = (staged as unknown as { [STAGING]?: Staging })[STAGING];
    if (!staging || (!this.#staged.has(staging) && !this.#committed.has(staging))) {
      throw new ServinError(
        "internal",
        "commit of something this store did not stage, or discarded",
      );
    }
  }

  async #commit(staged: StagedBlob | StagedLayer): Promise<void> {
    const staging = (staged as unknown as { [STAGING]?: Staging })[STAGING]!;
    if (this.#committed.has(staging)) return;
    this.#committed.add(staging);
    if (staged.kind === "blob") {
      const target = join(this.#blobs, staged.digest);
      if (!(await this.#blobInfo(staged.digest))) {
        await Deno.rename(join(staging.path, "blob"), target);
      }
      await this.#release(staging);
      return;
    }
    const target = join(this.#layers, staged.diffId);
    if (await this.#layerInfo(staged.diffId)) return await this.#release(staging);
    // A directory without its marker is what a crash left: never trusted, replaced.
    await doom(target, this.#tmp);
    await Deno.rename(staging.path, target);
    await this.#release(staging, true);
    const marker = JSON.stringify({ size: staged.size, entries: staged.entries });
    await atomicWrite(this.#marker(staged.diffId), new TextEncoder().encode(marker));
  }

  /** Deletes layers and blobs that no image and no lease uses: marker first, then out of place. */
  async #collect(images: ImageRecord[], leases: Record<string, Lease>): Promise<void> {
    const layers = new Set([
      ...images.flatMap((r) => r.layers),
      ...Object.values(leases).flatMap((l) => l.layers),
    ]);
    const blobs = new Set(images.flatMap((img) => [img.id, ...(img.blobs ?? [])]));
    for await (const e of Deno.readDir(this.#layers)) {
      const diffId = e.name.replace(/\.json$/, "");
      if (layers.has(diffId)) continue;
      if (e.name.endsWith(".json")) await Deno.remove(join(this.#layers, e.name)).catch(() => {});
      else {
        await Deno.remove(this.#marker(diffId)).catch(() => {});
        await doom(join(this.#layers, e.name), this.#tmp);
      }
    }
    for await (const e of Deno.readDir(this.#blobs)) {
      if (!blobs.has(e.name)) await doom(join(this.#blobs, e.name), this.#tmp);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    // A staging directory being made or thrown away right now is finished first (a signal
    // closes the store mid-import, and the process exits right after): no lock file is left.
    await this.#settle();
    for (const staging of [...this.#staged]) {
      // Work may still be writing into it (a signal closes the store mid-import): moved out of
      // its place first, nothing new can appear in the tree being removed.
      await doom(staging.path, this.#tmp);
      await this.#release(staging);
    }
    await this.#settle();
  }
}

const STAGING = Symbol("staging");

/** An incremental sha256, imported when bytes arrive: commands that only read the index skip it. */
async function sha256() {
  return (await import("../formats/digest.ts")).sha256Hasher();
}

/**
 * The digest a caller took of a stream this store read `size` bytes of; a
 * different count means that it hashed other bytes (a bug), never trusted.
 */
async function knownDigest(digest: Promise<BlobInfo>, size: number, what: string): Promise<string> {
  const known = await digest;
  if (known.size !== size) {
    throw new ServinError(
      "internal",
      `${what}: the digest given covers ${known.size} bytes, but ${size} were read`,
    );
  }
  return known.digest;
}

function checkHex(hex: string): string {
  if (!HEX64.test(hex)) throw new ServinError("invalid-argument", `Invalid digest "${hex}"`);
  return hex;
}
