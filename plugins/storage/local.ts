/**
 * The `local` storage backend: `images/index.json` (atomic writes under an
 * exclusive lock), a content store under `images/blobs/sha256/` and a layer
 * store under `images/layers/<diff_id>/`. Work happens in `<root>/tmp/`; a
 * rename makes it visible, so a crash at any point leaves the index
 * consistent and the next writer sweeps what was left.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { ServinError } from "../../core/errors.ts";
import { type ImageRecord, sha256Hex } from "../../core/image.ts";
import type { ContainerRecord } from "../../core/container.ts";
import type {
  BlobTee,
  ImageStore,
  StagedBlob,
  StagedDir,
  StagedLayer,
  StageLayerOptions,
  StorageContext,
  StoreTransaction,
} from "../../core/kinds.ts";
import { definePlugin } from "../../core/registry.ts";
import { readTar } from "../formats/tar.ts";
import { unpack } from "./unpack.ts";

/** The built-in storage plugin. */
export function localStorage() {
  return definePlugin({
    name: "storage-local",
    setup(api) {
      api.storage({ name: "local", open: (ctx) => LocalStore.open(ctx) });
    },
  });
}

interface Staging {
  dir: string;
  lock: Deno.FsFile;
  lockPath: string;
}

/** Removes a tree, making read-only directories writable when that is what stops it. */
export async function removeTree(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    if (!(err instanceof Deno.errors.PermissionDenied)) throw err;
    await makeWritable(path);
    await Deno.remove(path, { recursive: true });
  }
}

async function makeWritable(dir: string): Promise<void> {
  await Deno.chmod(dir, 0o700);
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) await makeWritable(join(dir, e.name));
  }
}

class LocalStore implements ImageStore {
  readonly path: string;
  #ctx: StorageContext;
  #tmp: string;
  #index: string;
  #blobs: string;
  #layers: string;
  #containers: string;
  #containerIndex: string;
  #staged = new Map<string, Staging>();

  private constructor(ctx: StorageContext) {
    this.#ctx = ctx;
    this.path = join(ctx.root, "images");
    this.#tmp = join(ctx.root, "tmp");
    this.#index = join(this.path, "index.json");
    this.#blobs = join(this.path, "blobs", "sha256");
    this.#layers = join(this.path, "layers");
    this.#containers = join(ctx.root, "containers");
    this.#containerIndex = join(this.#containers, "index.json");
  }

  static async open(ctx: StorageContext): Promise<LocalStore> {
    const store = new LocalStore(ctx);
    try {
      await Deno.mkdir(ctx.root, { recursive: true, mode: 0o711 });
      for (const dir of [store.#blobs, store.#layers, store.#containers]) {
        await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      }
      await Deno.mkdir(store.#tmp, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new ServinError(
        "invalid-argument",
        `Cannot use "${ctx.root}" as the Servin root: ${err instanceof Error ? err.message : err}`,
      );
    }
    return store;
  }

  async list(): Promise<ImageRecord[]> {
    return await readIndex<ImageRecord>(this.#index);
  }

  async listContainers(): Promise<ContainerRecord[]> {
    return await readIndex<ContainerRecord>(this.#containerIndex);
  }

  layerPath(diffId: string): string {
    return join(this.#layers, diffId);
  }

  async removeTree(path: string): Promise<void> {
    await removeTree(path);
  }

  async hasLayer(diffId: string): Promise<boolean> {
    try {
      return (await Deno.lstat(join(this.#layers, diffId))).isDirectory;
    } catch {
      return false;
    }
  }

  async layerSize(diffId: string): Promise<number> {
    for (const img of await this.list()) {
      const size = img.layer_sizes?.[img.layers.indexOf(diffId)];
      if (size !== undefined) return size;
    }
    return 0;
  }

  blobPath(digest: string): string {
    return join(this.#blobs, digest);
  }

  stageBlob(source: ReadableStream<Uint8Array>): BlobTee {
    let resolve!: (blob: StagedBlob) => void;
    let reject!: (err: unknown) => void;
    const staged = new Promise<StagedBlob>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    staged.catch(() => {}); // the reader of `output` sees the same failure
    const stage = (prefix: string) => this.stage(prefix);
    const discardDir = (d: StagedDir) => this.discard(d);
    let file: Deno.FsFile | undefined;
    let dir: StagedDir | undefined;
    let path = "";
    const hash = createHash("sha256");
    let size = 0;
    const reader = source.getReader();
    const output = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          if (!file) {
            dir = await stage("blob-");
            path = join(dir.path, "blob");
            file = await Deno.open(path, { write: true, createNew: true });
          }
          const { done, value } = await reader.read();
          if (done) {
            file.close();
            resolve({ digest: hash.digest("hex"), size, path });
            controller.close();
            return;
          }
          hash.update(value);
          size += value.length;
          for (let off = 0; off < value.length;) off += await file.write(value.subarray(off));
          controller.enqueue(value);
        } catch (err) {
          file?.close();
          reject(err);
          controller.error(err);
        }
      },
      async cancel(reason) {
        file?.close();
        reject(reason ?? new Error("cancelled"));
        await reader.cancel(reason);
      },
    }, { highWaterMark: 0 });
    const discard = async () => {
      try {
        file?.close();
      } catch { /* closed already */ }
      if (dir) await discardDir(dir);
    };
    return { output, staged, discard };
  }

  async stage(prefix: string): Promise<StagedDir> {
    await this.#sweepStaging();
    const staging = await this.#stagingDir(prefix);
    this.#staged.set(staging.dir, staging);
    return { path: staging.dir };
  }

  async stageLayer(
    tar: ReadableStream<Uint8Array>,
    options: StageLayerOptions,
  ): Promise<StagedLayer> {
    await this.#sweepStaging();
    const staging = await this.#stagingDir("layer-");
    const hash = createHash("sha256");
    const known = options.knownDiffId;
    async function* hashed() {
      for await (const chunk of tar) {
        if (!known) hash.update(chunk);
        yield chunk;
      }
    }
    try {
      const stats = await unpack(readTar(hashed(), this.#ctx.limits), staging.dir, {
        platform: this.#ctx.platform,
        warn: this.#ctx.warn,
      });
      const layer = {
        diffId: known ?? hash.digest("hex"),
        size: stats.size,
        entries: stats.entries,
        path: staging.dir,
      };
      this.#staged.set(staging.dir, staging);
      return layer;
    } catch (err) {
      await tar.cancel().catch(() => {});
      await this.#release(staging);
      throw err;
    }
  }

  /**
   * A staging directory guarded by a locked `<dir>.lock`, so that sweepers
   * in other processes leave it alone while we live and clear it if we die.
   */
  async #stagingDir(prefix: string): Promise<Staging> {
    while (true) {
      const dir = join(this.#tmp, `${prefix}${crypto.randomUUID()}`);
      const lockPath = `${dir}.lock`;
      const lock = await Deno.open(lockPath, { write: true, createNew: true });
      await lock.lock(true);
      // A sweeper may have taken the lock file between its creation and our lock.
      if (!(await isSameFile(lock, lockPath))) {
        lock.close();
        continue;
      }
      await Deno.mkdir(dir, { mode: 0o700 });
      // A setgid parent would hand its group down to everything unpacked here.
      await Deno.chmod(dir, 0o700);
      return { dir, lock, lockPath };
    }
  }

  async #release(staging: Staging): Promise<void> {
    this.#staged.delete(staging.dir);
    await removeTree(staging.dir);
    staging.lock.close();
    await Deno.remove(staging.lockPath).catch(() => {});
  }

  async discard(staged: StagedLayer | StagedDir | StagedBlob): Promise<void> {
    // A staged blob is a file inside its own staging directory.
    const key = "digest" in staged && !("diffId" in staged) ? dirname(staged.path) : staged.path;
    const staging = this.#staged.get(key);
    if (staging) await this.#release(staging);
  }

  async transaction<T>(fn: (tx: StoreTransaction) => T | Promise<T>): Promise<T> {
    const lock = await Deno.open(join(this.path, "index.lock"), { write: true, create: true });
    try {
      await lock.lock(true);
      await this.#sweepTmp();
      const images = await readIndex<ImageRecord>(this.#index);
      const containers = await readIndex<ContainerRecord>(this.#containerIndex);
      const before = [JSON.stringify(images), JSON.stringify(containers)];
      const tx: StoreTransaction = {
        images,
        containers,
        commitLayer: (layer) => this.#commitLayer(layer),
        commitBlob: (blob) => this.#commitBlob(blob),
        commitContainer: (staged, id) => this.#commitContainer(staged, id),
        putBlob: (bytes) => this.#putBlob(bytes),
      };
      let result: T;
      try {
        result = await fn(tx);
      } catch (err) {
        await this.#collect(await this.list(), await this.listContainers());
        throw err;
      }
      const imagesChanged = JSON.stringify(images) !== before[0];
      const containersChanged = JSON.stringify(containers) !== before[1];
      if (imagesChanged) await this.#write(this.#index, images);
      if (containersChanged) await this.#write(this.#containerIndex, containers);
      if (imagesChanged || containersChanged) await this.#collect(images, containers);
      return result;
    } finally {
      lock.close();
    }
  }

  async #commitLayer(layer: StagedLayer): Promise<string> {
    const target = join(this.#layers, layer.diffId);
    try {
      await Deno.lstat(target);
      return target;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    await Deno.rename(layer.path, target);
    return target;
  }

  async #commitBlob(blob: StagedBlob): Promise<string> {
    const target = join(this.#blobs, blob.digest);
    if (!(await exists(target))) {
      await Deno.chmod(blob.path, 0o644);
      await Deno.rename(blob.path, target);
    }
    return blob.digest;
  }

  async #putBlob(bytes: Uint8Array): Promise<string> {
    const digest = sha256Hex(bytes);
    const target = join(this.#blobs, digest);
    try {
      await Deno.lstat(target);
      return digest;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    await atomicWrite(target, bytes, this.#tmp);
    return digest;
  }

  async #commitContainer(staged: StagedDir, id: string): Promise<string> {
    const target = join(this.#containers, id);
    await Deno.rename(staged.path, target);
    const staging = this.#staged.get(staged.path);
    if (staging) {
      this.#staged.delete(staged.path);
      staging.lock.close();
      await Deno.remove(staging.lockPath).catch(() => {});
    }
    return target;
  }

  async #write(path: string, records: unknown[]): Promise<void> {
    const text = JSON.stringify(records, null, 2) + "\n";
    await atomicWrite(path, new TextEncoder().encode(text), this.#tmp);
  }

  /** Deletes layers and blobs that no image or container uses. */
  async #collect(images: ImageRecord[], containers: ContainerRecord[]): Promise<void> {
    const layers = new Set([...images, ...containers].flatMap((r) => r.layers));
    const blobs = new Set(images.flatMap((img) => [img.id, ...(img.blobs ?? [])]));
    const doomed: string[] = [];
    for await (const e of Deno.readDir(this.#layers)) {
      if (!layers.has(e.name)) doomed.push(join(this.#layers, e.name));
    }
    for await (const e of Deno.readDir(this.#blobs)) {
      if (!blobs.has(e.name)) doomed.push(join(this.#blobs, e.name));
    }
    // A container directory outside the index is what a crash between its
    // removal from the index and its deletion left; it is never mounted then.
    const ids = new Set(containers.map((c) => c.id));
    for await (const e of Deno.readDir(this.#containers)) {
      if (e.isDirectory && !ids.has(e.name)) doomed.push(join(this.#containers, e.name));
    }
    for (const path of doomed) await removeTree(path);
  }

  /** Removes what crashed writers left: called under the index lock. */
  async #sweepTmp(): Promise<void> {
    for await (const e of Deno.readDir(this.#tmp)) {
      // Atomic writes happen under the index lock, which we hold: any left is garbage.
      if (e.name.startsWith("write-")) await Deno.remove(join(this.#tmp, e.name)).catch(() => {});
    }
    await this.#sweepStaging();
  }

  /** Removes staging left by processes that died (their staging locks are free). */
  async #sweepStaging(): Promise<void> {
    for await (const e of Deno.readDir(this.#tmp)) {
      if (!e.name.endsWith(".lock")) continue;
      const lockPath = join(this.#tmp, e.name);
      const file = await Deno.open(lockPath, { write: true }).catch(() => undefined);
      if (!file) continue;
      try {
        if (!(await file.tryLock(true)) || !(await isSameFile(file, lockPath))) continue;
        await removeTree(lockPath.slice(0, -".lock".length));
        await Deno.remove(lockPath).catch(() => {});
      } finally {
        file.close();
      }
    }
  }

  async close(): Promise<void> {
    for (const staging of [...this.#staged.values()]) await this.#release(staging);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Reads an index file (a JSON array); a missing file is an empty index. */
async function readIndex<T>(path: string): Promise<T[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new ServinError("internal", `The index "${path}" is not valid JSON`);
  }
  if (!Array.isArray(data)) {
    throw new ServinError("internal", `The index "${path}" is not a JSON array`);
  }
  return data as T[];
}

/** True when `path` still names the file `file` has open. */
async function isSameFile(file: Deno.FsFile, path: string): Promise<boolean> {
  const [a, b] = await Promise.all([file.stat(), Deno.stat(path).catch(() => undefined)]);
  return b !== undefined && a.ino === b.ino && a.dev === b.dev;
}

/** Writes `bytes` to `target` through a synced temporary file and a rename. */
async function atomicWrite(target: string, bytes: Uint8Array, tmpDir: string): Promise<void> {
  const tmp = await Deno.makeTempFile({ dir: tmpDir, prefix: "write-" });
  try {
    const file = await Deno.open(tmp, { write: true, truncate: true });
    try {
      let off = 0;
      while (off < bytes.length) off += await file.write(bytes.subarray(off));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.chmod(tmp, 0o644);
    await Deno.rename(tmp, target);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  await syncDir(target);
}

async function syncDir(path: string): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  try {
    const f = await Deno.open(dir, { read: true });
    try {
      await f.sync();
    } finally {
      f.close();
    }
  } catch {
    // Not every platform can fsync a directory; the rename is still atomic.
  }
}
