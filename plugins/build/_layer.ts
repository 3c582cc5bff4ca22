/**
 * The layer a COPY or ADD writes: its items in path order, parents first,
 * each with canonical headers (no user or group names, times clamped to the
 * build's timestamp when one is given), so that the same inputs give the
 * same bytes. Directories above the destination that the base image has
 * keep the base's mode, owner and time, so the layer changes nothing but
 * what was copied.
 *
 * @module
 */

import { join } from "node:path";
import type { Servin } from "../../core/api.ts";
import { type PathNode, resolveLexically } from "../formats/confine.ts";
import type { CopyItem } from "./_context.ts";

/** Options of {@link copyLayer}. */
export interface CopyLayerOptions {
  /** Latest file time, seconds (`--timestamp`). */
  clampMtime?: number;
  /** Time of directories the layer makes. */
  created: Date;
  /** Owner of the directories the layer makes (`--chown`, as Docker and buildah; else root). */
  owner?: { uid: number; gid: number };
}

/** The directories of image `id`'s layers, topmost first. */
async function layerDirs(servin: Servin, id: string | undefined): Promise<string[]> {
  if (!id) return [];
  const image = await servin.getImage(id);
  return [...await servin.store.layers.mounts(image.layers)].reverse();
}

function lookup(dirs: string[], rel: string): Deno.FileInfo | undefined {
  for (const d of dirs) {
    try {
      const info = Deno.lstatSync(join(d, rel));
      // A whiteout (a 0/0 character device) hides the name below.
      if (info.isCharDevice && (info.rdev ?? 0) === 0) return undefined;
      return info;
    } catch {
      // Not in this layer: look below.
    }
  }
  return undefined;
}

/**
 * Resolves `rel`, a directory path of the image, through the image's
 * symlinks (confined to its root, as the container would see it): the
 * longest existing prefix is resolved and the rest appended, so that a COPY
 * into `/lib/x` of an image whose `/lib` links to `usr/lib` writes
 * `usr/lib/x` instead of replacing the link.
 */
function resolveDir(dirs: string[], rel: string, memo: Map<string, string>): string {
  if (rel === "") return "";
  const known = memo.get(rel);
  if (known !== undefined) return known;
  const node = (r: string): PathNode | undefined => {
    const info = lookup(dirs, r);
    if (!info) return undefined;
    if (info.isSymlink) {
      for (const d of dirs) {
        try {
          return { type: "symlink", target: Deno.readLinkSync(join(d, r)) };
        } catch { /* below */ }
      }
    }
    return { type: info.isDirectory ? "dir" : "other" };
  };
  const cut = rel.lastIndexOf("/");
  const parent = cut < 0 ? "" : rel.slice(0, cut);
  const name = rel.slice(cut + 1);
  const above = resolveDir(dirs, parent, memo);
  const here = above ? `${above}/${name}` : name;
  const resolved = node(here)?.type === "symlink" ? resolveLexically(here, node) ?? here : here;
  memo.set(rel, resolved);
  return resolved;
}

/**
 * True when `path` (absolute) is a directory of image `id`, symlinks
 * followed: a COPY to it without a trailing `/` copies into it, as Docker's.
 */
export async function isImageDir(
  servin: Servin,
  id: string | undefined,
  path: string,
): Promise<boolean> {
  const rel = path.split("/").filter((p) => p !== "" && p !== ".").join("/");
  if (rel === "") return true;
  const dirs = await layerDirs(servin, id);
  const resolved = resolveDir(dirs, rel, new Map());
  return lookup(dirs, resolved)?.isDirectory ?? false;
}

/** An uncompressed tar stream of `items` over the image `base`. */
export async function copyLayer(
  servin: Servin,
  base: string | undefined,
  items: CopyItem[],
  options: CopyLayerOptions,
): Promise<ReadableStream<Uint8Array>> {
  const dirs = await layerDirs(servin, base);
  const made = Math.floor(options.created.getTime() / 1000);
  const memo = new Map<string, string>();
  const placed = items.map((item) => {
    // A directory onto a link to a directory goes where the link points, as Docker copies it.
    if (item.type === "dir") return { ...item, dest: resolveDir(dirs, item.dest, memo) };
    const cut = item.dest.lastIndexOf("/");
    if (cut < 0) return item;
    const dir = resolveDir(dirs, item.dest.slice(0, cut), memo);
    return { ...item, dest: dir ? `${dir}/${item.dest.slice(cut + 1)}` : item.dest.slice(cut + 1) };
  });
  const dests = new Set(placed.map((i) => i.dest));
  const all = new Map<string, CopyItem>();
  for (const item of placed) {
    const parts = item.dest.split("/");
    for (let i = 1; i < parts.length; i++) {
      const rel = parts.slice(0, i).join("/");
      if (all.has(rel) || dests.has(rel)) continue;
      const info = lookup(dirs, rel);
      all.set(rel, {
        dest: rel,
        type: "dir",
        mode: info?.isDirectory ? (info.mode ?? 0o755) & 0o7777 : 0o755,
        uid: info?.isDirectory ? info.uid ?? 0 : options.owner?.uid ?? 0,
        gid: info?.isDirectory ? info.gid ?? 0 : options.owner?.gid ?? 0,
        mtime: info?.isDirectory ? Math.floor((info.mtime?.getTime() ?? 0) / 1000) : made,
        size: 0,
      });
    }
    all.set(item.dest, item);
  }
  const { layerTar } = await import("../formats/layer_writer.ts");
  return layerTar(
    [...all.values()].filter((i) => i.dest !== "").map((i) => ({
      header: {
        name: i.dest,
        type: i.type,
        mode: i.mode,
        uid: i.uid,
        gid: i.gid,
        size: i.size,
        mtime: i.mtime,
        linkname: i.linkname ?? "",
        devmajor: 0,
        devminor: 0,
      },
      content: i.from,
      linkKey: i.linkKey,
    })),
    { clampMtime: options.clampMtime },
  );
}
