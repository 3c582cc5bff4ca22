/**
 * A manifest of a directory tree for "same filesystem" checks: path, type,
 * mode, owner, mtime, size, sha256, link target, device number, hardlink group;
 * and the extended attributes of a tree.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { linuxPlatform } from "../plugins/platform/mod.ts";
import { sh } from "./_layout.ts";

/** One entry of a tree manifest. */
export interface Record {
  path: string;
  type: string;
  mode: string;
  uid: number;
  gid: number;
  mtime: number;
  size?: number;
  sha256?: string;
  target?: string;
  rdev?: number;
  linkGroup?: string;
}

/** A manifest of a tree: path, type, mode, owner, mtime, size, sha256, link target, device, hardlink group. */
export async function manifest(root: string): Promise<Record[]> {
  const out: Record[] = [];
  const inodes = new Map<number, string>();
  async function walk(rel: string) {
    const path = rel ? join(root, rel) : root;
    const st = await Deno.lstat(path);
    const type = st.isFile
      ? "file"
      : st.isDirectory
      ? "dir"
      : st.isSymlink
      ? "symlink"
      : st.isCharDevice
      ? "char"
      : st.isBlockDevice
      ? "block"
      : st.isFifo
      ? "fifo"
      : "other";
    const rec: Record = {
      path: rel || ".",
      type,
      mode: ((st.mode ?? 0) & 0o7777).toString(8),
      uid: st.uid ?? -1,
      gid: st.gid ?? -1,
      mtime: Math.floor((st.mtime?.getTime() ?? 0) / 1000),
    };
    if (type === "file") {
      rec.size = st.size;
      rec.sha256 = createHash("sha256").update(await Deno.readFile(path)).digest("hex");
      if ((st.nlink ?? 1) > 1) {
        const first = inodes.get(st.ino!) ?? rec.path;
        inodes.set(st.ino!, first);
        rec.linkGroup = first;
      }
    }
    if (type === "symlink") rec.target = await Deno.readLink(path);
    if (type === "char" || type === "block") rec.rdev = st.rdev ?? -1;
    if (type === "symlink") delete (rec as Partial<Record>).mode; // Linux symlinks have no mode
    out.push(rec);
    if (type === "dir") {
      const names = (await Array.fromAsync(Deno.readDir(path))).map((e) => e.name).sort();
      for (const name of names) await walk(rel ? `${rel}/${name}` : name);
    }
  }
  await walk("");
  return out;
}

/**
 * The extended attributes of every entry of a tree but its root, by path
 * (values as comma-separated bytes); overlayfs's own `trusted.overlay.*` are
 * left out, as they describe the layer directory, not the image.
 */
export function xattrsOf(root: string): { [path: string]: { [name: string]: string } } {
  const platform = linuxPlatform();
  const out: { [path: string]: { [name: string]: string } } = {};
  const walk = (rel: string) => {
    for (const { name } of Deno.readDirSync(rel ? join(root, rel) : root)) {
      const path = rel ? `${rel}/${name}` : name;
      const found = platform.listxattr(join(root, path));
      const kept = Object.entries(found).filter(([k]) => !k.startsWith("trusted.overlay."));
      if (kept.length) {
        out[path] = Object.fromEntries(kept.map(([k, v]) => [k, [...v].join(",")]));
      }
      if (Deno.lstatSync(join(root, path)).isDirectory) walk(path);
    }
  };
  walk("");
  return out;
}

/** Extracts a tarball into `dest` (made) as GNU tar does as root: owners, modes, attributes. */
export async function untar(tarball: string, dest: string): Promise<void> {
  await Deno.mkdir(dest, { recursive: true });
  await sh("tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf", tarball, "-C", dest);
}
