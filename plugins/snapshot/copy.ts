/**
 * The `copy` snapshotter: materialises the image into `<bundle>/rootfs` by
 * copying its layers in order, applying their whiteouts (in either form, see
 * `formats/whiteout.ts`). Works everywhere; keeps modes (setuid
 * included), ownership when root, mtimes, symlinks verbatim (never
 * followed), device nodes when root, and hardlinks within the image as
 * hardlinks.
 *
 * @module
 */

import { lchownSync, lutimesSync } from "node:fs";
import { join } from "node:path";
import type { Platform } from "../../core/kinds.ts";
import { definePlugin } from "../../core/registry.ts";
import { classify, OPAQUE, OPAQUE_XATTR } from "../formats/whiteout.ts";

/** Concurrent file copies (file creation is kernel-bound; two cores beat one). */
const CONCURRENCY = 8;

/** Copies the tree at `src` over `dest` (which exists), preserving what an image needs. */
export async function copyTree(src: string, dest: string, platform: Platform): Promise<void> {
  const root = Deno.uid() === 0 && platform.canChown;
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
  const myUid = Deno.uid();
  const myGid = Deno.gid();
  // Deno.copyFile already gave the copy its mode; chown clears setuid and
  // setgid, so chmod again only then.
  const meta = async (path: string, st: Deno.FileInfo, moded: boolean) => {
    const chown = root && (st.uid !== myUid || st.gid !== myGid);
    if (chown) await Deno.chown(path, st.uid, st.gid);
    if (!moded || (chown && (st.mode! & 0o6000))) await Deno.chmod(path, st.mode! & 0o7777);
    await Deno.utime(path, st.mtime!, st.mtime!);
  };

  async function walk(from: string, to: string): Promise<void> {
    const entries = [...Deno.readDirSync(from)];
    // An opaque directory hides what lower layers put in it.
    if (entries.some((e) => e.name === OPAQUE) || platform.getxattr?.(from, OPAQUE_XATTR) === "y") {
      for (const old of Deno.readDirSync(to)) removeIfPresent(join(to, old.name));
    }
    for (const entry of entries) {
      if (failure) throw failure;
      const s = join(from, entry.name);
      const d = join(to, entry.name);
      const wh = classify(entry.name);
      if (wh.kind === "opaque") continue;
      if (wh.kind === "whiteout") {
        removeIfPresent(join(to, wh.target));
        continue;
      }
      const st = Deno.lstatSync(s);
      if (st.isCharDevice && st.rdev === 0) { // overlayfs form of a whiteout
        removeIfPresent(d);
        continue;
      }
      if (st.isDirectory) {
        if (!isDirectory(d)) {
          removeIfPresent(d);
          Deno.mkdirSync(d, { mode: 0o700 });
        }
        if (root) Deno.chownSync(d, st.uid!, st.gid!);
        dirs.push([d, st]);
        await walk(s, d);
        continue;
      }
      removeIfPresent(d);
      if (st.isSymlink) {
        Deno.symlinkSync(Deno.readLinkSync(s), d);
        if (root) lchownSync(d, st.uid!, st.gid!);
        lutimesSync(d, st.mtime!, st.mtime!);
        continue;
      }
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
        track(Deno.copyFile(s, d).then(() => meta(d, st, true)));
      } else if (platform.mknod && (st.isFifo || root)) {
        const kind = st.isFifo ? "fifo" : st.isCharDevice ? "char" : "block";
        const rdev = st.rdev ?? 0;
        const major = ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
        const minor = (rdev & 0xff) | ((rdev >> 12) & ~0xff);
        platform.mknod(d, kind, st.mode! & 0o777, major, minor);
        await meta(d, st, false);
      }
    }
  }

  try {
    await walk(src, dest);
  } finally {
    await Promise.all(pending);
  }
  if (failure) throw failure;
  for (const [d, st] of dirs.reverse()) {
    Deno.chmodSync(d, st.mode! & 0o7777);
    Deno.utimeSync(d, st.mtime!, st.mtime!);
  }
}

function isDirectory(path: string): boolean {
  try {
    return Deno.lstatSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** Removes `path` if it exists (a no-op otherwise). */
function removeIfPresent(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/** The built-in copy snapshotter plugin. */
export function copySnapshotter() {
  return definePlugin({
    name: "snapshot-copy",
    setup(api) {
      api.snapshotter({
        name: "copy",
        unavailable: () => undefined,
        async prepare(bundle, layers, platform) {
          const rootfs = join(bundle, "rootfs");
          await Deno.mkdir(rootfs, { mode: 0o755 });
          for (const layer of layers) await copyTree(layer, rootfs, platform);
          const top = layers.at(-1);
          if (top) {
            const st = await Deno.stat(top);
            await Deno.chmod(rootfs, st.mode! & 0o7777);
            await Deno.utime(rootfs, st.mtime!, st.mtime!);
          }
        },
        mount: async () => {},
        unmount: async () => {},
      });
    },
  });
}
