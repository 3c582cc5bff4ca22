/**
 * The build context: a directory, or a tar stream unpacked through our
 * extractor; `.containerignore` (else `.dockerignore`) with Docker's rules
 * (`@balena/dockerignore`); COPY sources found by Go's `filepath.Match`
 * globs and resolved with the path-confinement module, so that no source is
 * ever read outside its root, symlinks included.
 *
 * @module
 */

import { join } from "node:path";
import { ServinError } from "../../core/errors.ts";
import { DEFAULT_LIMITS } from "../../core/image.ts";
import type { Platform } from "../../core/kinds.ts";
import { cleanName, resolveInRoot } from "../formats/confine.ts";
import { sha256Hasher } from "../formats/digest.ts";
import { unpack } from "../formats/extract.ts";
import { fileType } from "../formats/layers.ts";
import { readTar } from "../formats/tar.ts";
import { stage } from "../storage/fs.ts";

const DOCKERIGNORE = "@balena/dockerignore";

/** Which context paths a build sees. */
export interface IgnoreRules {
  /** True when `rel` (a cleaned relative path) is left out. */
  ignores(rel: string): boolean;
  /** True when some rule re-includes paths (`!pattern`): an ignored directory may hold included files. */
  exceptions: boolean;
}

/** No rules: everything is seen. */
export const NO_IGNORE: IgnoreRules = { ignores: () => false, exceptions: false };

/**
 * Reads `.containerignore`, else `.dockerignore`, of the context `dir`.
 */
export async function loadIgnore(dir: string): Promise<IgnoreRules> {
  for (const name of [".containerignore", ".dockerignore"]) {
    let text: string;
    try {
      text = await Deno.readTextFile(join(dir, name));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue;
      throw err;
    }
    return ignoreRules(text);
  }
  return NO_IGNORE;
}

/**
 * Rules from an ignore file's text, with Docker's matching (comments, `!`
 * exceptions, `**`, leading `/` and `./` dropped).
 *
 * @example
 * ```ts ignore
 * import { ignoreRules } from "./_context.ts";
 * const rules = await ignoreRules("*.log\n!keep.log\n");
 * console.assert(rules.ignores("a.log") && !rules.ignores("keep.log"));
 * ```
 */
export async function ignoreRules(text: string): Promise<IgnoreRules> {
  // A CommonJS module whose export is the factory itself; its types say otherwise. Imported by
  // a name the module graph does not follow (see _parse.ts).
  const mod = await import(DOCKERIGNORE) as unknown as {
    default: () => { add(p: string[]): { ignores(path: string): boolean } };
  };
  const ignore = mod.default;
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const ig = ignore().add(lines);
  return {
    ignores: (rel) => rel !== "" && ig.ignores(rel),
    exceptions: lines.some((l) => l.startsWith("!")),
  };
}

/**
 * A scratch directory `<tmp>/<prefix><random>` staged under a lock, so that
 * what a killed build leaves is swept by the next writing command; returns
 * it and its removal.
 */
export async function scratchDir(
  tmp: string,
  prefix: string,
): Promise<{ dir: string; remove: () => Promise<void> }> {
  await Deno.mkdir(tmp, { recursive: true });
  const random = [...crypto.getRandomValues(new Uint8Array(8))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const staged = await stage(tmp, `${prefix}${random}`);
  return { dir: staged.path, remove: () => staged.release() };
}

/** A context opened for a build. */
export interface OpenedContext {
  /** Its directory. */
  dir: string;
  /** Removes what opening made (the unpacked tar). */
  close(): Promise<void>;
}

/**
 * Opens the context `spec`: a directory as it is, or `-`: a tar stream from
 * `stdin`, unpacked into a new directory under `tmp`.
 */
export async function openContext(
  spec: string,
  options: { stdin?: ReadableStream<Uint8Array>; tmp: string; platform: Platform },
): Promise<OpenedContext> {
  if (spec !== "-") {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(spec);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new ServinError("not-found", `Cannot read the build context "${spec}": not found`);
      }
      throw err;
    }
    if (!info.isDirectory) {
      throw new ServinError("invalid-argument", `The build context "${spec}" is not a directory`);
    }
    return { dir: await Deno.realPath(spec), close: async () => {} };
  }
  const { dir, remove } = await scratchDir(options.tmp, "build-context-");
  const close = () => remove().catch(() => {});
  try {
    const stream = options.stdin ?? Deno.stdin.readable;
    const { decompress, detectCompression } = await import("../formats/compression.ts");
    // The first chunk tells the compression; it is put back in front of the rest.
    const reader = stream.getReader();
    const first = await reader.read();
    const whole = ReadableStream.from((async function* () {
      if (!first.done) yield first.value;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    })());
    const kind = first.done ? "none" : detectCompression(first.value);
    const plain = kind === "none"
      ? whole
      : decompress(whole, kind as Parameters<typeof decompress>[1]);
    await unpack(readTar(plain, DEFAULT_LIMITS), dir, {
      platform: options.platform,
      warn: () => {},
    });
  } catch (err) {
    await close();
    if (err instanceof ServinError) {
      throw new ServinError(err.code, `Cannot read the build context from stdin: ${err.message}`);
    }
    throw err;
  }
  return { dir, close };
}

/** Go's `filepath.Match` for one path component. */
function componentPattern(pattern: string): RegExp | undefined {
  if (!/[*?[\\]/.test(pattern)) return undefined;
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "\\" && i + 1 < pattern.length) re += "\\" + pattern[++i];
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) throw new ServinError("invalid-argument", `Bad pattern "${pattern}"`);
      let body = pattern.slice(i + 1, end);
      if (body.startsWith("^")) body = "^" + body.slice(1);
      re += `[${body.replaceAll("\\", "\\\\")}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** One source a COPY names: its path in its root and where it is on disk. */
export interface Source {
  /** Path relative to the root (`""`: the root itself). */
  rel: string;
  /** Absolute path on disk, symlinks inside the root resolved. */
  path: string;
  /** lstat of `path`. */
  info: Deno.FileInfo;
}

/**
 * The paths `pattern` names under `root` (globs expanded, sorted); an error
 * when none does. `label` names the root in messages (`build context`).
 */
export function findSources(
  root: string,
  pattern: string,
  ignore: IgnoreRules,
  label: string,
): Source[] {
  const fail = (why: string) =>
    new ServinError("invalid-argument", `COPY source "${pattern}" ${why}`);
  const clean = cleanName(pattern.replace(/^\/+/, "") || ".", fail, { root: `the ${label}` });
  const parts = clean === "" ? [] : clean.split("/");
  let found = [""];
  for (const part of parts) {
    const re = componentPattern(part);
    const next: string[] = [];
    for (const rel of found) {
      if (!re) {
        next.push(rel ? `${rel}/${part}` : part);
        continue;
      }
      const dir = resolveInRoot(root, rel || "/", { label: `"${rel}"` });
      if (!dir) continue;
      let names: string[];
      try {
        names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      } catch {
        continue;
      }
      for (const name of names) if (re.test(name)) next.push(rel ? `${rel}/${name}` : name);
    }
    found = next;
  }
  const out: Source[] = [];
  for (const rel of found) {
    if (ignore.ignores(rel)) continue;
    const path = resolveInRoot(root, rel || "/", { label: `"${pattern}"` });
    if (!path) continue;
    out.push({ rel, path, info: Deno.lstatSync(path) });
  }
  if (out.length === 0) throw fail(`was not found in the ${label}`);
  return out;
}

/** One node of a layer COPY writes. */
export interface CopyItem {
  /** Path in the image, relative to `/`. */
  dest: string;
  /** The file on disk it is copied from (files and symlinks). */
  from?: string;
  /** `file`, `dir` or `symlink`. */
  type: "file" | "dir" | "symlink";
  /** Permission bits. */
  mode: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Modification time, seconds. */
  mtime: number;
  /** Symlink target. */
  linkname?: string;
  /** Bytes of a file. */
  size: number;
  /** Files with the same key are one file hardlinked (kept as links in the layer). */
  linkKey?: string;
}

/** Options of {@link planCopy}. */
export interface PlanOptions {
  /** Owner for everything copied (`--chown`), or `keep` the owners on disk; root otherwise, as Docker. */
  owner?: { uid: number; gid: number } | "keep";
  /** Mode for everything copied (`--chmod`). */
  chmod?: number;
  /** Rules of the context (none for `--from`). */
  ignore: IgnoreRules;
}

function join2(a: string, b: string): string {
  return a ? (b ? `${a}/${b}` : a) : b;
}

/**
 * What copying `sources` to `dest` (absolute, a directory when it ends in `/`
 * or more than one source is given) writes, with Docker's rules: a directory
 * source gives its content, a file goes under its own name into a directory.
 */
export function planCopy(sources: Source[], dest: string, options: PlanOptions): CopyItem[] {
  const toDir = dest.endsWith("/") || sources.length > 1;
  const fail = (why: string) => new ServinError("invalid-argument", `COPY destination ${why}`);
  const base = cleanName(dest.replace(/^\/+/, "") || ".", fail, { root: "/" });
  const items = new Map<string, CopyItem>();
  const owner = options.owner;
  const add = (dest: string, path: string, info: Deno.FileInfo) => {
    const type = fileType(info);
    if (type !== "file" && type !== "dir" && type !== "symlink") {
      throw new ServinError("unsupported", `COPY cannot copy "${path}": not a file or directory`);
    }
    const mode = options.chmod ?? (info.mode ?? 0o644) & 0o7777;
    items.set(dest, {
      dest,
      from: type === "dir" ? undefined : path,
      type,
      mode: type === "symlink" ? 0o777 : mode,
      uid: owner === "keep" ? info.uid ?? 0 : owner?.uid ?? 0,
      gid: owner === "keep" ? info.gid ?? 0 : owner?.gid ?? 0,
      mtime: Math.floor((info.mtime?.getTime() ?? 0) / 1000),
      linkname: type === "symlink" ? Deno.readLinkSync(path) : undefined,
      size: type === "file" ? info.size : 0,
      linkKey: type === "file" && (info.nlink ?? 1) > 1 ? `${info.dev}:${info.ino}` : undefined,
    });
  };
  const walk = (dir: string, rel: string, target: string) => {
    for (const name of [...Deno.readDirSync(dir)].map((e) => e.name).sort()) {
      const r = join2(rel, name);
      const path = join(dir, name);
      const info = Deno.lstatSync(path);
      const ignored = options.ignore.ignores(r);
      if (ignored && !(info.isDirectory && options.ignore.exceptions)) continue;
      const d = join2(target, name);
      if (info.isDirectory) {
        const before = items.size;
        if (!ignored) add(d, path, info);
        walk(path, r, d);
        // An ignored directory is kept only as the parent of what an exception re-includes.
        if (ignored && items.size > before) add(d, path, info);
      } else add(d, path, info);
    }
  };
  for (const s of sources) {
    if (s.info.isDirectory) {
      if (base && !items.has(base)) add(base, s.path, s.info);
      walk(s.path, s.rel, base);
    } else {
      const name = s.rel.split("/").at(-1) ?? "";
      add(toDir ? join2(base, name) : base, s.path, s.info);
    }
  }
  return [...items.values()].sort((a, b) => a.dest < b.dest ? -1 : a.dest > b.dest ? 1 : 0);
}

/**
 * A digest of what a COPY writes: paths, types, modes, owners, link targets
 * and file contents; the cache key of the step holds it.
 */
export async function hashItems(items: CopyItem[]): Promise<string> {
  const h = sha256Hasher();
  const enc = new TextEncoder();
  for (const i of items) {
    h.update(enc.encode(JSON.stringify([i.dest, i.type, i.mode, i.uid, i.gid, i.linkname ?? ""])));
    if (i.type === "file" && i.from) {
      const f = await Deno.open(i.from);
      try {
        for await (const chunk of f.readable) h.update(chunk);
      } catch (err) {
        throw new ServinError("os-error", `Cannot read "${i.from}": ${(err as Error).message}`);
      }
    }
    h.update(enc.encode("\n"));
  }
  return h.digest("hex");
}
