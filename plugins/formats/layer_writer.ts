/**
 * The canonical layer writer: a layer tar from a directory tree or a list of
 * entries, the same bytes for the same tree whatever order it was read in,
 * so that `commit` and `build` give the same diff_id for the same changes.
 *
 * - Order: depth first, parents before what they hold, the names of a
 *   directory in bytewise (UTF-8) order, except that its whiteouts come
 *   first (the opaque marker, then `.wh.NAME`s), as the OCI layer spec
 *   advises; the root itself is not an entry.
 * - Names: relative, without `./`; directories end with `/`.
 * - Headers: ustar, numeric uid and gid, no user or group names, no atime
 *   or ctime, whole-second mtimes (at most `clampMtime`, for
 *   SOURCE_DATE_EPOCH), a pax header only for what ustar cannot hold and
 *   for extended attributes (`SCHILY.xattr.*`, as the extractor reads them;
 *   the host's own, `trusted.overlay.*` and SELinux labels, are left out).
 * - Hardlinks: files of one hardlink group within the layer are written
 *   once, the first in order, and the others as links to it.
 *
 * @module
 */

import { join } from "node:path";
import { messageOf, osError, ServinError } from "../../core/errors.ts";
import { deviceNumbers, fileType, fileXattrs } from "./layers.ts";
import type { TarHeader } from "./tar.ts";
import { TarWriter } from "./tar_writer.ts";
import { OPAQUE, WHITEOUT_PREFIX } from "./whiteout.ts";

/** One entry of a layer to write. */
export interface LayerEntry {
  /** Its header; `name` is relative to the layer's root (`./` and a trailing `/` are dropped). */
  header: TarHeader;
  /** A regular file's content: a path to read when written, or the bytes. */
  content?: string | Uint8Array;
  /**
   * Entries with the same key are one file hardlinked: the first in order
   * is written with its content, the others as links to it. A `link`
   * entry (`header.linkname`: another entry's name) joins its target's group.
   */
  linkKey?: string;
}

/** Options of {@link layerTar}. */
export interface LayerWriterOptions {
  /** Seconds since the epoch: every later mtime is written as this one (SOURCE_DATE_EPOCH). */
  clampMtime?: number;
}

/** Options of {@link directoryEntries}. */
export interface DirectoryOptions {
  /** Lists a file's extended attributes (the platform's `listxattr`); none are kept without it. */
  listxattr?: (path: string) => Record<string, Uint8Array>;
}

const enc = new TextEncoder();

/** A name without `./`, leading or trailing slashes (`""`: the root). */
function clean(name: string): string {
  return name.split("/").filter((p) => p !== "" && p !== ".").join("/");
}

/** Rank of a base name among its siblings: the opaque marker, whiteouts, then the rest. */
function rank(base: string): number {
  return base === OPAQUE ? 1 : base.startsWith(WHITEOUT_PREFIX) ? 2 : 3;
}

/**
 * The sort key of a path: each component as its rank and its UTF-8 bytes
 * (one character per byte, so that comparing keys compares bytes),
 * separated by a 0 (smaller than any), so that a directory comes right
 * before what it holds.
 */
function sortKey(path: string): string {
  let key = "";
  for (const p of path.split("/")) {
    const bytes = ASCII.test(p) ? p : String.fromCharCode(...enc.encode(p));
    key += `${key ? "\u0000" : ""}${String.fromCharCode(rank(p))}${bytes}`;
  }
  return key;
}

/** Printable ASCII: its characters are its UTF-8 bytes (anything else is encoded). */
const ASCII = /^[ -~]*$/;

/** Bytes the writer hands on at a time: fewer, larger chunks cost the stream less. */
const CHUNK = 1024 * 1024;

/**
 * Sorts `entries` in canonical order and settles hardlink groups: the first
 * entry of each group in that order carries the content, the others become
 * `link` entries naming it. Throws when two entries have the same name or a
 * link names no entry.
 */
export function canonicalEntries(entries: Iterable<LayerEntry>): LayerEntry[] {
  const byName = new Map<string, LayerEntry>();
  for (const e of entries) {
    const name = clean(e.header.name);
    if (name === "") continue;
    if (byName.has(name)) throw new Error(`the layer has "${name}" twice`);
    byName.set(name, { ...e, header: { ...e.header, name } });
  }
  // A link joins its target's group; the target's header and content serve the group.
  const target = (e: LayerEntry): LayerEntry => {
    let t = e;
    for (let hops = 0; t.header.type === "link"; hops++) {
      const next = byName.get(clean(t.header.linkname));
      if (!next || hops > byName.size) {
        throw new Error(
          `"${e.header.name}" links to "${e.header.linkname}", which is not in the layer`,
        );
      }
      t = next;
    }
    if (t.header.type !== "file") {
      throw new Error(`"${e.header.name}" links to a ${t.header.type}, not a file`);
    }
    return t;
  };
  const groupOf = new Map<string, string>();
  const holder = new Map<string, LayerEntry>();
  for (const e of byName.values()) {
    if (e.header.type !== "link") continue;
    const t = target(e);
    t.linkKey ??= `name:${t.header.name}`;
    groupOf.set(e.header.name, t.linkKey);
  }
  for (const [name, e] of byName) {
    if (e.header.type === "link" || e.linkKey === undefined) continue;
    groupOf.set(name, e.linkKey);
    if (!holder.has(e.linkKey)) holder.set(e.linkKey, e);
  }
  const names = [...byName.keys()].map((n) => [sortKey(n), n] as const)
    .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([, n]) => n);
  const first = new Map<string, string>();
  return names.map((name) => {
    const e = byName.get(name)!;
    const key = groupOf.get(name);
    if (key === undefined) return e;
    const owner = holder.get(key) ?? e;
    const leader = first.get(key);
    if (leader === undefined) {
      first.set(key, name);
      return { header: { ...owner.header, name }, content: owner.content };
    }
    const header = { ...owner.header, name, type: "link" as const, size: 0, linkname: leader };
    delete header.xattrs;
    return { header };
  });
}

/**
 * The layer tar of `entries`, written canonically (see the module's notes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { layerTar } from "./layer_writer.ts";
 * const file = { name: "b", type: "file" as const, mode: 0o644, uid: 0, gid: 0, size: 2,
 *   mtime: 2_000_000_000, linkname: "", devmajor: 0, devminor: 0 };
 * const tar = layerTar([
 *   { header: file, content: new TextEncoder().encode("hi") },
 *   { header: { ...file, name: "a", type: "dir", mode: 0o755, size: 0 } },
 * ], { clampMtime: 1_000_000_000 });
 * const bytes = new Uint8Array(await new Response(tar).arrayBuffer());
 * assert(new TextDecoder().decode(bytes.subarray(0, 2)) === "a/");
 * ```
 */
export function layerTar(
  entries: Iterable<LayerEntry>,
  options: LayerWriterOptions = {},
): ReadableStream<Uint8Array> {
  const sorted = canonicalEntries(entries);
  const channel = new TransformStream<Uint8Array, Uint8Array>(undefined, { highWaterMark: 4 });
  const writer = channel.writable.getWriter();
  (async () => {
    let buffer = new Uint8Array(CHUNK);
    let used = 0;
    const flush = async () => {
      if (used === 0) return;
      const full = buffer.subarray(0, used);
      [buffer, used] = [new Uint8Array(CHUNK), 0];
      await writer.write(full);
    };
    const tar = new TarWriter(async (chunk) => {
      if (used + chunk.length > CHUNK) await flush();
      if (chunk.length >= CHUNK) return await writer.write(chunk);
      buffer.set(chunk, used);
      used += chunk.length;
    });
    for (const { header, content } of sorted) {
      const mtime = Math.floor(header.mtime);
      const h: TarHeader = {
        ...header,
        name: header.type === "dir" ? `${header.name}/` : header.name,
        mode: header.mode & 0o7777,
        mtime: options.clampMtime !== undefined ? Math.min(mtime, options.clampMtime) : mtime,
      };
      if (!h.xattrs || Object.keys(h.xattrs).length === 0) delete h.xattrs;
      try {
        if (h.type !== "file") await tar.add(h);
        else if (typeof content !== "string") await tar.add(h, content ?? new Uint8Array());
        else {
          // Read straight into the chunk being filled: no buffer per file, no copy.
          const size = await tar.begin(h);
          using file = Deno.openSync(content);
          let read = 0;
          for (;;) {
            if (used === CHUNK) await flush();
            // One byte more than is left, so that a file that grew is seen.
            const room = Math.min(CHUNK - used, size - read + 1);
            const n = file.readSync(buffer.subarray(used, used + room));
            if (n === null) break;
            read += n;
            used += n;
            if (read > size) throw new Error(`"${h.name}" is larger than its header says`);
          }
          if (read !== size) throw new Error(`"${h.name}" changed size while being archived`);
          await tar.pad(size);
        }
      } catch (err) {
        // A file that changed or went while it was read (a container running on) is no bug.
        if (err instanceof ServinError) throw err;
        throw osError(err) ?? new ServinError(
          "conflict",
          `Cannot write "${h.name}" into the layer: ${messageOf(err)}`,
          { cause: err },
        );
      }
    }
    await tar.finish();
    await flush();
    await writer.close();
  })().catch((err) => writer.abort(err).catch(() => {}));
  return channel.readable;
}

/**
 * The header of the file at `path` (lstat `info`) as a layer entry named
 * `name`, with its own extended attributes; undefined for a socket, which
 * no layer holds.
 */
export function headerOf(
  name: string,
  path: string,
  info: Deno.FileInfo,
  listxattr?: (path: string) => Record<string, Uint8Array>,
): TarHeader | undefined {
  const type = fileType(info);
  if (!type) return undefined;
  const [devmajor, devminor] = type === "char" || type === "block" ? deviceNumbers(info) : [0, 0];
  const header: TarHeader = {
    name,
    type,
    mode: (info.mode ?? 0) & 0o7777,
    uid: info.uid ?? 0,
    gid: info.gid ?? 0,
    size: type === "file" ? info.size : 0,
    mtime: Math.floor((info.mtime?.getTime() ?? 0) / 1000),
    linkname: type === "symlink" ? Deno.readLinkSync(path) : "",
    devmajor,
    devminor,
  };
  const xattrs = listxattr && fileXattrs(listxattr, path);
  if (xattrs) header.xattrs = xattrs;
  return header;
}

/** The entry of the file at `path`, with its hardlink key when it has other links. */
export function entryOf(
  name: string,
  path: string,
  info: Deno.FileInfo,
  listxattr?: (path: string) => Record<string, Uint8Array>,
): LayerEntry | undefined {
  const header = headerOf(name, path, info, listxattr);
  if (!header) return undefined;
  const entry: LayerEntry = { header };
  if (header.type === "file") entry.content = path;
  if (header.type === "file" && (info.nlink ?? 1) > 1) entry.linkKey = `${info.dev}:${info.ino}`;
  return entry;
}

/** A whiteout of `name` (relative to the root): it deletes `name` of the layers below. */
export function whiteoutEntry(name: string): LayerEntry {
  const path = clean(name);
  const slash = path.lastIndexOf("/");
  const wh = `${path.slice(0, slash + 1)}${WHITEOUT_PREFIX}${path.slice(slash + 1)}`;
  return { header: markerHeader(wh) };
}

/** The opaque marker of directory `dir`: nothing of the layers below shows through it. */
export function opaqueEntry(dir: string): LayerEntry {
  const path = clean(dir);
  return { header: markerHeader(path ? `${path}/${OPAQUE}` : OPAQUE) };
}

/** Whiteouts are empty files of mode 0, owned by root, at time 0: nothing in them varies. */
function markerHeader(name: string): TarHeader {
  return {
    name,
    type: "file",
    mode: 0,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 0,
    linkname: "",
    devmajor: 0,
    devminor: 0,
  };
}

/** The entries of the tree at `dir` (its root excluded), read as they are; sockets are left out. */
export function directoryEntries(dir: string, options: DirectoryOptions = {}): LayerEntry[] {
  const out: LayerEntry[] = [];
  const stack = [""];
  while (stack.length) {
    const rel = stack.pop()!;
    for (const { name } of Deno.readDirSync(join(dir, rel))) {
      const child = rel ? `${rel}/${name}` : name;
      const path = join(dir, child);
      const info = Deno.lstatSync(path);
      const entry = entryOf(child, path, info, options.listxattr);
      if (entry) out.push(entry);
      if (info.isDirectory) stack.push(child);
    }
  }
  return out;
}

/**
 * The canonical layer tar of the tree at `dir`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { directoryLayer } from "./layer_writer.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/hello`, "hi");
 * const bytes = await new Response(directoryLayer(dir)).arrayBuffer();
 * assert(bytes.byteLength === 512 + 512 + 1024); // a header, "hi" in a block, the end
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function directoryLayer(
  dir: string,
  options: DirectoryOptions & LayerWriterOptions = {},
): ReadableStream<Uint8Array> {
  return layerTar(directoryEntries(dir, options), options);
}
