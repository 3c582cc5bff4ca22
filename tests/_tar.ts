/**
 * A tar writer for test fixtures. Unlike a real archiver it writes whatever it
 * is told, including the hostile entries the importer must refuse.
 *
 * @module
 */

import { headerSums } from "../plugins/formats/sniff.ts";
import type { TarHeader } from "../plugins/formats/tar.ts";

/**
 * A parsed tar header as the layer writer takes it: a regular file of mode
 * 0644, owned by root, empty, with `mtime` in seconds; `extra` overrides.
 */
export function tarHeader(name: string, mtime: number, extra: Partial<TarHeader> = {}): TarHeader {
  return {
    name,
    type: "file",
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    mtime,
    linkname: "",
    devmajor: 0,
    devminor: 0,
    ...extra,
  };
}

/** One entry to write. */
export interface FixtureEntry {
  /** Name in the header (or in a pax record when longer than 100 bytes). */
  name: string;
  /** Type flag character; `0` (file) by default. */
  type?: string;
  /** Content of a regular file. */
  body?: string | Uint8Array;
  /** Permission bits; 0o644 (0o755 for directories) by default. */
  mode?: number;
  /** Owner. */
  uid?: number;
  /** Group. */
  gid?: number;
  /** Modification time, seconds since the epoch. */
  mtime?: number;
  /** Link target. */
  linkname?: string;
  /** Device numbers. */
  devmajor?: number;
  /** Device numbers. */
  devminor?: number;
  /** Extra pax records (written in a pax header before the entry). */
  pax?: Record<string, string>;
  /** Size written in the header, when it must lie. */
  headerSize?: number;
}

const enc = new TextEncoder();

function octal(block: Uint8Array, offset: number, size: number, value: number): void {
  const text = value.toString(8).padStart(size - 1, "0");
  block.set(enc.encode(text.slice(-(size - 1))), offset);
}

function header(e: FixtureEntry, size: number, name: string, linkname: string): Uint8Array {
  const block = new Uint8Array(512);
  block.set(enc.encode(name).subarray(0, 100), 0);
  const type = e.type ?? "0";
  octal(block, 100, 8, e.mode ?? (type === "5" ? 0o755 : 0o644));
  octal(block, 108, 8, e.uid ?? 0);
  octal(block, 116, 8, e.gid ?? 0);
  octal(block, 124, 12, e.headerSize ?? size);
  octal(block, 136, 12, e.mtime ?? 1_700_000_000);
  block.set(enc.encode(type), 156);
  block.set(enc.encode(linkname).subarray(0, 100), 157);
  block.set(enc.encode("ustar\u000000"), 257);
  octal(block, 329, 8, e.devmajor ?? 0);
  octal(block, 337, 8, e.devminor ?? 0);
  block.fill(32, 148, 156);
  octal(block, 148, 7, headerSums(block)[0]);
  return block;
}

function padded(data: Uint8Array): Uint8Array[] {
  const pad = (512 - (data.length % 512)) % 512;
  return pad ? [data, new Uint8Array(pad)] : [data];
}

function paxRecords(records: Record<string, string>): Uint8Array {
  let text = "";
  for (const [k, v] of Object.entries(records)) {
    const body = ` ${k}=${v}\n`;
    let len = enc.encode(body).length + 1;
    while (String(len).length + enc.encode(body).length !== len) len++;
    text += `${len}${body}`;
  }
  return enc.encode(text);
}

/** Builds a tar archive from `entries`; `end: false` leaves out the end-of-archive marker. */
export function buildTar(
  entries: FixtureEntry[],
  options: { end?: boolean } = {},
): Uint8Array<ArrayBuffer> {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const body = typeof e.body === "string" ? enc.encode(e.body) : e.body ?? new Uint8Array(0);
    const pax = { ...e.pax };
    if (enc.encode(e.name).length > 100) pax.path = e.name;
    if (e.linkname && enc.encode(e.linkname).length > 100) pax.linkpath = e.linkname;
    if (Object.keys(pax).length) {
      const data = paxRecords(pax);
      parts.push(header({ name: "PaxHeader", type: "x" }, data.length, "PaxHeader", ""));
      parts.push(...padded(data));
    }
    parts.push(header(e, body.length, e.name, e.linkname ?? ""));
    if (body.length) parts.push(...padded(body));
  }
  if (options.end !== false) parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** gzip-compresses `data`. */
export async function gzip(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** GNU tar's verbose listing (`tar --numeric-owner -tvf -`) of the archive `data`; throws when tar fails. */
export async function gnuTarList(data: Uint8Array): Promise<string> {
  const child = new Deno.Command("tar", {
    args: ["--numeric-owner", "-tvf", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(data);
  await w.close();
  const out = await child.output();
  const text = new TextDecoder();
  if (!out.success) throw new Error(`tar -tv failed: ${text.decode(out.stderr)}`);
  return text.decode(out.stdout);
}
