/**
 * What a stream is, from its first bytes: the compression's magic number and
 * whether a block is a tar header. Sources ask this in `detect`, which runs
 * for every import and load, so the module imports nothing: the tar reader
 * and the decompressor are loaded only once the bytes are read.
 *
 * @module
 */

/** Bytes of a tar block, and so of a tar header. */
export const TAR_BLOCK = 512;

const MAGIC: [number[], string][] = [
  [[0x1f, 0x8b], "gzip"],
  [[0x28, 0xb5, 0x2f, 0xfd], "zstd"],
  [[0x42, 0x5a, 0x68], "bzip2"],
  [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], "xz"],
];

/**
 * Names the compression of a stream from its first bytes (`none` when no known magic).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { detectCompression } from "./sniff.ts";
 * assert(detectCompression(new Uint8Array([0x1f, 0x8b, 8])) === "gzip");
 * assert(detectCompression(new Uint8Array(512)) === "none");
 * ```
 */
export function detectCompression(head: Uint8Array): string {
  for (const [magic, name] of MAGIC) {
    if (magic.every((b, i) => head[i] === b)) return name;
  }
  return "none";
}

/**
 * The sums a tar header's checksum field may hold: of its bytes unsigned (as
 * POSIX says) and signed (as some old tars wrote), the field itself counted
 * as spaces.
 */
export function headerSums(block: Uint8Array): [unsigned: number, signed: number] {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < TAR_BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 32 : block[i] ?? 0;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return [unsigned, signed];
}

/** The checksum field of a header, octal or base-256 as the tar reader takes it; undefined when invalid. */
function storedChecksum(block: Uint8Array): number | undefined {
  const f = block.subarray(148, 156);
  if ((f[0] ?? 0) & 0x80) {
    if (f[0] === 0xff) return undefined;
    let n = (f[0] ?? 0) & 0x7f;
    for (let i = 1; i < f.length; i++) n = n * 256 + (f[i] ?? 0);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  const s = String.fromCharCode(...f).replace(/[\0 ]+$/, "").replace(/^ +/, "");
  if (s === "") return 0;
  return /^[0-7]+$/.test(s) ? parseInt(s, 8) : undefined;
}

/**
 * True when `block` looks like a tar header: not all zeros, with a valid checksum.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isTarHeader } from "./sniff.ts";
 * assert(!isTarHeader(new Uint8Array(512)));
 * ```
 */
export function isTarHeader(block: Uint8Array): boolean {
  if (block.length < TAR_BLOCK) return false;
  const header = block.subarray(0, TAR_BLOCK);
  if (header.every((b) => b === 0)) return false;
  const stored = storedChecksum(header);
  if (stored === undefined) return false;
  const [unsigned, signed] = headerSums(header);
  return stored === unsigned || stored === signed;
}
