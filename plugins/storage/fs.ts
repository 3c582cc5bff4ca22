/**
 * File-system helpers of the plugins that keep state under the root:
 * atomic writes (temporary file, fsync, rename, fsync of the directory),
 * crash-safe deletion (rename out of place first), and exclusive locks that
 * say who holds them.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { ServinError } from "../../core/errors.ts";

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

/**
 * Deletes `path` so that no reader ever sees half of it: it is renamed into
 * `tmpDir` first (where the next sweep finishes the job after a crash).
 */
export async function doom(path: string, tmpDir: string): Promise<void> {
  const grave = join(tmpDir, `doomed-${crypto.randomUUID()}`);
  try {
    await Deno.rename(path, grave);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  await removeTree(grave);
}

/** Writes `bytes` to `target` through a synced temporary file in `tmpDir` and a rename. */
export async function atomicWrite(
  target: string,
  bytes: Uint8Array,
  tmpDir: string,
): Promise<void> {
  const tmp = await Deno.makeTempFile({ dir: tmpDir, prefix: "write-" });
  try {
    const file = await Deno.open(tmp, { write: true, truncate: true });
    try {
      await writeAll(file, bytes);
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
  await syncDir(dirname(target));
}

/** Writes all of `bytes`. */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await file.write(bytes.subarray(off));
}

async function syncDir(dir: string): Promise<void> {
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

/** Reads a JSON array file; a missing file is an empty array. */
export async function readJsonArray(path: string): Promise<unknown[]> {
  const data = await readJson(path, []);
  if (!Array.isArray(data)) {
    throw new ServinError("invalid-argument", `${path} is not a JSON array`);
  }
  return data;
}

/** Reads a JSON file; `fallback` when it is missing. */
export async function readJson(path: string, fallback: unknown): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return fallback;
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ServinError("invalid-argument", `${path} is not valid JSON`);
  }
}

/** True when `path` still names the file `file` has open. */
export async function isSameFile(file: Deno.FsFile, path: string): Promise<boolean> {
  const [a, b] = await Promise.all([file.stat(), Deno.stat(path).catch(() => undefined)]);
  return b !== undefined && a.ino === b.ino && a.dev === b.dev;
}

/** Options of {@link lockExclusive}. */
export interface LockOptions {
  /** Says who waits for whom, once, after `noticeMs` (default 2 s). */
  notice?: (message: string) => void;
  /** Gives up after this long (default 5 minutes). */
  timeoutMs?: number;
  /** Delay before the notice. */
  noticeMs?: number;
}

/**
 * Takes an exclusive lock on `path` (created when missing) and writes this
 * process's PID into it, so that a waiter can say who holds it. Returns the
 * open file; closing it releases the lock.
 */
export async function lockExclusive(path: string, options: LockOptions = {}): Promise<Deno.FsFile> {
  const file = await Deno.open(path, { read: true, write: true, create: true });
  const start = Date.now();
  let told = false;
  try {
    while (!(await file.tryLock(true))) {
      const waited = Date.now() - start;
      if (!told && waited >= (options.noticeMs ?? 2000)) {
        told = true;
        const holder = (await Deno.readTextFile(path).catch(() => "")).trim();
        options.notice?.(
          `waiting for the store lock held by ${holder ? `PID ${holder}` : "another process"}`,
        );
      }
      if (waited >= (options.timeoutMs ?? 300_000)) {
        throw new ServinError(
          "conflict",
          `Gave up waiting for the store lock (${path}) after ${Math.round(waited / 1000)} s`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await file.truncate(0);
    await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
    return file;
  } catch (err) {
    file.close();
    throw err;
  }
}
