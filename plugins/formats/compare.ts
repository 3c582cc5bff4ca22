/**
 * Compares two unpacked trees: what the extractor makes of a layer's blob
 * now, and the layer directory the store kept. Re-taring a directory cannot
 * reproduce its diff_id (the original tar's order, headers and padding are
 * gone), so `servin system check` extracts the blob again and compares the
 * trees: types, permission bits, owners (when the extractor could apply
 * them), sizes, file content (byte by byte, once per hardlink group),
 * symlink targets, device numbers, the opaque-directory xattr, the other
 * extended attributes the extractor keeps, and hardlink groups. Times are not compared: the extractor sets them, nothing reads
 * them back from a layer.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { join } from "node:path";
import { deviceNumbers, fileType, fileXattrs, type GetXattr } from "./layers.ts";
import { OPAQUE_XATTR } from "./whiteout.ts";

/** Options of {@link compareTrees}. */
export interface CompareOptions {
  /** Compare owners: true where the extractor applies them (root on Linux). */
  owners: boolean;
  /** Reads an xattr (the platform's); the opaque-directory xattr is compared when given. */
  getxattr?: GetXattr;
  /** Lists a file's xattrs (the platform's); the file's own ones are compared when given. */
  listxattr?: (path: string) => Record<string, Uint8Array>;
}

/** Bytes read from each side at a time. */
const CHUNK = 1024 * 1024;

/**
 * How the tree at `actual` differs from the one at `expected`, on one line
 * (the first difference in name order, and how many more), or undefined
 * when they are the same.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareTrees } from "./compare.ts";
 * const [a, b] = [Deno.makeTempDirSync(), Deno.makeTempDirSync()];
 * Deno.writeTextFileSync(`${a}/f`, "one");
 * Deno.writeTextFileSync(`${b}/f`, "two");
 * assert(compareTrees(a, b, { owners: false }) === '"f" has other content');
 * Deno.removeSync(a, { recursive: true });
 * Deno.removeSync(b, { recursive: true });
 * ```
 */
export function compareTrees(
  expected: string,
  actual: string,
  options: CompareOptions,
): string | undefined {
  const differences: string[] = [];
  // Hardlink groups must map one to one; content is compared once per group.
  const groups = new Map<string, string>();
  const taken = new Map<string, string>();
  const sameContent = new Map<string, boolean>();
  const buffers: [Buffer, Buffer] = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  // Depth-first with an explicit stack (bounded by the tree, not the call stack), names sorted.
  const stack = [""];
  while (stack.length) {
    const rel = stack.pop()!;
    const e = lstat(join(expected, rel));
    const a = lstat(join(actual, rel));
    const why = difference(rel || ".", e, a);
    if (why) differences.push(why);
    if (!e?.isDirectory || !a?.isDirectory) continue;
    const names = new Set([...list(join(expected, rel)), ...list(join(actual, rel))]);
    for (const name of [...names].sort().reverse()) stack.push(rel ? `${rel}/${name}` : name);
  }
  if (differences.length === 0) return undefined;
  const more = differences.length - 1;
  return more
    ? `${differences[0]} (and ${more} more difference${more > 1 ? "s" : ""})`
    : differences[0];

  function difference(rel: string, e?: Deno.FileInfo, a?: Deno.FileInfo): string | undefined {
    const name = `"${rel}"`;
    if (!e) return `${name} was not in the layer`;
    if (!a) return `${name} is missing`;
    const type = fileType(e) ?? "socket";
    const got = fileType(a) ?? "socket";
    if (got !== type) return `${name} is a ${got}, not a ${type}`;
    if (type === "file") {
      if (a.size !== e.size) return `${name} has ${a.size} bytes, not ${e.size}`;
      const shared = (e.nlink ?? 1) > 1 || (a.nlink ?? 1) > 1;
      const [eKey, aKey] = [`${e.dev}:${e.ino}`, `${a.dev}:${a.ino}`];
      if (shared) {
        if ((groups.get(eKey) ?? aKey) !== aKey || (taken.get(aKey) ?? eKey) !== eKey) {
          return `${name} is not hardlinked as in the layer`;
        }
        groups.set(eKey, aKey);
        taken.set(aKey, eKey);
      }
      let same = shared ? sameContent.get(eKey) : undefined;
      if (same === undefined) {
        same = equalFiles(join(expected, rel), join(actual, rel), e.size, buffers);
        if (shared) sameContent.set(eKey, same);
      }
      if (!same) return `${name} has other content`;
    } else if (type === "symlink") {
      const [want, have] = [
        Deno.readLinkSync(join(expected, rel)),
        Deno.readLinkSync(join(actual, rel)),
      ];
      if (have !== want) return `${name} points to "${have}", not "${want}"`;
    } else if (type === "char" || type === "block") {
      const [want, have] = [deviceNumbers(e).join(":"), deviceNumbers(a).join(":")];
      if (have !== want) return `${name} is device ${have}, not ${want}`;
    }
    // A symlink's mode means nothing on Linux and cannot be set.
    const [want, have] = [(e.mode ?? 0) & 0o7777, (a.mode ?? 0) & 0o7777];
    if (type !== "symlink" && have !== want) {
      return `${name} has mode ${have.toString(8)}, not ${want.toString(8)}`;
    }
    if (options.owners && (a.uid !== e.uid || a.gid !== e.gid)) {
      return `${name} is owned by ${a.uid}:${a.gid}, not ${e.uid}:${e.gid}`;
    }
    if (type === "dir" && options.getxattr) {
      const opaque = options.getxattr(join(expected, rel), OPAQUE_XATTR) === "y";
      if ((options.getxattr(join(actual, rel), OPAQUE_XATTR) === "y") !== opaque) {
        return `${name} is ${opaque ? "not " : ""}an opaque directory`;
      }
    }
    if (options.listxattr) {
      const want = fileXattrs(options.listxattr, join(expected, rel)) ?? {};
      const have = fileXattrs(options.listxattr, join(actual, rel)) ?? {};
      for (const attr of [...new Set([...Object.keys(want), ...Object.keys(have)])].sort()) {
        const [w, h] = [want[attr], have[attr]];
        if (!w) return `${name} has xattr ${attr}, which the layer has not`;
        if (!h) return `${name} lacks xattr ${attr}`;
        if (!Buffer.from(w).equals(h)) return `${name} has another value of xattr ${attr}`;
      }
    }
    return undefined;
  }
}

function lstat(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/** Names in a directory; none when this process may not read it (a non-root user's mode 0 directory). */
function list(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch (err) {
    if (err instanceof Deno.errors.PermissionDenied) return [];
    throw err;
  }
}

/**
 * True when the two files of `size` bytes hold the same bytes; also when
 * this process may not read the expected one (a non-root user's mode 0
 * file): the sizes were all there was to compare.
 */
export function equalFiles(
  a: string,
  b: string,
  size: number,
  [x, y]: [Buffer, Buffer] = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)],
): boolean {
  const files: Deno.FsFile[] = [];
  try {
    for (const path of [a, b]) files.push(Deno.openSync(path));
  } catch (err) {
    for (const f of files) f.close();
    if (err instanceof Deno.errors.PermissionDenied) return files.length === 0;
    throw err;
  }
  const [fa, fb] = files as [Deno.FsFile, Deno.FsFile];
  try {
    for (let off = 0; off <= size; off += CHUNK) {
      const [n, m] = [readFull(fa, x), readFull(fb, y)];
      if (n !== m || !x.subarray(0, n).equals(y.subarray(0, m))) return false;
      if (n < CHUNK) return true;
    }
    return true;
  } finally {
    fa.close();
    fb.close();
  }
}

/** Fills `buf` from `file`; fewer bytes only at the end of the file. */
function readFull(file: Deno.FsFile, buf: Uint8Array): number {
  let off = 0;
  while (off < buf.length) {
    const n = file.readSync(buf.subarray(off));
    if (n === null) break;
    off += n;
  }
  return off;
}
