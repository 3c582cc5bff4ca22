/**
 * Compression detected by magic bytes (in `sniff.ts`), never by file name,
 * and streaming decompression and compression. gzip and zstd go through
 * `node:zlib`: Deno's `DecompressionStream` rejects multi-member gzip files
 * (`cat a.gz b.gz`), which gzip itself and GNU tar accept, and knows no zstd.
 * Deno's `node:zlib` works on the calling thread, so it runs in a worker
 * (`_decompress_worker.ts`).
 *
 * @module
 */

import { messageOf, ServinError } from "../../core/errors.ts";
import type { BlobInfo, LayerCompression } from "../../core/kinds.ts";
import type { WorkerReply, WorkerRequest } from "./_decompress_worker.ts";

export { detectCompression } from "./sniff.ts";

/** Compressions Servin can read and write. */
export type Compression = LayerCompression;

/** True when Servin can decompress `name`. */
export function isSupported(name: string): name is Compression {
  return name === "gzip" || name === "zstd" || name === "none";
}

/**
 * Compressed chunks go to the worker in batches of at least this many bytes,
 * one message each: a message costs the main thread tens of microseconds.
 */
const INPUT_BATCH = 1024 * 1024;
/** Batches sent to the worker and not yet inflated: enough to keep it busy. */
const INPUT_IN_FLIGHT = 8;
/**
 * Decompressed chunks (up to 1 MiB each, the chunk size of the worker's zlib)
 * the worker may send ahead of the reader.
 */
const OUTPUT_CREDIT = 8;

/**
 * `chunk` with a buffer of its own, to transfer: itself when it is all of its
 * buffer, else a copy (the buffer may be shared: a Buffer's pool, a view into
 * a larger read).
 */
function owned(chunk: Uint8Array): Uint8Array<ArrayBuffer> {
  const whole = chunk.buffer instanceof ArrayBuffer && chunk.byteOffset === 0 &&
    chunk.byteLength === chunk.buffer.byteLength;
  return whole ? chunk as Uint8Array<ArrayBuffer> : new Uint8Array(chunk);
}

/**
 * Decompresses `input` in a worker, so that inflating runs beside whatever
 * consumes the output (tar parsing, hashing, writing) instead of before it.
 * Corrupt data, and truncated gzip, fail the stream with an `invalid-archive`
 * error (Deno's `node:zlib` does not notice a truncated zstd frame);
 * cancelling the output terminates the worker and cancels `input`. The chunks
 * read from `input` are handed over: their buffers may be transferred to the worker.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gzipSync } from "node:zlib";
 * import { decompress } from "./compression.ts";
 * const gz = gzipSync(new TextEncoder().encode("hello"));
 * const out = decompress(ReadableStream.from([gz]), "gzip");
 * assert(await new Response(out).text() === "hello");
 * ```
 */
export function decompress(
  input: ReadableStream<Uint8Array>,
  compression: Compression,
): ReadableStream<Uint8Array> {
  if (compression === "none") return input;
  return inWorker(input, compression, false);
}

/**
 * Compresses `input` in a worker, at the default level (gzip 6, zstd 3),
 * streaming: bounded memory whatever the size. Cancelling the output
 * terminates the worker and cancels `input`, whose chunks are handed over as
 * with {@linkcode decompress}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gunzipSync } from "node:zlib";
 * import { compress } from "./compression.ts";
 * const gz = await new Response(compress(ReadableStream.from([new Uint8Array(3)]), "gzip")).bytes();
 * assert(gunzipSync(gz).length === 3);
 * ```
 */
export function compress(
  input: ReadableStream<Uint8Array>,
  compression: Compression,
): ReadableStream<Uint8Array> {
  if (compression === "none") return input;
  return inWorker(input, compression, true);
}

/** The digests of what went into a decompression and what came out. */
export interface StreamDigests {
  /** sha256 and size of the compressed bytes read from the input. */
  compressed: BlobInfo;
  /** sha256 and size of the decompressed bytes. */
  decompressed: BlobInfo;
}

/**
 * {@link decompress}, and the sha256 of every byte that went in and of every
 * byte that came out, taken in the worker beside the inflating (so not on the
 * calling thread, and over the very bytes that passed). `digests` settles
 * once the worker has seen the end of the input; it rejects when the stream
 * fails or is cancelled before that.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gzipSync } from "node:zlib";
 * import { decompressHashed } from "./compression.ts";
 * const gz = gzipSync(new TextEncoder().encode("hello"));
 * const { output, digests } = decompressHashed(ReadableStream.from([gz]), "gzip");
 * assert(await new Response(output).text() === "hello");
 * assert((await digests).decompressed.size === 5);
 * ```
 */
export function decompressHashed(
  input: ReadableStream<Uint8Array>,
  compression: "gzip" | "zstd",
): { output: ReadableStream<Uint8Array>; digests: Promise<StreamDigests> } {
  const digests = Promise.withResolvers<StreamDigests>();
  // Whoever awaits it sees a failure; nobody awaiting it is no unhandled rejection.
  digests.promise.catch(() => {});
  return { output: inWorker(input, compression, false, digests), digests: digests.promise };
}

function inWorker(
  input: ReadableStream<Uint8Array>,
  compression: "gzip" | "zstd",
  deflate: boolean,
  digests?: PromiseWithResolvers<StreamDigests>,
): ReadableStream<Uint8Array> {
  const reader = input.getReader();
  let worker: Worker | undefined;
  /** Decompressed chunks received, not yet taken by the reader. */
  const received: Uint8Array[] = [];
  let inFlight = 0;
  let inputDone = false;
  let reading = false;
  let finished = false;
  let failure: unknown;
  let wake: (() => void) | undefined;

  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const stop = () => {
    worker?.terminate();
    worker = undefined;
  };
  const fail = (err: unknown) => {
    if (failure !== undefined || finished) return;
    failure = err;
    digests?.reject(err);
    stop();
    reader.cancel(err).catch(() => {});
    notify();
  };
  const corrupt = (why: string, cause?: unknown) =>
    deflate
      ? new ServinError("unsupported", `cannot compress with ${compression} (${why})`, { cause })
      : new ServinError("invalid-archive", `corrupt ${compression} data (${why})`, { cause });

  /** Sends input, in batches, while fewer than `INPUT_IN_FLIGHT` wait to be inflated. */
  async function feed(): Promise<void> {
    if (reading) return;
    reading = true;
    try {
      while (!inputDone && inFlight < INPUT_IN_FLIGHT && failure === undefined && worker) {
        const parts: Uint8Array<ArrayBuffer>[] = [];
        let size = 0;
        while (size < INPUT_BATCH) {
          const { done, value } = await reader.read();
          if (done) {
            inputDone = true;
            break;
          }
          if (value.byteLength === 0) continue;
          parts.push(owned(value));
          size += value.byteLength;
        }
        if (!worker) return;
        if (parts.length > 0) {
          inFlight++;
          const buffers = parts.map((part) => part.buffer);
          worker.postMessage({ input: parts } satisfies WorkerRequest, buffers);
        }
        if (inputDone) worker.postMessage({ end: true } satisfies WorkerRequest);
      }
    } catch (err) {
      fail(err instanceof ServinError ? err : corrupt(messageOf(err), err));
    } finally {
      reading = false;
    }
  }

  function spawn(): Worker {
    const w = new Worker(new URL("./_decompress_worker.ts", import.meta.url), { type: "module" });
    w.onmessage = (event: MessageEvent<WorkerReply>) => {
      const reply = event.data;
      if ("output" in reply) {
        received.push(reply.output);
        notify();
      } else if ("ack" in reply) {
        inFlight--;
        void feed();
      } else if ("done" in reply) {
        if (digests) {
          const { compressed, decompressed } = reply;
          if (compressed && decompressed) digests.resolve({ compressed, decompressed });
          else digests.reject(new Error("the decompression worker sent no digests"));
        }
        finished = true;
        stop();
        notify();
      } else fail(corrupt(reply.error));
    };
    w.onerror = (event) => {
      event.preventDefault();
      fail(new Error(`compression worker failed: ${event.message}`));
    };
    w.postMessage(
      { compression, compress: deflate, hash: digests !== undefined } satisfies WorkerRequest,
    );
    w.postMessage({ credit: OUTPUT_CREDIT } satisfies WorkerRequest);
    return w;
  }

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!worker && !finished && failure === undefined) {
        worker = spawn();
        void feed();
      }
      while (received.length === 0 && !finished && failure === undefined) {
        await new Promise<void>((resolve) => (wake = resolve));
      }
      const chunk = received.shift();
      if (chunk) {
        controller.enqueue(chunk);
        worker?.postMessage({ credit: 1 } satisfies WorkerRequest);
      } else if (failure !== undefined) controller.error(failure);
      else controller.close();
    },
    async cancel(reason) {
      failure ??= reason ?? new Error("cancelled");
      digests?.reject(failure);
      stop();
      notify();
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** The OCI layer media type of a tar with this compression. */
export function layerMediaType(compression: Compression): string {
  const base = "application/vnd.oci.image.layer.v1.tar";
  return compression === "none" ? base : `${base}+${compression}`;
}

/**
 * What a layer media type (OCI or Docker) says of its compression; undefined
 * when it says nothing (not a layer, or an unknown suffix).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mediaTypeCompression } from "./compression.ts";
 * assert(mediaTypeCompression("application/vnd.docker.image.rootfs.diff.tar.gzip") === "gzip");
 * assert(mediaTypeCompression("application/vnd.oci.image.layer.v1.tar") === "none");
 * ```
 */
export function mediaTypeCompression(mediaType: string): Compression | undefined {
  if (!/layer|rootfs/.test(mediaType)) return undefined;
  if (/gzip$/.test(mediaType)) return "gzip";
  if (/zstd$/.test(mediaType)) return "zstd";
  if (/\.tar$/.test(mediaType)) return "none";
  return undefined;
}
