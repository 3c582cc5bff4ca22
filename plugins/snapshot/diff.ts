/**
 * A container's changes to its image, as a canonical layer tar
 * (`formats/layer_writer.ts`): what `commit` and `build` store as the new
 * layer. Imported by the snapshotters when a diff is asked for.
 *
 * - overlay: the bundle's `upper` directory holds the changes in overlayfs's
 *   form: whiteouts (0:0 character devices) become `.wh.NAME`, directories
 *   with `trusted.overlay.opaque=y` get `.wh..wh..opq`; everything else in
 *   it is a change, as Docker and podman take it, but a directory copied up
 *   only because something in it changed counts as a parent, not a change.
 * - copy: the rootfs is compared with the merged view of the image's layers
 *   by type, mode, owner, size, mtime (whole seconds; content compared when
 *   only a fraction of a second differs), symlink target, device numbers
 *   and extended attributes (directories: not by mtime, which any change in
 *   them moves). A name gone is a whiteout; a directory of the image whose
 *   every entry is gone is opaque instead. Files hardlinked to a changed
 *   file are taken with it, so that links stay links.
 *
 * Left out, as podman and buildah leave them: what the runtime made as
 * mount points (every mount of the bundle's `config.json`, `/etc/hosts`,
 * `/etc/hostname`, `/etc/resolv.conf`, `/dev`, `/proc`, `/sys`) when the
 * image lacks it, with the directories it made for them, and whatever lies
 * under a mount point (it was the mount's, not the rootfs's). Parents of
 * every change are written before it.
 *
 * @module
 */

import { join } from "node:path";
import { ServinError } from "../../core/errors.ts";
import type { Platform } from "../../core/kinds.ts";
import { equalFiles } from "../formats/compare.ts";
import {
  entryOf,
  type LayerEntry,
  layerTar,
  type LayerWriterOptions,
  opaqueEntry,
  whiteoutEntry,
} from "../formats/layer_writer.ts";
import { fileType, fileXattrs, type MergedEntry, mergedTree } from "../formats/layers.ts";
import { OPAQUE_XATTR } from "../formats/whiteout.ts";

/** Mount points every container has (runc makes those the image lacks). */
const RUNTIME_MOUNTS = ["dev", "proc", "sys", "etc/hosts", "etc/hostname", "etc/resolv.conf"];

/** Where a container's changes are. */
export interface ChangesSource {
  /** `overlay`: `dir` is the upper directory; `copy`: `dir` is the container's rootfs. */
  kind: "overlay" | "copy";
  /** The directory. */
  dir: string;
  /** The bundle (its `config.json` names the mounts). */
  bundle: string;
  /** The image's layer directories, lowest first. */
  layers: string[];
  /** The host platform (extended attributes). */
  platform: Platform;
}

/** The image's merged tree: each entry by path, and the names in each directory. */
interface Lower {
  entries: Map<string, MergedEntry>;
  children: Map<string, string[]>;
}

function lowerView(layers: string[], platform: Platform): Lower {
  const entries = new Map<string, MergedEntry>();
  const children = new Map<string, string[]>();
  for (const entry of mergedTree(layers, platform.getxattr)) {
    entries.set(entry.rel, entry);
    if (entry.rel === "") continue;
    const slash = entry.rel.lastIndexOf("/");
    const parent = slash < 0 ? "" : entry.rel.slice(0, slash);
    const names = children.get(parent) ?? [];
    names.push(entry.rel.slice(slash + 1));
    children.set(parent, names);
  }
  return { entries, children };
}

/** Mount destinations of the bundle's `config.json`, relative, with the usual ones. */
function mountPoints(bundle: string): string[] {
  const out = new Set(RUNTIME_MOUNTS);
  try {
    const spec = JSON.parse(Deno.readTextFileSync(join(bundle, "config.json")));
    for (const m of spec.mounts ?? []) {
      const rel = String(m.destination ?? "").split("/").filter((p) => p && p !== ".").join("/");
      if (rel && !rel.split("/").includes("..")) out.add(rel);
    }
  } catch {
    // A bundle without a readable spec: the usual mount points only.
  }
  return [...out];
}

/** Decides what the runtime made: mount points the image lacks, and what lies under any. */
class MountRules {
  #made = new Set<string>();
  #under: string[];
  /** New directories that lead to a mount point the runtime made: parents, not changes. */
  #ancestors = new Set<string>();

  constructor(points: string[], lower: Lower) {
    this.#under = points.map((p) => `${p}/`);
    for (const p of points) {
      if (lower.entries.has(p)) continue;
      this.#made.add(p);
      const parts = p.split("/");
      for (let i = 1; i < parts.length; i++) {
        const a = parts.slice(0, i).join("/");
        if (!lower.entries.has(a)) this.#ancestors.add(a);
      }
    }
  }

  /** True when `rel` is left out: a mount point the runtime made, or under any mount point. */
  skip(rel: string): boolean {
    return this.#made.has(rel) || this.#under.some((u) => rel.startsWith(u));
  }

  /** True when `rel`, absent from the image, is a directory the runtime made for a mount point. */
  madeFor(rel: string): boolean {
    return this.#ancestors.has(rel);
  }
}

function sameXattrs(
  platform: Platform,
  lower: MergedEntry,
  have: Record<string, Uint8Array> | undefined,
): boolean {
  const want = fileXattrs(platform.listxattr, lower.source) ?? {};
  const got = have ?? {};
  const names = Object.keys(want);
  if (names.length !== Object.keys(got).length) return false;
  return names.every((n) => {
    const [a, b] = [want[n]!, got[n]];
    return b !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
  });
}

/** True when the directory entry differs from the image's in what a directory keeps. */
function dirChanged(platform: Platform, low: MergedEntry | undefined, entry: LayerEntry): boolean {
  if (!low || !low.info.isDirectory) return true;
  const h = entry.header;
  return ((low.info.mode ?? 0) & 0o7777) !== h.mode || low.info.uid !== h.uid ||
    low.info.gid !== h.gid || !sameXattrs(platform, low, h.xattrs);
}

/** True when the non-directory at `path` (entry `entry`) differs from the image's. */
function fileChanged(
  platform: Platform,
  low: MergedEntry | undefined,
  path: string,
  info: Deno.FileInfo,
  entry: LayerEntry,
): boolean {
  if (!low) return true;
  const h = entry.header;
  const l = low.info;
  if (fileType(l) !== h.type) return true;
  if (l.uid !== h.uid || l.gid !== h.gid || !sameXattrs(platform, low, h.xattrs)) return true;
  if (h.type !== "symlink" && ((l.mode ?? 0) & 0o7777) !== h.mode) return true;
  if (h.type === "symlink") return Deno.readLinkSync(low.source) !== h.linkname;
  if (h.type === "char" || h.type === "block") return l.rdev !== info.rdev;
  if (h.type !== "file") return false;
  const [a, b] = [l.mtime?.getTime() ?? 0, info.mtime?.getTime() ?? 0];
  if (l.size !== info.size || Math.floor(a / 1000) !== Math.floor(b / 1000)) return true;
  return a !== b && !equalFiles(low.source, path, info.size);
}

/** Adds the parents of every entry that lacks one, read from `dir`. */
function addParents(out: Map<string, LayerEntry>, dir: string, platform: Platform): void {
  for (const rel of [...out.keys()]) {
    const parts = rel.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      if (out.has(parent)) continue;
      const path = join(dir, parent);
      out.set(parent, entryOf(parent, path, Deno.lstatSync(path), platform.listxattr)!);
    }
  }
}

function unsupported(rel: string, why: string): ServinError {
  return new ServinError("unsupported", `Cannot diff "/${rel}": ${why}`);
}

/** The changes an overlay upper directory holds. */
function overlayChanges(source: ChangesSource, lower: Lower, rules: MountRules): LayerEntry[] {
  const { dir, platform } = source;
  const out = new Map<string, LayerEntry>();
  const visit = (rel: string) => {
    for (const { name } of Deno.readDirSync(join(dir, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      if (rules.skip(r)) continue;
      const path = join(dir, r);
      const info = Deno.lstatSync(path);
      if (info.isCharDevice && info.rdev === 0) {
        const wh = whiteoutEntry(r);
        out.set(wh.header.name, wh);
        continue;
      }
      const entry = entryOf(r, path, info, platform.listxattr);
      if (!entry) continue;
      if (platform.getxattr(path, "trusted.overlay.redirect") !== undefined) {
        throw unsupported(
          r,
          "the overlay renamed a directory (redirect_dir); use the copy snapshotter",
        );
      }
      if (info.isDirectory) {
        const opaque = platform.getxattr(path, OPAQUE_XATTR) === "y";
        const low = lower.entries.get(r);
        const own = low ? dirChanged(platform, low, entry) : !rules.madeFor(r);
        if (own || opaque) out.set(r, entry);
        if (opaque) {
          const marker = opaqueEntry(r);
          out.set(marker.header.name, marker);
        }
        visit(r);
        continue;
      }
      if (info.isFile && platform.getxattr(path, "trusted.overlay.metacopy") !== undefined) {
        throw unsupported(r, "the overlay copied up its metadata only (metacopy)");
      }
      out.set(r, entry);
    }
  };
  visit("");
  addParents(out, dir, platform);
  return [...out.values()];
}

/** The changes of a rootfs to the image's merged tree. */
function treeChanges(source: ChangesSource, lower: Lower, rules: MountRules): LayerEntry[] {
  const { dir, platform } = source;
  const out = new Map<string, LayerEntry>();
  const groups = new Map<string, LayerEntry[]>();
  const visit = (rel: string, lowerIsDir: boolean) => {
    const here = new Set([...Deno.readDirSync(join(dir, rel))].map((e) => e.name));
    const below = lowerIsDir ? (lower.children.get(rel) ?? []) : [];
    const kept = below.filter((n) => !rules.skip(rel ? `${rel}/${n}` : n));
    const gone = kept.filter((n) => !here.has(n));
    if (rel !== "" && gone.length > 0 && gone.length === kept.length) {
      // Every entry the image had here is gone: the directory was replaced.
      const marker = opaqueEntry(rel);
      out.set(marker.header.name, marker);
    } else {
      for (const n of gone) {
        const wh = whiteoutEntry(rel ? `${rel}/${n}` : n);
        out.set(wh.header.name, wh);
      }
    }
    for (const name of here) {
      const r = rel ? `${rel}/${name}` : name;
      if (rules.skip(r)) continue;
      const path = join(dir, r);
      const info = Deno.lstatSync(path);
      const entry = entryOf(r, path, info, platform.listxattr);
      if (!entry) continue;
      const low = lower.entries.get(r);
      if (info.isDirectory) {
        if (low ? dirChanged(platform, low, entry) : !rules.madeFor(r)) out.set(r, entry);
        visit(r, low?.info.isDirectory ?? false);
        continue;
      }
      if (entry.linkKey) groups.set(entry.linkKey, [...groups.get(entry.linkKey) ?? [], entry]);
      if (fileChanged(platform, low, path, info, entry)) out.set(r, entry);
    }
  };
  visit("", true);
  // A file hardlinked to a changed one goes with it, so that the link is kept.
  for (const members of groups.values()) {
    if (members.some((m) => out.has(m.header.name))) {
      for (const m of members) out.set(m.header.name, m);
    }
  }
  addParents(out, dir, platform);
  return [...out.values()];
}

/** The entries of a container's changes to its image (see the module's notes). */
export function containerChanges(source: ChangesSource): LayerEntry[] {
  const lower = lowerView(source.layers, source.platform);
  const rules = new MountRules(mountPoints(source.bundle), lower);
  return source.kind === "overlay"
    ? overlayChanges(source, lower, rules)
    : treeChanges(source, lower, rules);
}

/** A container's changes to its image as a canonical layer tar. */
export function diffLayer(
  source: ChangesSource,
  options: LayerWriterOptions = {},
): ReadableStream<Uint8Array> {
  return layerTar(containerChanges(source), options);
}
