/**
 * File-system helpers of the plugins that keep state under the root (the
 * local store, the container service): atomic writes (a synced temporary
 * file beside the target, renamed over it, then the directory synced),
 * crash-safe deletion (rename out of place first), exclusive locks that say
 * who holds them, JSON index files changed only under such a lock, and
 * staging directories in `<root>/tmp/` guarded by a locked `<dir>.lock`, so
 * that a sweep in another process clears what a dead process left and never
 * touches live work. Also the reading of a file a user names (a policy, a
 * profile, a key) with a one-line error.
 *
 * @module
 */

import { type ErrorCode, ServinError } from "../../core/errors.ts";
import { joinPath as join } from "../platform/_common.ts";
import { readJson, readJsonArray } from "./record.ts";

// Here too for the modules that read and write state files: `record.ts` holds them so that
// listing the images does not load the write paths.
export { readJson, readJsonArray };

/** A sha256 digest in lowercase hex, as the store names blobs and layers. */
export const HEX64 = /^[0-9a-f]{64}$/;

/**
 * True when `path` exists (as `stat` sees it, or `lstat` when `follow` is
 * false: a dangling symlink exists); false on any error, such as a denied parent.
 */
export function pathExists(path: string, follow = true): boolean {
  try {
    if (follow) Deno.statSync(path);
    else Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Removes a tree, making read-only directories writable when that is what stops it. */
export async function removeTree(path: string): Promise<void> {
  for (let attempt = 1;; attempt++) {
    try {
      await Deno.remove(path, { recursive: true });
      return;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      // A writer under way when the tree was doomed (an import a signal stopped) can add an
      // entry while the tree is removed; its next call fails, so a new pass finishes the job.
      if ((err as { code?: string }).code === "ENOTEMPTY" && attempt < 5) {
        await new Promise((r) => setTimeout(r, 20 * attempt));
        continue;
      }
      if (!(err instanceof Deno.errors.PermissionDenied)) throw err;
      await makeWritable(path);
      await Deno.remove(path, { recursive: true });
      return;
    }
  }
}

async function makeWritable(dir: string): Promise<void> {
  await Deno.chmod(dir, 0o700);
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) await makeWritable(join(dir, e.name));
  }
}

const DOOMED = "doomed-";

/**
 * Deletes `path` so that no reader ever sees half of it: it is renamed into
 * `tmpDir` first (where the next sweep finishes the job after a crash).
 */
export async function doom(path: string, tmpDir: string): Promise<void> {
  const grave = join(tmpDir, `${DOOMED}${crypto.randomUUID()}`);
  try {
    await Deno.rename(path, grave);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  await removeTree(grave);
}

const TEMP_PREFIX = ".write-";

/**
 * Writes `bytes` to `target` through a synced temporary file beside it
 * (`.write-<name>-*`, cleared by the owner's sweep after a crash) and a rename.
 */
export async function atomicWrite(target: string, bytes: Uint8Array): Promise<void> {
  const dir = parentDir(target);
  const tmp = await Deno.makeTempFile({ dir, prefix: `${TEMP_PREFIX}${baseName(target)}-` });
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
  await syncDir(dir);
}

/** Removes the temporary files of atomic writes into `dir` that a dead writer left. */
export async function sweepWrites(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.startsWith(TEMP_PREFIX)) {
      await Deno.remove(join(dir, e.name)).catch(() => {});
    }
  }
}

/** Where `path` splits into its directory and its last name, after trailing separators. */
function splitPath(path: string): { trimmed: string; cut: number } {
  const trimmed = path.replace(/[\\/]+$/, "") || path.slice(0, 1);
  const cut = Math.max(
    trimmed.lastIndexOf("/"),
    Deno.build.os === "windows" ? trimmed.lastIndexOf("\\") : -1,
  );
  return { trimmed, cut };
}

/** `node:path`'s dirname, without starting Node's compatibility layer (as every start would). */
function parentDir(path: string): string {
  const { trimmed, cut } = splitPath(path);
  return cut < 0 ? "." : cut === 0 ? trimmed.slice(0, 1) : trimmed.slice(0, cut);
}

/** `node:path`'s basename, likewise. */
function baseName(path: string): string {
  const { trimmed, cut } = splitPath(path);
  return trimmed.slice(cut + 1);
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

/**
 * Bytes of the regular files under `dir`, hardlinked files counted once,
 * symlinks not followed; 0 for what is not there (removed meanwhile, or
 * never made).
 */
export async function treeBytes(dir: string): Promise<number> {
  const seen = new Set<string>();
  const dirs = [dir];
  let bytes = 0;
  for (let d = dirs.pop(); d !== undefined; d = dirs.pop()) {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(d));
    } catch {
      continue;
    }
    for (const e of entries) {
      const path = join(d, e.name);
      if (e.isDirectory) {
        dirs.push(path);
        continue;
      }
      const info = await Deno.lstat(path).catch(() => undefined);
      if (!info?.isFile) continue;
      const key = `${info.dev}:${info.ino}`;
      if ((info.nlink ?? 1) > 1 && seen.has(key)) continue;
      seen.add(key);
      bytes += info.size;
    }
  }
  return bytes;
}

/**
 * The text of the file at `path`, which a user named; otherwise the error
 * `Cannot read WHAT: no such file` (code `missing`), or with the system's
 * reason (`invalid-argument`).
 */
export async function readText(
  path: string,
  what: string,
  missing: ErrorCode = "invalid-argument",
): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    const notFound = err instanceof Deno.errors.NotFound;
    throw new ServinError(
      notFound ? missing : "invalid-argument",
      `Cannot read ${what}: ${notFound ? "no such file" : (err as Error).message}`,
    );
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

/** Checks one record read from an index file; throws a clear error when it is not one. */
export type RecordCheck<T> = (value: unknown, where: string) => T;

/** A JSON array of records in one file: `read` without the lock, `transaction` under it. */
export class IndexFile<T> {
  #path: string;
  #lockPath: string;
  #check: RecordCheck<T>;
  #lock: LockOptions;

  /** The index at `path`, locked through `lockPath`; every record read goes through `check`. */
  constructor(path: string, lockPath: string, check: RecordCheck<T>, lock: LockOptions = {}) {
    this.#path = path;
    this.#lockPath = lockPath;
    this.#check = check;
    this.#lock = lock;
  }

  /** The records (none when the file does not exist yet). */
  async read(): Promise<T[]> {
    return (await readJsonArray(this.#path)).map((r) => this.#check(r, this.#path));
  }

  /**
   * Runs `fn` on the records under the exclusive lock; when it returns and
   * the records changed, they are written atomically. When `fn` throws,
   * nothing is written.
   */
  async transaction<R>(fn: (records: T[]) => R | Promise<R>): Promise<R> {
    const lock = await lockExclusive(this.#lockPath, this.#lock);
    try {
      await sweepWrites(parentDir(this.#path));
      const records = await this.read();
      const before = JSON.stringify(records);
      const result = await fn(records);
      if (JSON.stringify(records) !== before) {
        await atomicWrite(
          this.#path,
          new TextEncoder().encode(JSON.stringify(records, null, 2) + "\n"),
        );
      }
      return result;
    } finally {
      lock.close();
    }
  }
}

/** A directory staged in `<root>/tmp/`. */
export interface Staging {
  /** The directory. */
  readonly path: string;
  /** Deletes the directory (whatever is left at its path) and drops the lock. */
  release(): Promise<void>;
  /** Drops the lock of a directory that was renamed away (nothing is left to sweep). */
  detach(): Promise<void>;
}

/** Makes `<tmp>/<name>` (mode 0700) under a lock; `name` must be fresh (it carries a random ID). */
export async function stage(tmp: string, name: string): Promise<Staging> {
  const path = join(tmp, name);
  const lockPath = `${path}.lock`;
  const lock = await lockNew(lockPath);
  try {
    await Deno.mkdir(path, { mode: 0o700 });
    // A setgid parent would hand its group down to what is made here.
    await Deno.chmod(path, 0o700);
  } catch (err) {
    lock.close();
    await Deno.remove(lockPath).catch(() => {});
    throw err;
  }
  let open = true;
  const drop = async () => {
    if (!open) return;
    open = false;
    lock.close();
    await Deno.remove(lockPath).catch(() => {});
  };
  return {
    path,
    async release() {
      if (!open) return;
      await removeTree(path);
      await drop();
    },
    detach: drop,
  };
}

/** Creates and locks `lockPath`, which must not exist. */
async function lockNew(lockPath: string): Promise<Deno.FsFile> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const file = await Deno.open(lockPath, { write: true, createNew: true });
    await file.lock(true);
    // A sweeper that found the file before we locked it deletes it: the lock
    // would then guard nothing, so make it again.
    if (await isSameFile(file, lockPath)) return file;
    file.close();
  }
  throw new Deno.errors.AlreadyExists(`Cannot lock "${lockPath}": it keeps being swept`);
}

/**
 * Clears what dead processes left in `tmp`: staged directories whose lock is
 * free (all, or those whose names start with one of `prefixes`), and
 * directories doomed by a deletion that was cut short.
 */
export async function sweepStaging(tmp: string, prefixes?: readonly string[]): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(tmp));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  for (const e of entries) {
    const path = join(tmp, e.name);
    if (e.name.startsWith(DOOMED)) {
      await removeTree(path).catch(() => {});
      continue;
    }
    if (!e.name.endsWith(".lock") || (prefixes && !prefixes.some((p) => e.name.startsWith(p)))) {
      continue;
    }
    const file = await Deno.open(path, { write: true }).catch(() => undefined);
    if (!file) continue;
    try {
      if (!(await file.tryLock(true)) || !(await isSameFile(file, path))) continue;
      await removeTree(path.slice(0, -".lock".length));
      await Deno.remove(path).catch(() => {});
    } finally {
      file.close();
    }
  }
}

/** True while some process holds the lock of `<tmp>/<name>` (its work is going on). */
export async function isStaged(tmp: string, name: string): Promise<boolean> {
  const file = await Deno.open(join(tmp, `${name}.lock`), { write: true }).catch(() => undefined);
  if (!file) return false;
  try {
    return !(await file.tryLock(true));
  } finally {
    file.close();
  }
}
