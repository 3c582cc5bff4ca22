/**
 * What ADD adds beyond COPY: a local tar archive (plain or compressed) is
 * unpacked through our extractor and its content copied, owners kept; an
 * `http(s)` URL is downloaded (`--checksum=sha256:…` checked) into a file
 * of mode 0600, as Docker does.
 *
 * @module
 */

import { join } from "node:path";
import { ServinError } from "../../core/errors.ts";
import { DEFAULT_LIMITS } from "../../core/image.ts";
import type { Platform } from "../../core/kinds.ts";
import { sha256Hasher } from "../formats/digest.ts";
import { unpack } from "../formats/extract.ts";
import { readTar } from "../formats/tar.ts";
import { findSources, type IgnoreRules, scratchDir, type Source } from "./_context.ts";

/** Sources of one ADD argument that are copied with the same rules. */
export interface AddGroup {
  /** The sources. */
  sources: Source[];
  /** Keep the owners on disk (an unpacked archive's) instead of root or `--chown`. */
  keepOwners: boolean;
}

/** Options of {@link addSources}. */
export interface AddOptions {
  /** Root the sources are read from. */
  root: string;
  /** Ignore rules of that root. */
  ignore: IgnoreRules;
  /** Scratch directory. */
  tmp: string;
  /** `--checksum` of a URL. */
  checksum?: string;
  /** Where removals of what was made are registered. */
  cleanups: (() => Promise<void>)[];
  /** Name of the root in messages. */
  label: string;
  /** The host platform (for the extractor). */
  platform: Platform;
}

async function scratch(options: AddOptions): Promise<string> {
  const { dir, remove } = await scratchDir(options.tmp, "build-add-");
  options.cleanups.push(remove);
  return dir;
}

async function download(
  url: string,
  options: AddOptions,
): Promise<{ source: Source; digest: string }> {
  const res = await fetch(url).catch((err) => {
    throw new ServinError("unreachable", `Cannot download "${url}": ${(err as Error).message}`);
  });
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new ServinError("unreachable", `Cannot download "${url}": HTTP ${res.status}`);
  }
  const dir = await scratch(options);
  const name = decodeURIComponent(new URL(url).pathname.split("/").filter(Boolean).at(-1) ?? "") ||
    "download";
  if (name.includes("/") || name === "." || name === "..") {
    throw new ServinError("invalid-argument", `Cannot name the download of "${url}"`);
  }
  const path = join(dir, name);
  const hash = sha256Hasher();
  const file = await Deno.open(path, { write: true, create: true, mode: 0o600 });
  try {
    for await (const chunk of res.body) {
      hash.update(chunk);
      await file.write(chunk);
    }
  } finally {
    file.close();
  }
  const digest = `sha256:${hash.digest("hex")}`;
  if (options.checksum !== undefined && options.checksum !== digest) {
    throw new ServinError(
      "invalid-argument",
      `Checksum of "${url}" is ${digest}, not ${options.checksum}`,
    );
  }
  await Deno.chmod(path, 0o600);
  const modified = res.headers.get("last-modified");
  if (modified) {
    const t = new Date(modified);
    if (!Number.isNaN(t.getTime())) await Deno.utime(path, t, t);
  }
  return { source: { rel: name, path, info: await Deno.lstat(path) }, digest };
}

const ARCHIVE_MAGIC: [number[], string][] = [
  [[0x1f, 0x8b], "gzip"],
  [[0x28, 0xb5, 0x2f, 0xfd], "zstd"],
];

/** The compression of a local tar archive at `path`, or undefined when it is not one. */
async function archiveKind(path: string): Promise<string | undefined> {
  const f = await Deno.open(path);
  const head = new Uint8Array(512);
  let n = 0;
  try {
    while (n < head.length) {
      const r = await f.read(head.subarray(n));
      if (r === null) break;
      n += r;
    }
  } finally {
    f.close();
  }
  for (const [magic, name] of ARCHIVE_MAGIC) {
    if (magic.every((b, i) => head[i] === b)) return name;
  }
  const { isTarHeader } = await import("../formats/sniff.ts");
  return n === 512 && isTarHeader(head) ? "none" : undefined;
}

/** The sources of ADD's argument `src`, with what the cache key must know of them. */
export async function addSources(
  src: string,
  options: AddOptions,
): Promise<{ groups: AddGroup[]; digest: string }> {
  if (/^https?:\/\//i.test(src)) {
    const { source, digest } = await download(src, options);
    return { groups: [{ sources: [source], keepOwners: false }], digest };
  }
  if (options.checksum !== undefined) {
    throw new ServinError("invalid-argument", "--checksum is only for URL sources");
  }
  const groups: AddGroup[] = [];
  const plain: Source[] = [];
  for (const s of findSources(options.root, src, options.ignore, options.label)) {
    const kind = s.info.isFile ? await archiveKind(s.path) : undefined;
    if (kind === undefined) {
      plain.push(s);
      continue;
    }
    const dir = await scratch(options);
    const f = await Deno.open(s.path);
    let stream: ReadableStream<Uint8Array> = f.readable;
    if (kind !== "none") {
      const { decompress } = await import("../formats/compression.ts");
      stream = decompress(stream, kind as "gzip" | "zstd");
    }
    await unpack(readTar(stream, DEFAULT_LIMITS), dir, {
      platform: options.platform,
      warn: () => {},
    });
    groups.push({
      sources: [{ rel: s.rel, path: dir, info: await Deno.lstat(dir) }],
      keepOwners: true,
    });
  }
  if (plain.length) groups.unshift({ sources: plain, keepOwners: false });
  return { groups, digest: "" };
}
