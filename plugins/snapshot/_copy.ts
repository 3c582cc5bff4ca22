/**
 * The `copy` snapshotter: materialises the image into `<bundle>/rootfs` by
 * copying the merged view of its layers (`formats/layers.ts`: whiteouts
 * applied, in either form). Works everywhere; keeps modes (setuid
 * included), ownership when root, mtimes, symlinks verbatim (never
 * followed), device nodes when root, hardlinks within the image as
 * hardlinks, and extended attributes (file capabilities included). `copy.ts` registers it and imports this module when a
 * container is created.
 *
 * @module
 */

import { lchownSync, lutimesSync } from "node:fs";
import { join } from "node:path";
import { ServinError } from "../../core/errors.ts";
import type { Platform } from "../../core/kinds.ts";
import { makeNode } from "../formats/extract.ts";
import { deviceNumbers, fileXattrs, mergedTree } from "../formats/layers.ts";

/** Concurrent file copies (file creation is kernel-bound; two cores beat one). */
const CONCURRENCY = 8;

/** Options of {@link copyLayers}. */
export interface CopyLayersOptions {
  /**
   * Merge into `dest`, an existing tree (`cp` into a container): `dest`
   * itself keeps its owner and mode, existing directories stay, anything
   * else in the way is removed first (never written through: files are
   * created anew), and a directory is never replaced by a non-directory.
   */
  merge?: boolean;
}

/** Materialises the merged tree of `layers` (lowest first) into `dest`, an empty directory. */
export async function copyLayers(
  layers: string[],
  dest: string,
  platform: Platform,
  options: CopyLayersOptions = {},
): Promise<void> {
  const merge = options.merge ?? false;
  const root = Deno.uid() === 0 && platform.canChown;
  const myUid = Deno.uid();
  const myGid = Deno.gid();
  const linked = new Map<string, string>();
  const dirs: [string, Deno.FileInfo][] = [];
  const pending = new Set<Promise<void>>();
  let failure: unknown;
  const track = (p: Promise<void>) => {
    const t = p.catch((err) => {
      failure ??= err;
    }).finally(() => pending.delete(t));
    pending.add(t);
  };
  // Copies `source`'s extended attributes (only user.* without root, as the
  // extractor does); after chown, which clears file capabilities.
  const xattrs = (source: string, path: string) => {
    const found = fileXattrs(platform.listxattr, source);
    for (const [name, value] of Object.entries(found ?? {})) {
      if (root || name.startsWith("user.")) platform.setxattr(path, name, value);
    }
  };
  // Deno.copyFile already gave the copy its mode; chown clears setuid and
  // setgid, so chmod again only then.
  const meta = async (source: string, path: string, st: Deno.FileInfo, moded: boolean) => {
    const chown = root && (st.uid !== myUid || st.gid !== myGid);
    if (chown) await Deno.chown(path, st.uid, st.gid);
    if (!moded || (chown && (st.mode! & 0o6000))) await Deno.chmod(path, st.mode! & 0o7777);
    xattrs(source, path);
    await Deno.utime(path, st.mtime!, st.mtime!);
  };

  try {
    for (const { rel, source, info: st } of mergedTree(layers, platform.getxattr)) {
      if (failure) throw failure;
      const d = rel === "" ? dest : join(dest, rel);
      if (merge && rel === "") continue;
      const kept = merge && clear(d, st.isDirectory);
      if (st.isDirectory) {
        if (rel !== "" && !kept) Deno.mkdirSync(d, { mode: 0o700 });
        if (root) Deno.chownSync(d, st.uid!, st.gid!);
        xattrs(source, d);
        dirs.push([d, st]);
      } else if (st.isSymlink) {
        Deno.symlinkSync(Deno.readLinkSync(source), d);
        if (root) lchownSync(d, st.uid!, st.gid!);
        xattrs(source, d);
        lutimesSync(d, st.mtime!, st.mtime!);
      } else {
        // Hardlinks within a layer stay hardlinks.
        const key = `${st.dev}:${st.ino}`;
        const first = (st.nlink ?? 1) > 1 ? linked.get(key) : undefined;
        if (first) {
          await Promise.all(pending);
          Deno.linkSync(first, d);
          continue;
        }
        if ((st.nlink ?? 1) > 1) linked.set(key, d);
        if (st.isFile) {
          while (pending.size >= CONCURRENCY) await Promise.race(pending);
          // Merging, the file is created anew (O_EXCL): a symlink put in its place is not followed.
          const copied = merge ? copyNew(source, d, st.mode! & 0o777) : Deno.copyFile(source, d);
          track(copied.then(() => meta(source, d, st, !merge)));
        } else if (st.isFifo || platform.canMknod) {
          const kind = st.isFifo ? "fifo" : st.isCharDevice ? "char" : "block";
          const [major, minor] = deviceNumbers(st);
          if (makeNode(platform, d, kind, st.mode! & 0o777, major, minor)) {
            await meta(source, d, st, false);
          }
        }
      }
    }
  } finally {
    await Promise.all(pending);
  }
  if (failure) throw failure;
  // Directory modes and times last, deepest first.
  for (const [d, st] of dirs.reverse()) {
    Deno.chmodSync(d, st.mode! & 0o7777);
    Deno.utimeSync(d, st.mtime!, st.mtime!);
  }
}

/**
 * Makes way at `path` for a directory (`dir`) or another file when merging:
 * removes a non-directory (a symlink itself, never its target); true when
 * an existing directory is kept (the caller then only sets its attributes
 * again). A directory is not replaced by a non-directory.
 */
function clear(path: string, dir: boolean): boolean {
  let st: Deno.FileInfo;
  try {
    st = Deno.lstatSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
  if (st.isDirectory) {
    if (dir) return true;
    throw new ServinError(
      "conflict",
      `Cannot overwrite the directory "${path}" with a non-directory`,
    );
  }
  Deno.removeSync(path);
  return false;
}

/** Copies `source` to `path`, which must not exist (created with O_EXCL, `mode`). */
async function copyNew(source: string, path: string, mode: number): Promise<void> {
  const from = await Deno.open(source);
  const to = await Deno.open(path, { write: true, createNew: true, mode });
  await from.readable.pipeTo(to.writable);
}
