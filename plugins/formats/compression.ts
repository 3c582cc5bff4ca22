/**
 * Compression detected by magic bytes, never by file name, and streaming
 * decompression. gzip and zstd go through `node:zlib`: Deno's
 * `DecompressionStream` rejects multi-member gzip files (`cat a.gz b.gz`),
 * which gzip itself and GNU tar accept.
 *
 * @module
 */

import { pipeline, Readable } from "node:stream";
import { createGunzip, createZstdDecompress } from "node:zlib";
import { ServinError } from "../../core/errors.ts";

/** Compressions Servin can read. */
export type Compression = "gzip" | "zstd" | "none";

const MAGIC: [Uint8Array, string][] = [
  [new Uint8Array([0x1f, 0x8b]), "gzip"],
  [new Uint8Array([0x28, 0xb5, 0x2f, 0xfd]), "zstd"],
  [new Uint8Array([0x42, 0x5a, 0x68]), "bzip2"],
  [new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), "xz"],
];

/** Names the compression of a stream from its first bytes (`none` when no known magic). */
export function detectCompression(head: Uint8Array): string {
  for (const [magic, name] of MAGIC) {
    if (magic.every((b, i) => head[i] === b)) return name;
  }
  return "none";
}

/** True when Servin can decompress `name`. */
export function isSupported(name: string): name is Compression {
  return name === "gzip" || name === "zstd" || name === "none";
}

/** Decompresses `input`; corrupt or truncated data fails the stream with a clear error. */
export function decompress(
  input: ReadableStream<Uint8Array>,
  compression: Compression,
): ReadableStream<Uint8Array> {
  if (compression === "none") return input;
  const options = { chunkSize: 256 * 1024 };
  return ReadableStream.from((async function* () {
    const inflate = compression === "gzip" ? createGunzip(options) : createZstdDecompress(options);
    const source = Readable.fromWeb(input as Parameters<typeof Readable.fromWeb>[0]);
    // pipeline() gives both streams error handlers at once; iterating rethrows.
    pipeline(source, inflate, () => {});
    try {
      for await (const chunk of inflate) yield chunk as Uint8Array;
    } catch (err) {
      if (err instanceof ServinError) throw err;
      const why = err instanceof Error ? err.message : String(err);
      throw new ServinError("invalid-archive", `corrupt ${compression} data (${why})`, {
        cause: err,
      });
    } finally {
      source.destroy();
      inflate.destroy();
    }
  })());
}

/** The OCI layer media type of a tar with this compression. */
export function layerMediaType(compression: Compression): string {
  const base = "application/vnd.oci.image.layer.v1.tar";
  return compression === "none" ? base : `${base}+${compression}`;
}
