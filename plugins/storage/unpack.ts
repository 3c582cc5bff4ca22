/**
 * Applies tar entries to a fresh private directory. Every file Servin writes
 * from an archive goes through here, so the security rules live in one place:
 *
 * - names are checked lexically (no absolute path, no `..`), and every parent
 *   against the symlinks this extraction created, so nothing is ever written
 *   through a symlink;
 * - files are created with O_EXCL after removing what was there, so an
 *   existing inode is never written through;
 * - hardlinks must point at an earlier entry of the same archive;
 * - chown before chmod (chown clears setuid), symlinks are never chmodded and
 *   get their owner and times with the `l*` calls; directory modes and times
 *   are applied last, deepest first;
 * - anything unexpected is refused with the entry's name, never skipped.
 *
 * Speed: small files are written by a few concurrent async writers (file
 * creation is kernel-bound, so two cores beat one), and chown and chmod are
 * skipped when creation already left the right owner and mode.
 *
 * @module
 */

import { lchownSync, lutimesSync } from "node:fs";
import { posix } from "node:path";
import { messageOf, osError, ServinError } from "../../core/errors.ts";
import type { Platform } from "../../core/kinds.ts";
import type { TarEntry, TarHeader } from "../formats/tar.ts";
import { classify, OPAQUE_XATTR } from "../formats/whiteout.ts";

/** What {@link unpack} counted. */
export interface UnpackStats {
  /** Bytes of regular-file content (hardlinks counted once). */
  size: number;
  /** Entries applied. */
  entries: number;
}

/** Options of {@link unpack}. */
export interface UnpackOptions {
  /** The host platform (ownership and device capabilities). */
  platform: Platform;
  /** Prints a warning. */
  warn(message: string): void;
}

type Kind = "dir" | "file" | "symlink" | "other";

function unsafe(name: string, why: string): ServinError {
  return new ServinError("unsafe-archive", `entry "${name}" ${why}`);
}

/**
 * Confines an archive path: returns it relative to the root without `.`
 * components or trailing slashes (`""` is the root), or throws when it is
 * absolute or has a `..` component.
 */
export function confine(name: string): string {
  return confinePath(name, (why) => unsafe(name, why));
}

function confinePath(path: string, error: (why: string) => ServinError): string {
  if (path === "") throw error("has an empty name");
  if (path.startsWith("/")) throw error("has an absolute path");
  if (path.includes("\0")) throw error("has a NUL byte in its name");
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw error('escapes the image root (".." component)');
  return parts.join("/");
}

function writeAll(file: Deno.FsFile, chunk: Uint8Array): void {
  let off = 0;
  while (off < chunk.length) off += file.writeSync(chunk.subarray(off));
}

/** Files up to this size are buffered and written concurrently. */
const SMALL_FILE = 1024 * 1024;
/** Concurrent small-file writes (bounds memory to CONCURRENCY × SMALL_FILE). */
const CONCURRENCY = 8;

async function collect(body: AsyncIterable<Uint8Array>, size: number): Promise<Uint8Array> {
  const data = new Uint8Array(size);
  let off = 0;
  for await (const chunk of body) {
    data.set(chunk, off);
    off += chunk.length;
  }
  return data;
}

/** Writes in flight, by path; the first failure is kept and rethrown by `check`. */
class Writes {
  #pending = new Map<string, Promise<void>>();
  #error: unknown;

  start(rel: string, task: Promise<void>): void {
    const tracked = task.catch((err) => {
      this.#error ??= err;
    }).finally(() => {
      if (this.#pending.get(rel) === tracked) this.#pending.delete(rel);
    });
    this.#pending.set(rel, tracked);
  }

  /** Waits for the write of `rel`, if one is in flight. */
  async settle(rel: string): Promise<void> {
    await this.#pending.get(rel);
    this.check();
  }

  /** Waits until fewer than `max` writes are in flight. */
  async throttle(max: number): Promise<void> {
    while (this.#pending.size >= max) await Promise.race(this.#pending.values());
    this.check();
  }

  async all(): Promise<void> {
    await Promise.all(this.#pending.values());
    this.check();
  }

  check(): void {
    if (this.#error !== undefined) throw this.#error;
  }
}

/**
 * Extracts `entries` into `dest`, which must be a fresh directory only this
 * process writes to.
 */
export async function unpack(
  entries: AsyncIterable<TarEntry>,
  dest: string,
  options: UnpackOptions,
): Promise<UnpackStats> {
  const { platform, warn } = options;
  const kinds = new Map<string, Kind>([["", "dir"]]);
  const dirs = new Map<string, TarHeader>();
  const writes = new Writes();
  const stats: UnpackStats = { size: 0, entries: 0 };
  const myUid = Deno.uid() ?? 0;
  const myGid = Deno.gid() ?? 0;
  // No directory has its setgid bit until the end (modes come last), so a new
  // file gets our uid and gid; the umask decides what else creation changed.
  const umask = Deno.build.os === "windows" ? 0 : Deno.umask();
  const abs = (rel: string) => rel === "" ? dest : posix.join(dest, rel);

  /** Checks the parents of `rel`, creating missing ones when `create` is set. */
  const ensureParents = (name: string, rel: string, create = true) => {
    const parts = rel.split("/");
    let path = "";
    for (let i = 0; i < parts.length - 1; i++) {
      path = path === "" ? parts[i]! : `${path}/${parts[i]}`;
      const kind = kinds.get(path);
      if (kind === "symlink") throw unsafe(name, `has a parent "${path}" that is a symlink`);
      if (kind === undefined && create) {
        Deno.mkdirSync(abs(path), { mode: 0o755 });
        kinds.set(path, "dir");
      } else if (kind !== "dir" && kind !== undefined) {
        throw unsafe(name, `has a parent "${path}" that is not a directory`);
      }
    }
  };

  const clear = async (rel: string) => {
    const kind = kinds.get(rel);
    if (kind === undefined) return;
    if (kind === "dir") await writes.all();
    else await writes.settle(rel);
    Deno.removeSync(abs(rel), { recursive: kind === "dir" });
    if (kind === "dir") {
      for (const key of [...kinds.keys()]) if (key.startsWith(`${rel}/`)) kinds.delete(key);
      for (const key of [...dirs.keys()]) {
        if (key === rel || key.startsWith(`${rel}/`)) dirs.delete(key);
      }
    }
    kinds.delete(rel);
  };

  /** True when `h`'s owner must be applied (and says once when it cannot be). */
  const needsChown = (h: TarHeader) => {
    if (h.uid === myUid && h.gid === myGid) return false;
    if (platform.canChown) return true;
    warn("file ownership from archives is not kept: not running as root");
    return false;
  };

  /** True when creating with `h.mode` did not leave exactly `h.mode` (umask, special bits). */
  const needsChmod = (h: TarHeader) => (h.mode & (umask | 0o7000)) !== 0;

  const finish = (path: string, h: TarHeader) => {
    if (needsChown(h)) Deno.chownSync(path, h.uid, h.gid);
    if (needsChmod(h)) Deno.chmodSync(path, h.mode);
    Deno.utimeSync(path, h.mtime, h.mtime);
  };

  const writeSmall = async (path: string, data: Uint8Array, h: TarHeader) => {
    const file = await Deno.open(path, { write: true, createNew: true, mode: h.mode & 0o777 });
    try {
      let off = 0;
      while (off < data.length) off += await file.write(data.subarray(off));
    } finally {
      file.close();
    }
    if (needsChown(h)) await Deno.chown(path, h.uid, h.gid);
    if (needsChmod(h)) await Deno.chmod(path, h.mode);
    await Deno.utime(path, h.mtime, h.mtime);
  };

  /**
   * Checks a whiteout and, as root on Linux, writes it in overlayfs form (0:0
   * device, opaque xattr); false when the entry is to be written as it is
   * (not a whiteout, or a platform that keeps the `.wh.` files).
   */
  const whiteout = async (h: TarHeader, rel: string): Promise<boolean> => {
    const slash = rel.lastIndexOf("/");
    const parent = slash < 0 ? "" : rel.slice(0, slash);
    let wh;
    try {
      wh = classify(rel.slice(slash + 1));
    } catch (err) {
      throw unsafe(h.name, `is a ${(err as Error).message}`);
    }
    if (wh.kind === "none") return false;
    if (h.type !== "file") throw unsafe(h.name, "is a whiteout but not a regular file");
    if (!platform.overlayWhiteouts) return false;
    if (wh.kind === "opaque") {
      platform.setxattr!(abs(parent), OPAQUE_XATTR, "y");
      return true;
    }
    const target = parent === "" ? wh.target : `${parent}/${wh.target}`;
    await clear(target);
    platform.mknod!(abs(target), "char", 0, 0, 0);
    kinds.set(target, "other");
    return true;
  };

  for await (const { header: h, body } of entries) {
    const rel = confine(h.name);
    stats.entries++;
    try {
      if (rel === "") {
        if (h.type !== "dir") throw unsafe(h.name, "would replace the image root");
        dirs.set("", h);
        continue;
      }
      ensureParents(h.name, rel);
      if (await whiteout(h, rel)) continue;
      const path = abs(rel);
      switch (h.type) {
        case "dir": {
          if (kinds.get(rel) !== "dir") {
            await clear(rel);
            Deno.mkdirSync(path, { mode: 0o700 });
            kinds.set(rel, "dir");
          }
          if (needsChown(h)) Deno.chownSync(path, h.uid, h.gid);
          dirs.set(rel, h);
          break;
        }
        case "file": {
          await clear(rel);
          kinds.set(rel, "file");
          stats.size += h.size;
          if (h.size <= SMALL_FILE) {
            const data = await collect(body, h.size);
            await writes.throttle(CONCURRENCY);
            writes.start(
              rel,
              writeSmall(path, data, h).catch((err) => Promise.reject(describe(err, h.name))),
            );
            break;
          }
          const file = Deno.openSync(path, { write: true, createNew: true, mode: h.mode & 0o777 });
          try {
            for await (const chunk of body) writeAll(file, chunk);
          } finally {
            file.close();
          }
          finish(path, h);
          break;
        }
        case "link": {
          const target = confinePath(
            h.linkname,
            (why) => unsafe(h.name, `is a hardlink to "${h.linkname}", which ${why}`),
          );
          ensureParents(h.name, target, false);
          const targetKind = kinds.get(target);
          if (target === "" || targetKind === "dir") {
            throw unsafe(h.name, `is a hardlink to a directory ("${h.linkname}")`);
          }
          if (targetKind === undefined) {
            throw unsafe(h.name, `is a hardlink to "${h.linkname}", which is not in the archive`);
          }
          if (target === rel) break;
          await clear(rel);
          await writes.settle(target);
          Deno.linkSync(abs(target), path);
          kinds.set(rel, targetKind);
          break;
        }
        case "symlink": {
          if (h.linkname === "") throw unsafe(h.name, "is a symlink with an empty target");
          await clear(rel);
          Deno.symlinkSync(h.linkname, path);
          kinds.set(rel, "symlink");
          if (needsChown(h)) lchownSync(path, h.uid, h.gid);
          lutimesSync(path, h.mtime, h.mtime);
          break;
        }
        case "char":
        case "block":
        case "fifo": {
          const device = h.type !== "fifo";
          if (!platform.mknod) {
            warn(`device nodes and FIFOs from archives are skipped on ${platform.name}`);
            break;
          }
          if (device && !platform.canChown) {
            warn("device nodes from archives are skipped: not running as root");
            break;
          }
          await clear(rel);
          platform.mknod(path, h.type, h.mode & 0o777, h.devmajor, h.devminor);
          kinds.set(rel, "other");
          finish(path, h);
          break;
        }
      }
      writes.check();
    } catch (err) {
      await writes.all().catch(() => {});
      throw describe(err, h.name);
    }
  }
  await writes.all().catch((err) => {
    throw describe(err, "a file");
  });

  // Directory modes and times last, deepest first, so that writing children
  // neither fails on a read-only directory nor bumps a restored mtime.
  const order = [...dirs.keys()].sort((a, b) => b.split("/").length - a.split("/").length);
  for (const rel of order) {
    const h = dirs.get(rel)!;
    const path = abs(rel);
    if (rel === "" && needsChown(h)) Deno.chownSync(path, h.uid, h.gid);
    Deno.chmodSync(path, h.mode);
    Deno.utimeSync(path, h.mtime, h.mtime);
  }
  if (!dirs.has("")) Deno.chmodSync(dest, 0o755);
  return stats;
}

function describe(err: unknown, name: string): ServinError {
  if (err instanceof ServinError) return err;
  // A full or read-only file system is not the archive's fault.
  const os = osError(err);
  const why = os?.message ?? messageOf(err);
  return new ServinError(
    os ? "os-error" : "invalid-archive",
    `entry "${name}" could not be written: ${why}`,
    { cause: err },
  );
}
