/**
 * The extractor: applies tar entries, one at a time ({@link Extractor}), to a
 * fresh private directory. Every layer Servin stores goes through the rules
 * here ({@link LayerRules}: the on-disk extractor and the memory store's
 * layers both obey them), so the security rules live in one place:
 *
 * - names are checked lexically by `confine.ts` (no absolute path, no `..`),
 *   and every parent against the symlinks this extraction created, so nothing
 *   is ever written through a symlink;
 * - files are created with O_EXCL after removing what was there, so an
 *   existing inode is never written through;
 * - hardlinks must point at an earlier entry of the same archive;
 * - chown before chmod (chown clears setuid), symlinks are never chmodded and
 *   get their owner and times with the `l*` calls; directory modes and times
 *   are applied last, deepest first;
 * - extended attributes (`SCHILY.xattr.*`) after owner and mode: `user.*`
 *   where the filesystem takes them, others only as root;
 * - anything unexpected is refused with the entry's name, never skipped;
 *   only device nodes and FIFOs the platform cannot make (`canMknod`) are
 *   left out, with a warning.
 *
 * Speed: small files are created by a few concurrent async calls (on a
 * disk, creating a file is kernel-bound, so two cores beat one), but written,
 * timed and closed with synchronous calls through the open file (quick
 * everywhere, and an async call costs this thread more than that work),
 * straight from the chunks of the tar stream (no copy); chown and chmod are
 * skipped when creation already left the right owner and mode.
 *
 * @module
 */

import { lchownSync, lutimesSync } from "node:fs";
import { posix } from "node:path";
import { isServinError, messageOf, osError, ServinError } from "../../core/errors.ts";
import type { Limits, Platform, SpecialFileKind } from "../../core/kinds.ts";
import { cleanName } from "./confine.ts";
import type { TarEntry, TarHeader } from "./tar.ts";
import { classify, isHostXattr, OPAQUE_XATTR } from "./whiteout.ts";

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

/**
 * What an entry made at a path of the layer being applied; `whiteout`: the
 * layer deleted the name from the layers below (and made nothing there).
 */
export type EntryKind = "dir" | "file" | "symlink" | "other" | "whiteout";

function unsafe(name: string, why: string): ServinError {
  return new ServinError("unsafe-archive", `entry "${name}" ${why}`);
}

/**
 * Confines an archive member name (see {@link cleanName}): returns it
 * relative to the root without `.` components or trailing slashes (`""` is
 * the root), or throws `unsafe-archive` when it is absolute or has a `..`
 * component.
 */
export function confine(name: string): string {
  return cleanName(name, (why) => unsafe(name, why));
}

/** What {@link LayerRules.check} found in one entry it let through. */
export interface CheckedEntry {
  /** The confined path, relative to the root (`""` is the root itself). */
  rel: string;
  /**
   * Parents that did not exist yet, outermost first: already recorded as
   * directories, the caller creates them before the entry.
   */
  parents: string[];
  /**
   * The whiteout this entry is: `opaque` makes `dir` opaque, `file` deletes
   * `target` (both relative to the root); `none` when it is an ordinary entry;
   * `void` when it has nothing left to delete (see {@link LayerRules}): the
   * caller writes nothing for it.
   */
  whiteout:
    | { kind: "none" }
    | { kind: "opaque"; dir: string }
    | { kind: "file"; target: string }
    | { kind: "void" };
  /**
   * Directories this entry makes (its missing parents, or itself) at a name
   * this layer whited out: they replace the whiteout and hide the layers
   * below, as an opaque directory does.
   */
  opaque: string[];
  /** A hardlink's confined target and what is there; only for hardlinks. */
  link?: { target: string; kind: EntryKind };
}

/**
 * The rules every layer entry obeys, wherever the layer is written (a
 * directory, or the memory store's maps): it tracks what this layer made at
 * each path and refuses an entry that is absolute or climbs out with `..`,
 * replaces the root with a non-directory, has a parent that is a symlink or
 * not a directory, is a malformed whiteout or a whiteout that is not a
 * regular file, is a hardlink to anything but an earlier non-directory entry
 * of the same layer, or a symlink without a target. It never touches a
 * filesystem: the caller applies what it lets through and reports what it
 * made with {@link LayerRules.replace}.
 *
 * Whiteouts only delete what the layers below have (OCI layer.md), in any
 * order: one under a path this layer made a non-directory (`todir -> /data`
 * then `todir/.wh.inner`, as umoci and containerd's differ write) or of a
 * name this layer made a non-directory is `void`, nothing left to delete; one
 * of a directory this layer made (or the opaque marker, before or after the
 * directory's entries) makes that directory opaque and keeps what this layer
 * put in it; a directory made where this layer whited the name out is opaque.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LayerRules } from "./extract.ts";
 * const rules = new LayerRules();
 * const header = {
 *   name: "link", type: "symlink" as const, mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 0,
 *   linkname: "/etc", devmajor: 0, devminor: 0,
 * };
 * rules.replace(rules.check(header).rel, "symlink");
 * let refusal = "";
 * try {
 *   rules.check({ ...header, name: "link/passwd", type: "file", linkname: "" });
 * } catch (err) {
 *   refusal = (err as Error).message;
 * }
 * assert(refusal === 'entry "link/passwd" has a parent "link" that is a symlink');
 * ```
 */
export class LayerRules {
  readonly #maxEntries: number;
  /** What this layer made at each path (`""` is the root): the parent checks use it. */
  readonly #kinds = new Map<string, EntryKind>([["", "dir"]]);
  #entries = 0;

  /** Rules for one layer; more than `maxEntries` entries are refused. */
  constructor(options: { maxEntries?: number } = {}) {
    this.#maxEntries = options.maxEntries ?? Infinity;
  }

  /**
   * Checks one entry against the rules and what the layer made so far;
   * throws `unsafe-archive` (or `limit-exceeded`) naming it when it breaks one.
   */
  check(h: TarHeader): CheckedEntry {
    const rel = confine(h.name);
    if (++this.#entries > this.#maxEntries) {
      throw new ServinError(
        "limit-exceeded",
        `the archive has more than ${this.#maxEntries} entries`,
      );
    }
    if (rel === "") {
      if (h.type !== "dir") throw unsafe(h.name, "would replace the image root");
      return { rel, parents: [], whiteout: { kind: "none" }, opaque: [] };
    }
    const slash = rel.lastIndexOf("/");
    const dir = slash < 0 ? "" : rel.slice(0, slash);
    let wh;
    try {
      wh = classify(rel.slice(slash + 1));
    } catch (err) {
      throw unsafe(h.name, `is a ${(err as Error).message}`);
    }
    if (wh.kind !== "none" && h.type !== "file") {
      throw unsafe(h.name, "is a whiteout but not a regular file");
    }
    const opaque: string[] = [];
    if (wh.kind !== "none") {
      // Under a name this layer made a non-directory, the old children are
      // gone already: nothing to delete, and nothing is written through it.
      const parents = this.#parents(h.name, rel, "void", opaque);
      if (parents === undefined) return { rel, parents: [], whiteout: { kind: "void" }, opaque };
      if (wh.kind === "opaque") return { rel, parents, whiteout: { kind: "opaque", dir }, opaque };
      const target = dir === "" ? wh.target : `${dir}/${wh.target}`;
      const made = this.#kinds.get(target);
      // This layer's own entries stay: a directory of it becomes opaque.
      const whiteout: CheckedEntry["whiteout"] = made === "dir"
        ? { kind: "opaque", dir: target }
        : made === undefined
        ? { kind: "file", target }
        : { kind: "void" };
      if (made === undefined) this.#kinds.set(target, "whiteout");
      return { rel, parents, whiteout, opaque };
    }
    const parents = this.#parents(h.name, rel, "create", opaque)!;
    if (h.type === "dir" && this.#kinds.get(rel) === "whiteout") opaque.push(rel);
    const whiteout = { kind: "none" } as const;
    if (h.type === "symlink" && h.linkname === "") {
      throw unsafe(h.name, "is a symlink with an empty target");
    }
    if (h.type !== "link") return { rel, parents, whiteout, opaque };
    const target = cleanName(
      h.linkname,
      (why) => unsafe(h.name, `is a hardlink to "${h.linkname}", which ${why}`),
    );
    this.#parents(h.name, target, "check", []);
    const kind = this.#kinds.get(target);
    if (target === "" || kind === "dir") {
      throw unsafe(h.name, `is a hardlink to a directory ("${h.linkname}")`);
    }
    // A file of a layer below is not ours to link to: layers are stored
    // apart and shared between images (containerd's differ always writes
    // the target into the same layer).
    if (kind === undefined || kind === "whiteout") {
      throw unsafe(h.name, `is a hardlink to "${h.linkname}", which is not in the archive`);
    }
    return { rel, parents, whiteout, opaque, link: { target, kind } };
  }

  /** What the layer made at `rel`, if anything. */
  kind(rel: string): EntryKind | undefined {
    return this.#kinds.get(rel);
  }

  /**
   * Records that `rel` now holds `kind`, and returns what was there: the
   * caller removes it first (for a directory, with everything under it,
   * which the rules forget too).
   */
  replace(rel: string, kind: EntryKind): EntryKind | undefined {
    const old = this.forget(rel);
    this.#kinds.set(rel, kind);
    return old;
  }

  /** Forgets `rel` (and, for a directory, everything under it); returns what it was. */
  forget(rel: string): EntryKind | undefined {
    const old = this.#kinds.get(rel);
    if (old === "dir") {
      for (const key of [...this.#kinds.keys()]) {
        if (key.startsWith(`${rel}/`)) this.#kinds.delete(key);
      }
    }
    this.#kinds.delete(rel);
    return old;
  }

  /**
   * Checks the parents of `rel`: only directories, never a symlink or
   * another non-directory, which `mode` `void` answers with undefined
   * instead of a refusal. Unless `mode` is `check`, records the missing ones
   * (and those whited out by this layer, added to `opaque`) as directories
   * and returns them, outermost first.
   */
  #parents(
    name: string,
    rel: string,
    mode: "create" | "check" | "void",
    opaque: string[],
  ): string[] | undefined {
    const created: string[] = [];
    const parts = rel.split("/");
    let path = "";
    for (let i = 0; i < parts.length - 1; i++) {
      path = path === "" ? parts[i]! : `${path}/${parts[i]}`;
      const kind = this.#kinds.get(path);
      if (kind === "dir" || ((kind === undefined || kind === "whiteout") && mode === "check")) {
        continue;
      }
      if (kind === undefined || (kind === "whiteout" && mode === "create")) {
        if (kind === "whiteout") opaque.push(path);
        this.#kinds.set(path, "dir");
        created.push(path);
        continue;
      }
      // A non-directory of this layer: nothing of this layer is below it
      // (replacing a directory forgets its children), so nothing was created.
      if (mode === "void") return undefined;
      if (kind === "symlink") throw unsafe(name, `has a parent "${path}" that is a symlink`);
      throw unsafe(name, `has a parent "${path}" that is not a directory`);
    }
    return created;
  }
}

function writeAll(file: Deno.FsFile, chunk: Uint8Array): void {
  let off = 0;
  while (off < chunk.length) off += file.writeSync(chunk.subarray(off));
}

/** Files up to this size are held and written concurrently. */
const SMALL_FILE = 1024 * 1024;
/** Concurrent small-file writes (bounds memory to about CONCURRENCY × 2 × SMALL_FILE). */
const CONCURRENCY = 8;

/**
 * The chunks of a body, as they are: a stream's chunks belong to its reader,
 * so holding them until the write is safe, and copying them would cost more.
 */
async function collect(body: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return chunks;
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

/** Options of an {@link Extractor}. */
export interface ExtractorOptions extends UnpackOptions {
  /** Refuse more entries than `maxEntries` (the tar reader usually does it first). */
  limits?: Partial<Pick<Limits, "maxEntries" | "maxHeaderBytes">>;
}

/**
 * Applies tar entries, one at a time, to `dest`, which must be a fresh
 * directory only this process writes to. Call {@link Extractor.finish} after
 * the last entry: directory modes and times are applied there. After a
 * refusal, `dest` is half-written and is to be thrown away.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Extractor } from "./extract.ts";
 * import { linuxPlatform } from "../platform/mod.ts";
 * const dest = Deno.makeTempDirSync();
 * const x = new Extractor(dest, { platform: linuxPlatform(), warn: () => {} });
 * const [uid, gid] = [Deno.uid() ?? 0, Deno.gid() ?? 0];
 * const header = {
 *   name: "hello", type: "file" as const, mode: 0o644, uid, gid, size: 2, mtime: 0,
 *   linkname: "", devmajor: 0, devminor: 0,
 * };
 * await x.apply({ header, body: ReadableStream.from([new TextEncoder().encode("hi")]) });
 * assert((await x.finish()).size === 2);
 * Deno.removeSync(dest, { recursive: true });
 * ```
 */
export class Extractor {
  readonly #dest: string;
  readonly #platform: Platform;
  readonly #warn: (message: string) => void;
  /** What this extraction created at each path, and the rules its entries obey. */
  readonly #rules: LayerRules;
  /** Directory headers, applied by `finish`. */
  readonly #dirs = new Map<string, TarHeader>();
  readonly #writes = new Writes();
  readonly #stats: UnpackStats = { size: 0, entries: 0 };
  readonly #uid = Deno.uid() ?? 0;
  readonly #gid = Deno.gid() ?? 0;
  // No directory has its setgid bit until the end (modes come last), so a new
  // file gets our uid and gid; the umask decides what else creation changed.
  readonly #umask = Deno.build.os === "windows" ? 0 : Deno.umask();
  #finished = false;

  /** An extractor writing into `dest`. */
  constructor(dest: string, options: ExtractorOptions) {
    this.#dest = dest;
    this.#platform = options.platform;
    this.#warn = options.warn;
    this.#rules = new LayerRules({ maxEntries: options.limits?.maxEntries });
  }

  /** Applies one entry (reading its body), or throws a `ServinError` naming it. */
  async apply(entry: TarEntry): Promise<void> {
    if (this.#finished) throw new ServinError("internal", "the extraction is already finished");
    const { header: h, body } = entry;
    const checked = this.#rules.check(h);
    this.#stats.entries++;
    try {
      await this.#apply(h, checked, body);
      this.#writes.check();
    } catch (err) {
      await this.#writes.all().catch(() => {});
      throw describe(err, h.name);
    }
  }

  /**
   * Waits for the writes in flight, then applies directory modes and times,
   * deepest first, so that writing children neither failed on a read-only
   * directory nor bumped a restored mtime.
   */
  async finish(): Promise<UnpackStats> {
    this.#finished = true;
    await this.#writes.all().catch((err) => {
      throw describe(err, "a file");
    });
    const order = [...this.#dirs.keys()].sort((a, b) => b.split("/").length - a.split("/").length);
    for (const rel of order) {
      const h = this.#dirs.get(rel)!;
      const path = this.#abs(rel);
      try {
        // Compared with the directory itself: a repeated entry may change it back.
        const st = Deno.lstatSync(path);
        if ((st.uid !== h.uid || st.gid !== h.gid) && this.#mayChown()) {
          Deno.chownSync(path, h.uid, h.gid);
        }
        Deno.chmodSync(path, h.mode);
        this.#setXattrs(path, h);
        Deno.utimeSync(path, h.mtime, h.mtime);
      } catch (err) {
        throw describe(err, h.name);
      }
    }
    if (!this.#dirs.has("")) Deno.chmodSync(this.#dest, 0o755);
    return { ...this.#stats };
  }

  async #apply(h: TarHeader, c: CheckedEntry, body: AsyncIterable<Uint8Array>): Promise<void> {
    const rel = c.rel;
    if (rel === "") {
      this.#dirs.set("", h);
      return;
    }
    if (c.whiteout.kind === "void") return;
    for (const parent of c.parents) {
      if (c.opaque.includes(parent)) this.#unwhiteout(parent);
      Deno.mkdirSync(this.#abs(parent), { mode: 0o755 });
      if (c.opaque.includes(parent)) this.#opaque(parent);
    }
    if (this.#whiteout(c.whiteout)) return;
    const path = this.#abs(rel);
    switch (h.type) {
      case "dir": {
        if (this.#rules.kind(rel) !== "dir") {
          await this.#replace(rel, "dir");
          Deno.mkdirSync(path, { mode: 0o700 });
          if (c.opaque.includes(rel)) this.#opaque(rel);
        }
        // Owner, mode, xattrs and times come in `finish`, from the last entry
        // for this directory: a repeated entry's metadata wins.
        this.#dirs.set(rel, h);
        return;
      }
      case "file": {
        await this.#replace(rel, "file");
        this.#stats.size += h.size;
        if (h.size <= SMALL_FILE) {
          const chunks = await collect(body);
          await this.#writes.throttle(CONCURRENCY);
          this.#writes.start(
            rel,
            this.#writeSmall(path, chunks, h).catch((err) => Promise.reject(describe(err, h.name))),
          );
          return;
        }
        const file = Deno.openSync(path, { write: true, createNew: true, mode: h.mode & 0o777 });
        await this.#write(file, path, body, h);
        return;
      }
      case "link": {
        const { target, kind } = c.link!;
        if (target === rel) return;
        await this.#replace(rel, kind);
        await this.#writes.settle(target);
        Deno.linkSync(this.#abs(target), path);
        return;
      }
      case "symlink": {
        await this.#replace(rel, "symlink");
        Deno.symlinkSync(h.linkname, path);
        if (this.#needsChown(h)) lchownSync(path, h.uid, h.gid);
        this.#setXattrs(path, h);
        lutimesSync(path, h.mtime, h.mtime);
        return;
      }
      case "char":
      case "block":
      case "fifo": {
        const platform = this.#platform;
        if (h.type !== "fifo" && !platform.canMknod) {
          this.#warn("device nodes from archives are skipped: not running as root");
          return;
        }
        await this.#replace(rel, "other");
        if (!makeNode(platform, path, h.type, h.mode & 0o777, h.devmajor, h.devminor)) {
          this.#rules.forget(rel);
          this.#warn(`FIFOs from archives are skipped on ${platform.name}`);
          return;
        }
        this.#finishFile(path, h);
        return;
      }
    }
  }

  #abs(rel: string): string {
    return rel === "" ? this.#dest : posix.join(this.#dest, rel);
  }

  /**
   * Records `kind` at `rel` and removes what an earlier entry made there, so
   * nothing is written through it.
   */
  async #replace(rel: string, kind: EntryKind): Promise<void> {
    const old = this.#rules.kind(rel);
    if (old === "dir") await this.#writes.all();
    else if (old !== undefined) await this.#writes.settle(rel);
    if (old === "whiteout") this.#unwhiteout(rel);
    else if (old !== undefined) Deno.removeSync(this.#abs(rel), { recursive: old === "dir" });
    if (old === "dir") {
      for (const key of [...this.#dirs.keys()]) {
        if (key === rel || key.startsWith(`${rel}/`)) this.#dirs.delete(key);
      }
    }
    this.#rules.replace(rel, kind);
  }

  /** True when `h`'s owner must be applied (and says when it cannot be). */
  #needsChown(h: TarHeader): boolean {
    if (h.uid === this.#uid && h.gid === this.#gid) return false;
    return this.#mayChown();
  }

  /** True when owners can be applied; says once that they cannot be. */
  #mayChown(): boolean {
    if (this.#platform.canChown) return true;
    this.#warn("file ownership from archives is not kept: not running as root");
    return false;
  }

  /** True when creating with `h.mode` did not leave exactly `h.mode` (umask, special bits). */
  #needsChmod(h: TarHeader): boolean {
    return (h.mode & (this.#umask | 0o7000)) !== 0;
  }

  /**
   * Owner, then mode (chown clears setuid), then xattrs (it clears capabilities too), then
   * times (through `file` when it is open).
   */
  #finishFile(path: string, h: TarHeader, file?: Deno.FsFile): void {
    if (this.#needsChown(h)) Deno.chownSync(path, h.uid, h.gid);
    if (this.#needsChmod(h)) Deno.chmodSync(path, h.mode);
    this.#setXattrs(path, h);
    if (file) file.utimeSync(h.mtime, h.mtime);
    else Deno.utimeSync(path, h.mtime, h.mtime);
  }

  /**
   * Applies the entry's extended attributes: `user.*` wherever the
   * filesystem takes them, the other namespaces (`security.capability`,
   * `trusted.*`, ACLs) only when privileged; the host's own never. What
   * cannot be set is left out with a warning; an import fails only when a
   * privileged attribute is refused for another reason than no support.
   */
  #setXattrs(path: string, h: TarHeader): void {
    if (h.xattrs === undefined) return;
    for (const [name, value] of Object.entries(h.xattrs)) {
      if (isHostXattr(name)) {
        this.#warn(
          "host attributes (trusted.overlay.*, security.selinux) from archives are not kept",
        );
        continue;
      }
      const user = name.startsWith("user.");
      // Root on Linux, as for ownership: the same privilege sets both.
      if (!user && !this.#platform.canChown) {
        this.#warn(
          "extended attributes other than user.* from archives are not kept: not running as root",
        );
        continue;
      }
      try {
        this.#platform.setxattr(path, name, value);
      } catch (err) {
        if (!user && !unsupported(err)) throw err;
        this.#warn(`extended attributes from archives are not all kept: ${messageOf(err)}`);
      }
    }
  }

  /** Writes the body of `h` to `file`, just created at `path`, then its attributes; closes it. */
  async #write(
    file: Deno.FsFile,
    path: string,
    chunks: AsyncIterable<Uint8Array> | Uint8Array[],
    h: TarHeader,
  ): Promise<void> {
    try {
      for await (const chunk of chunks) writeAll(file, chunk);
      this.#finishFile(path, h, file);
    } finally {
      file.close();
    }
  }

  /** Creates (the slow part on a disk: concurrent, in Deno's blocking pool), then writes. */
  async #writeSmall(path: string, chunks: Uint8Array[], h: TarHeader): Promise<void> {
    const file = await Deno.open(path, { write: true, createNew: true, mode: h.mode & 0o777 });
    await this.#write(file, path, chunks, h);
  }

  /**
   * As root on Linux, writes a whiteout in overlayfs form (0:0 device, opaque
   * xattr); false when the entry is to be written as it is (not a whiteout,
   * or a platform that keeps the `.wh.` files).
   */
  #whiteout(wh: CheckedEntry["whiteout"]): boolean {
    const platform = this.#platform;
    if (wh.kind === "none" || wh.kind === "void" || !platform.overlayWhiteouts) return false;
    if (wh.kind === "opaque") {
      this.#opaque(wh.dir);
      return true;
    }
    platform.mknod(this.#abs(wh.target), "char", 0, 0, 0);
    return true;
  }

  /** Marks `rel`, a directory this layer made, opaque (overlayfs form only). */
  #opaque(rel: string): void {
    if (this.#platform.overlayWhiteouts) this.#platform.setxattr(this.#abs(rel), OPAQUE_XATTR, "y");
  }

  /** Removes the 0:0 device of a whiteout at `rel` (only the overlayfs form has one). */
  #unwhiteout(rel: string): void {
    if (this.#platform.overlayWhiteouts) Deno.removeSync(this.#abs(rel));
  }
}

/**
 * Makes a device node or FIFO at `path`; false when the platform cannot make
 * any (`unsupported`): the caller leaves the entry out.
 */
export function makeNode(
  platform: Platform,
  path: string,
  kind: SpecialFileKind,
  mode: number,
  major: number,
  minor: number,
): boolean {
  try {
    platform.mknod(path, kind, mode, major, minor);
    return true;
  } catch (err) {
    if (isServinError(err, "unsupported")) return false;
    throw err;
  }
}

/**
 * Extracts `entries` into `dest`, which must be a fresh directory only this
 * process writes to: an {@link Extractor} fed every entry, then finished.
 */
export async function unpack(
  entries: AsyncIterable<TarEntry>,
  dest: string,
  options: ExtractorOptions,
): Promise<UnpackStats> {
  const extractor = new Extractor(dest, options);
  for await (const entry of entries) await extractor.apply(entry);
  return await extractor.finish();
}

/** True when `err` says the filesystem or platform has no such attributes at all. */
function unsupported(err: unknown): boolean {
  const errno = (err as { errno?: unknown }).errno;
  return isServinError(err, "unsupported") || errno === 95; // ENOTSUP
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
