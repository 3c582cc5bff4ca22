/**
 * Work directories in `<root>/tmp/`, each guarded by a locked `<dir>.lock`:
 * sweepers in other processes leave a directory alone while its owner
 * lives and clear it once the owner died (its lock is free). The image
 * store stages the same way, so either side's sweep clears the other's
 * leftovers and never touches live work.
 *
 * @module
 */

import { join } from "node:path";

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

/** Clears what dead processes left in `tmp` under names starting with one of `prefixes`. */
export async function sweepStaging(tmp: string, prefixes: readonly string[]): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(tmp));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  for (const e of entries) {
    if (!e.name.endsWith(".lock") || !prefixes.some((p) => e.name.startsWith(p))) continue;
    const lockPath = join(tmp, e.name);
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

/** True when `path` still names the file `file` has open. */
async function isSameFile(file: Deno.FsFile, path: string): Promise<boolean> {
  const [a, b] = await Promise.all([file.stat(), Deno.stat(path).catch(() => undefined)]);
  return b !== undefined && a.ino === b.ino && a.dev === b.dev;
}
