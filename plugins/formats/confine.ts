/**
 * Path confinement: the one place that decides whether a path stays inside a
 * root. Used by the extractor (archive member names), the archive source
 * (members of a tar, files of an OCI layout directory) and user resolution
 * (`/etc/passwd` of a root filesystem).
 *
 * - {@link cleanName} checks a name lexically: not empty, not absolute, no NUL,
 *   no `..` component.
 * - {@link resolveLexically} walks a path one component at a time against any
 *   tree (a directory on disk, the members of an archive), resolving symlinks
 *   as if the root were `/`, like cyphar's securejoin: `..` never climbs above
 *   the root, an absolute target starts again from the root, and at most
 *   {@link MAX_SYMLINKS} symlinks are followed.
 * - {@link resolveInRoot} is that walk on disk, with `lstat`.
 * - {@link openConfined} and {@link readConfinedFile} open only a regular
 *   file reached that way, without blocking on a FIFO, check that the file
 *   opened is the one checked, and cap the bytes read.
 *
 * @module
 */

import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { join } from "node:path";
import { type ErrorCode, ServinError } from "../../core/errors.ts";
import { fileType } from "./layers.ts";

/** Most symlinks followed while resolving one path (Linux's own limit). */
export const MAX_SYMLINKS = 40;

/** Options of {@link cleanName}. */
export interface CleanNameOptions {
  /** What a `..` component would escape, for the message (default `the image root`). */
  root?: string;
}

/**
 * Checks an archive member name lexically and returns it relative to the root,
 * without `.` components or repeated and trailing slashes (`""` is the root
 * itself). Throws `fail(why)` when it is empty, absolute, has a NUL byte or a
 * `..` component; `why` reads after the name (`has an absolute path`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cleanName } from "./confine.ts";
 * assert(cleanName("./etc//passwd/", (why) => new Error(why)) === "etc/passwd");
 * ```
 */
export function cleanName(
  name: string,
  fail: (why: string) => Error,
  options: CleanNameOptions = {},
): string {
  if (name === "") throw fail("has an empty name");
  if (name.startsWith("/")) throw fail("has an absolute path");
  if (name.includes("\0")) throw fail("has a NUL byte in its name");
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) {
    throw fail(`escapes ${options.root ?? "the image root"} (".." component)`);
  }
  return parts.join("/");
}

/** What {@link resolveLexically} needs to know of one path of a tree. */
export type PathNode =
  | { type: "dir" }
  | { type: "symlink"; target: string }
  | { type: "other" };

/** Options of {@link resolveLexically}. */
export interface ResolveOptions {
  /** Most symlinks to follow (default {@link MAX_SYMLINKS}). */
  maxSymlinks?: number;
  /**
   * Refuse instead of following: called with the symlink's path (relative to
   * the root) when one is met; what it returns is thrown.
   */
  refuseSymlink?: (rel: string) => Error;
  /** The error thrown when more than `maxSymlinks` symlinks are met. */
  loop?: () => Error;
}

/**
 * Resolves `path` inside a tree whose root is `""`, as if that root were `/`:
 * `lookup(rel)` describes each component (`undefined` when it does not exist).
 * Returns the resolved path relative to the root, or `undefined` when a
 * component is missing or a non-directory has to be walked through.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PathNode, resolveLexically } from "./confine.ts";
 * const tree: Record<string, PathNode> = {
 *   etc: { type: "dir" },
 *   "etc/passwd": { type: "symlink", target: "../../../../data/passwd" },
 *   data: { type: "dir" },
 *   "data/passwd": { type: "other" },
 * };
 * assert(resolveLexically("/etc/passwd", (rel) => tree[rel]) === "data/passwd");
 * ```
 */
export function resolveLexically(
  path: string,
  lookup: (rel: string) => PathNode | undefined,
  options: ResolveOptions = {},
): string | undefined {
  const max = options.maxSymlinks ?? MAX_SYMLINKS;
  const todo = path.split("/").reverse();
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const part = todo.pop()!;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      done.pop(); // at the root, `..` is the root
      continue;
    }
    const rel = done.length === 0 ? part : `${done.join("/")}/${part}`;
    const node = lookup(rel);
    if (node === undefined) return undefined;
    if (node.type === "symlink") {
      if (options.refuseSymlink) throw options.refuseSymlink(rel);
      if (++links > max) {
        throw options.loop?.() ??
          new ServinError("invalid-argument", `"${path}" has more than ${max} levels of symlinks`);
      }
      if (node.target.startsWith("/")) done.length = 0;
      todo.push(...node.target.split("/").reverse());
      continue;
    }
    const more = todo.some((p) => p !== "" && p !== ".");
    if (node.type !== "dir" && more) return undefined;
    done.push(part);
  }
  return done.join("/");
}

/** Options of {@link resolveInRoot}. */
export interface ResolveInRootOptions {
  /** `follow` (default): follow symlinks inside the root; `refuse`: throw on any symlink. */
  symlinks?: "follow" | "refuse";
  /** How the path is named in messages (default `"<path>"`). */
  label?: string;
  /** The code of the errors thrown (default `invalid-argument`). */
  code?: ErrorCode;
}

/**
 * Resolves `path` under the directory `root` as if `root` were `/`, reading
 * the tree with `lstat` and never following a symlink out of it. Returns the
 * absolute path on the host, or `undefined` when it does not exist.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveInRoot } from "./confine.ts";
 * const root = Deno.makeTempDirSync();
 * Deno.symlinkSync("../../../../..", `${root}/up`);
 * assert(resolveInRoot(root, "/up/up") === root);
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export function resolveInRoot(
  root: string,
  path: string,
  options: ResolveInRootOptions = {},
): string | undefined {
  const label = options.label ?? `"${path}"`;
  const code = options.code ?? "invalid-argument";
  const rel = resolveLexically(path, (rel) => lookupOnDisk(join(root, rel)), {
    refuseSymlink: options.symlinks === "refuse"
      ? (rel) =>
        new ServinError(
          code,
          rel === cleanPath(path)
            ? `${label} is a symlink`
            : `${label} is under the symlink "${rel}"`,
        )
      : undefined,
    loop: () => new ServinError(code, `${label} has more than ${MAX_SYMLINKS} levels of symlinks`),
  });
  return rel === undefined ? undefined : rel === "" ? root : join(root, rel);
}

function cleanPath(path: string): string {
  return path.split("/").filter((p) => p !== "" && p !== ".").join("/");
}

/**
 * `read()` (a read of a path: `lstat`, `realPath` …), or `undefined` when the
 * path does not exist: it is missing, or one of its parents is not a directory.
 * Any other error is thrown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unlessMissing } from "./confine.ts";
 * assert(unlessMissing(() => Deno.lstatSync("/etc/hostname/x")) === undefined);
 * ```
 */
export function unlessMissing<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw err;
  }
}

function lookupOnDisk(path: string): PathNode | undefined {
  const info = unlessMissing(() => Deno.lstatSync(path));
  if (info === undefined) return undefined;
  if (info.isSymlink) return { type: "symlink", target: Deno.readLinkSync(path) };
  return { type: info.isDirectory ? "dir" : "other" };
}

const KIND_NAMES = {
  file: "a regular file",
  dir: "a directory",
  symlink: "a symlink",
  fifo: "a FIFO",
  char: "a character device",
  block: "a block device",
};

/** What a file is, for messages. */
function kindOf(info: Deno.FileInfo): string {
  const type = fileType(info);
  if (type) return KIND_NAMES[type];
  return info.isSocket ? "a socket" : "not a regular file";
}

/** Options of {@link openConfined}. */
export interface OpenConfinedOptions extends ResolveInRootOptions {
  /** Most bytes that may be read; a larger file is refused (`limit-exceeded`). */
  maxBytes?: number;
  /** Open only a regular file (default true): FIFOs, devices, directories and sockets are refused. */
  regularOnly?: boolean;
}

/** A file opened by {@link openConfined}. */
export interface ConfinedFile {
  /** Its path on the host. */
  path: string;
  /** Its size when it was opened. */
  size: number;
  /** Its bytes, at most `maxBytes` of them (more is an error); closes the file at the end. */
  readable: ReadableStream<Uint8Array>;
  /** Closes the file (when `readable` is not read to its end). */
  close(): Promise<void>;
}

const CHUNK = 64 * 1024;

/**
 * Opens `path` inside `root` (see {@link resolveInRoot}) for reading: only a
 * regular file unless `regularOnly` is false, never blocking on a FIFO, and
 * only the very file that was checked (a file swapped in between is refused).
 * Throws `not-found` when it does not exist and `limit-exceeded` when it
 * holds more than `maxBytes`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openConfined } from "./confine.ts";
 * const root = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${root}/hello`, "hi");
 * const file = await openConfined(root, "hello", { maxBytes: 1024 });
 * assert(file.size === 2);
 * await file.readable.cancel();
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export async function openConfined(
  root: string,
  path: string,
  options: OpenConfinedOptions = {},
): Promise<ConfinedFile> {
  const label = options.label ?? `"${path}"`;
  const code = options.code ?? "invalid-argument";
  const fail = (why: string) => new ServinError(code, `${label} ${why}`);
  const real = resolveInRoot(root, path, options);
  if (real === undefined) throw new ServinError("not-found", `${label} does not exist`);
  const before = Deno.lstatSync(real);
  const regularOnly = options.regularOnly ?? true;
  if (regularOnly && !before.isFile) throw fail(`is ${kindOf(before)}, not a regular file`);
  let handle: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO swapped in after the check must not wait for a writer.
    handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    throw fail(`could not be opened: ${(err as Error).message}`);
  }
  try {
    const info = await handle.stat();
    if (info.dev !== before.dev || info.ino !== before.ino) {
      throw fail("changed while it was being opened");
    }
    if (regularOnly && !info.isFile()) throw fail("is not a regular file");
    const max = options.maxBytes;
    if (max !== undefined && info.size > max) throw tooBig(label, max);
    return { path: real, size: info.size, readable: capped(handle, label, max), close };
  } catch (err) {
    await handle.close();
    throw err;
  }

  async function close() {
    await handle.close().catch(() => {});
  }
}

function tooBig(label: string, max: number): ServinError {
  return new ServinError("limit-exceeded", `${label} is larger than the limit of ${max} bytes`);
}

/** The bytes of `handle`, failing once more than `max` have come (files grow; devices never end). */
function capped(handle: FileHandle, label: string, max?: number): ReadableStream<Uint8Array> {
  let total = 0;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await handle.close().catch(() => {});
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const limit = max === undefined ? CHUNK : Math.min(CHUNK, max - total + 1);
      const buf = new Uint8Array(Math.max(limit, 1));
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) {
        await close();
        controller.close();
        return;
      }
      total += bytesRead;
      if (max !== undefined && total > max) {
        await close();
        controller.error(tooBig(label, max));
        return;
      }
      controller.enqueue(buf.subarray(0, bytesRead));
    },
    async cancel() {
      await close();
    },
  });
}

/** Options of {@link readConfinedFile}. */
export interface ReadConfinedOptions extends OpenConfinedOptions {
  /** Most bytes read (required: nothing is read without a bound). */
  maxBytes: number;
}

/**
 * Reads the whole of a regular file inside `root` (see {@link openConfined}),
 * at most `maxBytes` of it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readConfinedFile } from "./confine.ts";
 * const root = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${root}/hello`, "hi");
 * const bytes = await readConfinedFile(root, "/hello", { maxBytes: 1024 });
 * assert(new TextDecoder().decode(bytes) === "hi");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export async function readConfinedFile(
  root: string,
  path: string,
  options: ReadConfinedOptions,
): Promise<Uint8Array> {
  const file = await openConfined(root, path, options);
  return new Uint8Array(await new Response(file.readable).arrayBuffer());
}
