/**
 * A strict, streaming tar reader (POSIX ustar, pax and GNU long names).
 *
 * We parse tar ourselves rather than with modern-tar's decoder: that decoder
 * turns unknown type flags (GNU sparse, volume headers, …) into regular files,
 * does not expose device numbers and skips corrupt headers unless strict.
 * Refusing such entries is part of our extraction rules, so the parser that
 * sees the raw headers is ours too.
 *
 * @module
 */

import { ServinError } from "../../core/errors.ts";
import type { Limits } from "../../core/kinds.ts";
import { headerSums, TAR_BLOCK as BLOCK } from "./sniff.ts";

export { isTarHeader } from "./sniff.ts";

type ExtractLimits = Pick<Limits, "maxEntries" | "maxHeaderBytes">;

/** Entry types Servin accepts. Anything else is refused. */
export type EntryType = "file" | "link" | "symlink" | "char" | "block" | "dir" | "fifo";

/** A decoded tar header, after pax and GNU long-name records were applied. */
export interface TarHeader {
  /** Path inside the archive, as recorded. */
  name: string;
  /** Entry type. */
  type: EntryType;
  /** Permission bits, including setuid, setgid and sticky. */
  mode: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Bytes of content (0 for everything but regular files). */
  size: number;
  /** Modification time, seconds since the epoch (may be fractional). */
  mtime: number;
  /** Symlink target or hardlink source. */
  linkname: string;
  /** Device major number. */
  devmajor: number;
  /** Device minor number. */
  devminor: number;
  /**
   * Extended attributes from `SCHILY.xattr.NAME` pax records (what GNU tar
   * `--xattrs` and Go's archive/tar write), by name; values are raw bytes
   * (`security.capability` is binary). Absent when the entry has none.
   */
  xattrs?: Record<string, Uint8Array>;
}

/** Prefix of the pax records that carry extended attributes. */
export const PAX_XATTR = "SCHILY.xattr.";

/** One entry; read `body` fully or leave it, and the reader skips what is left. */
export interface TarEntry {
  /** The decoded header. */
  header: TarHeader;
  /** The content, streamed without copying. */
  body: AsyncIterable<Uint8Array>;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const latin = new TextDecoder("latin1");

function fail(message: string, code: "invalid-archive" | "unsafe-archive" = "invalid-archive") {
  return new ServinError(code, message);
}

/** Reads exact byte counts from an async stream of chunks. */
class Bytes {
  #it: AsyncIterator<Uint8Array>;
  #cur: Uint8Array = new Uint8Array(0);
  #pos = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  async #more(): Promise<boolean> {
    while (this.#pos >= this.#cur.length) {
      const r = await this.#it.next();
      if (r.done) return false;
      this.#cur = r.value;
      this.#pos = 0;
    }
    return true;
  }

  /** Exactly `n` bytes, or null at a clean end before the first byte. */
  async read(n: number): Promise<Uint8Array | null> {
    if (!(await this.#more())) return null;
    if (this.#cur.length - this.#pos >= n) {
      const out = this.#cur.subarray(this.#pos, this.#pos + n);
      this.#pos += n;
      return out;
    }
    const out = new Uint8Array(n);
    let have = 0;
    while (have < n) {
      if (!(await this.#more())) throw fail("the archive is truncated");
      const take = Math.min(n - have, this.#cur.length - this.#pos);
      out.set(this.#cur.subarray(this.#pos, this.#pos + take), have);
      this.#pos += take;
      have += take;
    }
    return out;
  }

  /** Up to `max` bytes as they are; throws when the stream ends first. */
  async chunk(max: number): Promise<Uint8Array> {
    if (!(await this.#more())) throw fail("the archive is truncated");
    const take = Math.min(max, this.#cur.length - this.#pos);
    const out = this.#cur.subarray(this.#pos, this.#pos + take);
    this.#pos += take;
    return out;
  }

  async skip(n: number): Promise<void> {
    while (n > 0) n -= (await this.chunk(n)).length;
  }

  /** Consumes the rest of the stream (so that a hash over it is complete). */
  async drain(): Promise<void> {
    this.#pos = this.#cur.length;
    while (!(await this.#it.next()).done) { /* read to the end */ }
  }
}

function isZero(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

function field(block: Uint8Array, offset: number, size: number): Uint8Array {
  const f = block.subarray(offset, offset + size);
  const nul = f.indexOf(0);
  return nul < 0 ? f : f.subarray(0, nul);
}

function text(bytes: Uint8Array, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw fail(`${what} "${latin.decode(bytes)}" is not valid UTF-8`);
  }
}

function numeric(block: Uint8Array, offset: number, size: number, what: string): number {
  const f = block.subarray(offset, offset + size);
  if ((f[0] ?? 0) & 0x80) {
    if (f[0] === 0xff) throw fail(`negative ${what} in a tar header`);
    let n = (f[0] ?? 0) & 0x7f;
    for (let i = 1; i < f.length; i++) n = n * 256 + (f[i] ?? 0);
    if (!Number.isSafeInteger(n)) throw fail(`${what} too large in a tar header`);
    return n;
  }
  const s = latin.decode(f).replace(/[\0 ]+$/, "").replace(/^ +/, "");
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw fail(`invalid ${what} "${s}" in a tar header`);
  return parseInt(s, 8);
}

function checksumOk(block: Uint8Array): boolean {
  const stored = numeric(block, 148, 8, "checksum");
  const [unsigned, signed] = headerSums(block);
  return stored === unsigned || stored === signed;
}

const TYPES: Record<string, EntryType> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "link",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
};

interface Overrides {
  name?: string;
  linkname?: string;
  size?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  xattrs?: Record<string, Uint8Array>;
}

function parsePax(data: Uint8Array, into: Overrides): void {
  let off = 0;
  while (off < data.length) {
    const space = data.indexOf(32, off);
    const lenText = space < 0 ? "" : latin.decode(data.subarray(off, space));
    const len = /^[1-9][0-9]*$/.test(lenText) ? parseInt(lenText, 10) : NaN;
    if (!(len > 0) || off + len > data.length || data[off + len - 1] !== 10) {
      throw fail("malformed pax header record");
    }
    const eq = data.subarray(0, off + len - 1).indexOf(61, space + 1); // "="
    if (eq <= space + 1) throw fail("malformed pax header record");
    const key = text(data.subarray(space + 1, eq), "pax record");
    const raw = data.subarray(eq + 1, off + len - 1);
    off += len;
    if (key.startsWith(PAX_XATTR)) {
      // Values are bytes, not text: GNU tar writes them as they are.
      const name = key.slice(PAX_XATTR.length);
      if (name === "") throw fail("malformed pax xattr record (no name)");
      (into.xattrs ??= {})[name] = raw.slice();
      continue;
    }
    const value = text(raw, "pax record");
    if (key.startsWith("GNU.sparse.")) {
      throw fail("sparse files (GNU.sparse pax records) are not supported", "unsafe-archive");
    }
    const int = (what: string) => {
      if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(Number(value))) {
        throw fail(`invalid pax ${what} "${value}"`);
      }
      return Number(value);
    };
    switch (key) {
      case "path":
        into.name = value;
        break;
      case "linkpath":
        into.linkname = value;
        break;
      case "size":
        into.size = int("size");
        break;
      case "uid":
        into.uid = int("uid");
        break;
      case "gid":
        into.gid = int("gid");
        break;
      case "mtime": {
        const t = Number(value);
        if (!/^-?[0-9]+(\.[0-9]+)?$/.test(value) || !Number.isFinite(t)) {
          throw fail(`invalid pax mtime "${value}"`);
        }
        into.mtime = t;
        break;
      }
    }
  }
}

/**
 * Reads entries from a tar byte stream. Corrupt, truncated or unsupported
 * input throws a {@link ServinError}; so does going past `limits`. After the
 * end-of-archive marker the rest of the stream is consumed, so a hash taken
 * over the stream covers all of it.
 */
export async function* readTar(
  source: AsyncIterable<Uint8Array>,
  limits: ExtractLimits,
): AsyncGenerator<TarEntry> {
  const bytes = new Bytes(source);
  const global: Overrides = {};
  let local: Overrides = {};
  let entries = 0;
  while (true) {
    const block = await bytes.read(BLOCK);
    if (block === null) throw fail("the archive is truncated (no end-of-archive marker)");
    if (isZero(block)) {
      const next = await bytes.read(BLOCK);
      if (next !== null && !isZero(next)) throw fail("invalid tar header after a zero block");
      await bytes.drain();
      return;
    }
    if (!checksumOk(block)) throw fail("invalid tar header checksum (corrupt archive)");
    const flag = String.fromCharCode(block[156] ?? 0);
    const size = numeric(block, 124, 12, "size");
    if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
      if (size > limits.maxHeaderBytes) {
        throw new ServinError(
          "limit-exceeded",
          `a ${
            flag === "x" || flag === "g" ? "pax" : "GNU long-name"
          } header of ${size} bytes exceeds the limit of ${limits.maxHeaderBytes}`,
        );
      }
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      const data = padded === 0 ? new Uint8Array(0) : await bytes.read(padded);
      if (data === null) throw fail("the archive is truncated");
      const body = data.subarray(0, size);
      if (flag === "x") parsePax(body, local);
      else if (flag === "g") parsePax(body, global);
      else {
        const value = text(field(body, 0, body.length), "long name");
        if (flag === "L") local.name = value;
        else local.linkname = value;
      }
      continue;
    }
    const type = TYPES[flag];
    if (type === undefined) {
      const what = flag === "S" ? "GNU sparse file" : `entry type "${flag.replace(/\W/g, "?")}"`;
      throw fail(`unsupported ${what} in the archive`, "unsafe-archive");
    }
    if (++entries > limits.maxEntries) {
      throw new ServinError(
        "limit-exceeded",
        `the archive has more than ${limits.maxEntries} entries`,
      );
    }
    const magic = latin.decode(block.subarray(257, 263));
    const ustar = magic === "ustar\0";
    const isUstarLike = ustar || magic === "ustar ";
    let name = text(field(block, 0, 100), "entry name");
    if (ustar) {
      const prefix = text(field(block, 345, 155), "entry name");
      if (prefix) name = `${prefix}/${name}`;
    }
    // Extended attributes belong to one file: a global header's are ignored.
    const o = { ...global, ...local, xattrs: local.xattrs };
    local = {};
    const header: TarHeader = {
      name: o.name ?? name,
      type,
      mode: numeric(block, 100, 8, "mode") & 0o7777,
      uid: o.uid ?? numeric(block, 108, 8, "uid"),
      gid: o.gid ?? numeric(block, 116, 8, "gid"),
      size: type === "file" ? (o.size ?? size) : 0,
      mtime: o.mtime ?? numeric(block, 136, 12, "mtime"),
      linkname: o.linkname ?? text(field(block, 157, 100), "link target"),
      devmajor: isUstarLike && (type === "char" || type === "block")
        ? numeric(block, 329, 8, "device major")
        : 0,
      devminor: isUstarLike && (type === "char" || type === "block")
        ? numeric(block, 337, 8, "device minor")
        : 0,
    };
    if (o.xattrs) header.xattrs = o.xattrs;
    let remaining = header.size;
    const body = {
      async *[Symbol.asyncIterator]() {
        while (remaining > 0) {
          const c = await bytes.chunk(remaining);
          remaining -= c.length;
          yield c;
        }
      },
    };
    yield { header, body };
    await bytes.skip(remaining);
    remaining = 0;
    const pad = (BLOCK - (header.size % BLOCK)) % BLOCK;
    if (pad) await bytes.skip(pad);
  }
}
