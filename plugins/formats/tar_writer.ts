/**
 * A streaming tar writer: POSIX ustar headers, with a pax header only for
 * what ustar cannot hold (long names and link targets, big ids and sizes,
 * extended attributes as `SCHILY.xattr.NAME` records, as GNU tar writes them).
 * Output is deterministic for the same entries.
 *
 * @module
 */

import { PAX_XATTR, type TarHeader } from "./tar.ts";

const BLOCK = 512;
const enc = new TextEncoder();

const FLAGS: Record<TarHeader["type"], string> = {
  file: "0",
  link: "1",
  symlink: "2",
  char: "3",
  block: "4",
  dir: "5",
  fifo: "6",
};

function octal(block: Uint8Array, offset: number, size: number, value: number): boolean {
  const text = Math.floor(value).toString(8);
  if (value < 0 || text.length > size - 1) return false;
  block.set(enc.encode(text.padStart(size - 1, "0")), offset);
  return true;
}

/** One pax record, `LEN KEY=VALUE\n`, LEN counting its own digits; the value is bytes. */
function paxRecord(key: string, value: string | Uint8Array): Uint8Array {
  const head = enc.encode(` ${key}=`);
  const data = typeof value === "string" ? enc.encode(value) : value;
  const bodyLen = head.length + data.length + 1;
  let len = bodyLen + 1;
  while (String(len).length + bodyLen !== len) len++;
  const digits = enc.encode(String(len));
  const out = new Uint8Array(len);
  out.set(digits, 0);
  out.set(head, digits.length);
  out.set(data, digits.length + head.length);
  out[len - 1] = 10;
  return out;
}

/** Splits a path for ustar's prefix and name fields, or returns undefined when it cannot. */
function splitName(name: string): [string, string] | undefined {
  const bytes = enc.encode(name);
  if (bytes.length <= 100) return ["", name];
  if (bytes.length > 256) return undefined;
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== "/") continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (enc.encode(prefix).length <= 155 && enc.encode(rest).length <= 100 && rest) {
      return [prefix, rest];
    }
  }
  return undefined;
}

function headerBlock(
  h: TarHeader,
  name: string,
  prefix: string,
  pax: Record<string, string>,
  flag = FLAGS[h.type],
): Uint8Array {
  const block = new Uint8Array(BLOCK);
  block.set(enc.encode(name).subarray(0, 100), 0);
  octal(block, 100, 8, h.mode & 0o7777);
  if (!octal(block, 108, 8, h.uid)) pax.uid = String(h.uid);
  if (!octal(block, 116, 8, h.gid)) pax.gid = String(h.gid);
  if (!octal(block, 124, 12, h.size)) pax.size = String(h.size);
  octal(block, 136, 12, Math.max(0, h.mtime));
  block.set(enc.encode(flag), 156);
  const link = enc.encode(h.linkname);
  if (link.length > 100) pax.linkpath = h.linkname;
  else block.set(link, 157);
  block.set(enc.encode("ustar\u000000"), 257);
  octal(block, 329, 8, h.devmajor);
  octal(block, 337, 8, h.devminor);
  block.set(enc.encode(prefix), 345);
  block.fill(32, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  octal(block, 148, 7, sum);
  block[155] = 32;
  return block;
}

/** Writes tar entries to `write`, one after the other. */
export class TarWriter {
  #write: (chunk: Uint8Array) => Promise<void>;

  /** `write` receives the archive's bytes in order. */
  constructor(write: (chunk: Uint8Array) => Promise<void>) {
    this.#write = write;
  }

  /** Adds an entry; `body` must hold exactly `header.size` bytes for a regular file. */
  async add(header: TarHeader, body?: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    const size = await this.begin(header);
    if (size === 0) return;
    let written = 0;
    const chunks = body instanceof Uint8Array ? [body] : body ?? [];
    for await (const chunk of chunks) {
      written += chunk.length;
      if (written > size) throw new Error(`"${header.name}" is larger than its header says`);
      await this.#write(chunk);
    }
    if (written !== size) throw new Error(`"${header.name}" changed size while being archived`);
    await this.pad(size);
  }

  /**
   * Writes an entry's headers (a pax header first when needed); returns the
   * size of the content that must follow, then {@link TarWriter.pad} — for a
   * writer that puts the content in place itself.
   */
  async begin(header: TarHeader): Promise<number> {
    const h = { ...header, size: header.type === "file" ? header.size : 0 };
    const pax: Record<string, string> = {};
    const split = splitName(h.name);
    if (!split) pax.path = h.name;
    const [prefix, name] = split ?? ["", h.name.slice(0, 100)];
    const block = headerBlock(h, name, prefix, pax);
    const records = Object.entries(pax).map(([k, v]) => paxRecord(k, v));
    // Sorted, so that the same attributes always give the same bytes.
    for (const key of Object.keys(h.xattrs ?? {}).sort()) {
      records.push(paxRecord(`${PAX_XATTR}${key}`, h.xattrs![key]!));
    }
    if (records.length > 0) {
      const size = records.reduce((n, r) => n + r.length, 0);
      const paxName = `PaxHeaders/${h.name.split("/").filter(Boolean).at(-1) ?? "root"}`.slice(
        0,
        99,
      );
      const paxHeader = { ...h, name: paxName, size, linkname: "", uid: 0, gid: 0 };
      await this.#write(headerBlock(paxHeader, paxName, "", {}, "x"));
      for (const r of records) await this.#write(r);
      await this.pad(size);
    }
    await this.#write(block);
    return h.size;
  }

  /** Zeros up to the end of the block after `size` bytes of content. */
  async pad(size: number): Promise<void> {
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad) await this.#write(new Uint8Array(pad));
  }

  /** Writes the end-of-archive marker. */
  async finish(): Promise<void> {
    await this.#write(new Uint8Array(2 * BLOCK));
  }
}
