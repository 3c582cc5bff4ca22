/**
 * A JSON array of records in one file, changed only under an exclusive lock
 * and written atomically (a synced temporary file renamed over it, then the
 * directory synced), so readers without the lock always see a whole
 * version and a crash leaves the last one.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { ServinError } from "../../core/errors.ts";

const TEMP_PREFIX = ".write-";

/** Checks one record read from the file; throws a clear error when it is not one. */
export type RecordCheck<T> = (value: unknown, where: string) => T;

/** An index file: `read` without the lock, `transaction` under it. */
export class IndexFile<T> {
  #path: string;
  #lockPath: string;
  #check: RecordCheck<T>;

  /** The index at `path`, locked through `lockPath`; every record read goes through `check`. */
  constructor(path: string, lockPath: string, check: RecordCheck<T>) {
    this.#path = path;
    this.#lockPath = lockPath;
    this.#check = check;
  }

  /** The records (none when the file does not exist yet). */
  async read(): Promise<T[]> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.#path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return [];
      throw err;
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new ServinError("invalid-argument", `The index "${this.#path}" is not valid JSON`);
    }
    if (!Array.isArray(data)) {
      throw new ServinError("invalid-argument", `The index "${this.#path}" is not a JSON array`);
    }
    return data.map((r) => this.#check(r, `The index "${this.#path}"`));
  }

  /**
   * Runs `fn` on the records under the exclusive lock; when it returns and
   * the records changed, they are written atomically. When `fn` throws,
   * nothing is written.
   */
  async transaction<R>(fn: (records: T[]) => R | Promise<R>): Promise<R> {
    const lock = await Deno.open(this.#lockPath, { write: true, create: true });
    try {
      await lock.lock(true);
      await this.#sweep();
      const records = await this.read();
      const before = JSON.stringify(records);
      const result = await fn(records);
      const after = JSON.stringify(records, null, 2);
      if (JSON.stringify(records) !== before) {
        await atomicWrite(this.#path, new TextEncoder().encode(after + "\n"));
      }
      return result;
    } finally {
      lock.close();
    }
  }

  /** Temporary files of writers that died (writes happen under the lock, which we hold). */
  async #sweep(): Promise<void> {
    const dir = dirname(this.#path);
    const prefix = `${TEMP_PREFIX}${basename(this.#path)}`;
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.startsWith(prefix)) {
        await Deno.remove(join(dir, e.name)).catch(() => {});
      }
    }
  }
}

/** Writes `bytes` to `target` through a synced temporary file beside it and a rename. */
export async function atomicWrite(target: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(target);
  const tmp = await Deno.makeTempFile({ dir, prefix: `${TEMP_PREFIX}${basename(target)}-` });
  try {
    const file = await Deno.open(tmp, { write: true, truncate: true });
    try {
      for (let off = 0; off < bytes.length;) off += await file.write(bytes.subarray(off));
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
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  let f: Deno.FsFile;
  try {
    f = await Deno.open(dir, { read: true });
  } catch {
    return; // Not every platform opens a directory; the rename is still atomic.
  }
  try {
    await f.sync();
  } catch {
    // Not every platform can fsync a directory; the rename is still atomic.
  } finally {
    f.close();
  }
}
