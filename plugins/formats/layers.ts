/**
 * The merged view of unpacked layers, lowest first: what a container sees.
 * A name comes from the topmost layer that has it; whiteouts hide names of
 * the layers below; an opaque directory hides everything below it;
 * directories merge. Whiteouts are read in both forms (`.wh.` files and
 * overlayfs's 0:0 devices and opaque xattr). The copy snapshotter and
 * `image export` both walk this view, so they agree by construction.
 *
 * @module
 */

import { join } from "node:path";
import { classify, isHostXattr, OPAQUE_XATTR } from "./whiteout.ts";

/** One visible entry of the merged tree. */
export interface MergedEntry {
  /** Path relative to the root (`""` is the root). */
  rel: string;
  /** Where its content lives (in the topmost layer that has it). */
  source: string;
  /** lstat of `source`. */
  info: Deno.FileInfo;
}

/** The type of a file as a tar header names it; undefined for a socket or anything else. */
export function fileType(
  info: Deno.FileInfo,
): "file" | "dir" | "symlink" | "char" | "block" | "fifo" | undefined {
  if (info.isFile) return "file";
  if (info.isDirectory) return "dir";
  if (info.isSymlink) return "symlink";
  if (info.isCharDevice) return "char";
  if (info.isBlockDevice) return "block";
  if (info.isFifo) return "fifo";
  return undefined;
}

/** Device major and minor numbers from Linux's `st_rdev` encoding. */
export function deviceNumbers(info: Deno.FileInfo): [number, number] {
  const rdev = info.rdev ?? 0;
  const major = ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >> 12) & ~0xff);
  return [major, minor];
}

/** Reads an xattr; absent on platforms without them. */
export type GetXattr = ((path: string, name: string) => string | undefined) | undefined;

/**
 * The extended attributes of a file of a layer, as the file's own: all that
 * `listxattr` finds but the host's (the opaque mark is the layer's, not
 * the directory's; SELinux labels are the host's); undefined when there are none.
 */
export function fileXattrs(
  listxattr: (path: string) => Record<string, Uint8Array>,
  path: string,
): Record<string, Uint8Array> | undefined {
  let out: Record<string, Uint8Array> | undefined;
  for (const [name, value] of Object.entries(listxattr(path))) {
    if (!isHostXattr(name)) (out ??= {})[name] = value;
  }
  return out;
}

function lstat(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Walks the merged tree of `layers` (directories, lowest first) in pre-order
 * (a directory before what it holds), names sorted; a directory for which
 * `prune` returns true is listed, but not what it holds.
 */
export function* mergedTree(
  layers: string[],
  getxattr?: GetXattr,
  options: { prune?: (rel: string) => boolean } = {},
): Generator<MergedEntry> {
  const top = layers.at(-1);
  if (top === undefined) return;
  const roots = [...layers].reverse(); // topmost first
  yield { rel: "", source: top, info: Deno.lstatSync(top) };
  yield* children("", roots, getxattr, options.prune);
}

function* children(
  rel: string,
  dirs: string[],
  getxattr: GetXattr,
  prune?: (rel: string) => boolean,
): Generator<MergedEntry> {
  // `dirs`: the directories that make up `rel`, topmost first.
  const found = new Map<string, { info: Deno.FileInfo; sources: string[]; closed: boolean }>();
  const hidden = new Set<string>();
  for (const dir of dirs) {
    let opaque = getxattr?.(dir, OPAQUE_XATTR) === "y";
    const whiteouts: string[] = [];
    for (const { name } of Deno.readDirSync(dir)) {
      const wh = classify(name);
      if (wh.kind === "opaque") {
        opaque = true;
        continue;
      }
      if (wh.kind === "whiteout") {
        whiteouts.push(wh.target);
        continue;
      }
      const source = join(dir, name);
      const info = lstat(source);
      if (!info) continue;
      if (info.isCharDevice && info.rdev === 0) { // overlayfs form of a whiteout
        whiteouts.push(name);
        continue;
      }
      if (hidden.has(name)) continue;
      const seen = found.get(name);
      if (!seen) found.set(name, { info, sources: [source], closed: !info.isDirectory });
      else if (!seen.closed) {
        // A directory merges with same-named directories below, down to anything else.
        if (info.isDirectory) seen.sources.push(source);
        else seen.closed = true;
      }
    }
    // A whiteout hides its name in the layers below its own.
    for (const name of whiteouts) {
      hidden.add(name);
      const seen = found.get(name);
      if (seen) seen.closed = true;
    }
    if (opaque) break;
  }
  for (const name of [...found.keys()].sort()) {
    const { info, sources } = found.get(name)!;
    const path = rel === "" ? name : `${rel}/${name}`;
    yield { rel: path, source: sources[0]!, info };
    if (info.isDirectory && !prune?.(path)) yield* children(path, sources, getxattr, prune);
  }
}
