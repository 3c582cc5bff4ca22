/**
 * The worker behind `decompress()` and `compress()` in `compression.ts`:
 * Deno's `node:zlib` inflates and deflates on the calling thread, so it runs
 * here, beside the main thread that parses, hashes and writes the tar stream
 * (or uploads the compressed one).
 *
 * Protocol (see {@linkcode WorkerRequest} and {@linkcode WorkerReply}): the
 * main thread sends the compression (and whether to compress) first, then
 * input chunks and finally `end`; each chunk is acknowledged once consumed,
 * which is how the main thread bounds the input in flight. Output chunks are
 * sent only against credit that the main thread grants as its reader takes
 * them; without credit the stream pauses, stops consuming and so stops
 * acknowledging input. When
 * asked (`hash`, when inflating), the worker also takes the sha256 of every
 * compressed and every decompressed byte it sees, and sends both with
 * `done`: hashing here keeps it off the main thread, and these are the very
 * bytes that pass.
 *
 * Internal to `compression.ts`, hence the leading `_`.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import {
  createGunzip,
  createGzip,
  createZstdCompress,
  createZstdDecompress,
  type Gunzip,
  type Gzip,
  type ZstdCompress,
  type ZstdDecompress,
} from "node:zlib";
import type { BlobInfo } from "../../core/kinds.ts";

/** A message from the main thread. */
export type WorkerRequest =
  | { compression: "gzip" | "zstd"; compress?: boolean; hash?: boolean }
  | { input: Uint8Array[] }
  | { end: true }
  | { credit: number };

/** A message to the main thread. */
export type WorkerReply =
  | { output: Uint8Array }
  | { ack: true }
  | { done: true; compressed?: BlobInfo; decompressed?: BlobInfo }
  | { error: string };

/** The worker's global scope, typed without a `lib` directive (which a published module may not carry). */
const scope = globalThis as unknown as {
  postMessage(message: WorkerReply, transfer: Transferable[]): void;
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
};

type Codec = Gunzip | ZstdDecompress | Gzip | ZstdCompress;

let codec: Codec | undefined;
let credit = 0;

/** A running sha256 and byte count. */
class Counter {
  #hash: Hash = createHash("sha256");
  #size = 0;

  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.#size += chunk.byteLength;
  }

  result(): BlobInfo {
    return { digest: this.#hash.digest("hex"), size: this.#size };
  }
}

/** The digests being taken, when the main thread asked for them. */
let hashes: { input: Counter; output: Counter } | undefined;

function reply(message: WorkerReply, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

function start(compression: "gzip" | "zstd", compress: boolean, hash: boolean): Codec {
  if (hash) hashes = { input: new Counter(), output: new Counter() };
  // Large chunks: every message costs the main thread tens of microseconds.
  // Default levels (gzip 6, zstd 3), as Docker, podman and skopeo push with.
  const options = { chunkSize: 1024 * 1024 };
  const stream = compress
    ? (compression === "gzip" ? createGzip(options) : createZstdCompress(options))
    : (compression === "gzip" ? createGunzip(options) : createZstdDecompress(options));
  stream.on("data", (chunk: Uint8Array) => {
    hashes?.output.update(chunk);
    // A chunk may share its buffer with the next ones: transfer a copy (a
    // Buffer's slice() would be a view).
    const copy = new Uint8Array(chunk);
    reply({ output: copy }, [copy.buffer]);
    if (--credit <= 0) stream.pause();
  });
  stream.on("end", () => {
    const compressed = hashes?.input.result();
    const decompressed = hashes?.output.result();
    reply(compressed && decompressed ? { done: true, compressed, decompressed } : { done: true });
  });
  stream.on("error", (err: Error) => reply({ error: err.message }));
  stream.pause();
  return stream;
}

scope.onmessage = (event: MessageEvent<WorkerRequest>) => {
  const message = event.data;
  if ("compression" in message) {
    codec = start(message.compression, message.compress ?? false, message.hash ?? false);
  } else if ("input" in message) {
    const last = message.input.length - 1;
    // One acknowledgement a batch, once its last chunk is consumed.
    message.input.forEach((chunk, i) => {
      hashes?.input.update(chunk);
      codec?.write(chunk, i === last ? () => reply({ ack: true }) : undefined);
    });
  } else if ("end" in message) codec?.end();
  else if ("credit" in message) {
    credit += message.credit;
    if (credit > 0) codec?.resume();
  }
};
