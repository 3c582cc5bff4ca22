/**
 * Stream plumbing of the ingest pipeline: byte limits that fail at the
 * limit + 1, a tap that hands every chunk to a second consumer before
 * passing it on (bounded: never more than a chunk or two in memory), and a
 * peek at a stream's first bytes.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { ServinError } from "../../core/errors.ts";
import type { ContentStore } from "../../core/kinds.ts";

/** Passes `stream` on, failing with `limit-exceeded` as soon as it grows past `max` bytes. */
export function limitBytes(
  stream: ReadableStream<Uint8Array>,
  max: number,
  what: string,
): ReadableStream<Uint8Array> {
  if (!Number.isFinite(max)) return stream;
  let seen = 0;
  return stream.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        seen += chunk.length;
        if (seen > max) {
          throw new ServinError("limit-exceeded", `${what} is larger than ${max} bytes`);
        }
        controller.enqueue(chunk);
      },
    }),
  );
}

/**
 * Splits `stream` in two without buffering it: `side` receives each chunk
 * before `main` does, and a slow reader of either holds both back.
 */
export function tap(
  stream: ReadableStream<Uint8Array>,
): {
  main: ReadableStream<Uint8Array>;
  side: ReadableStream<Uint8Array>;
  abort(reason: unknown): Promise<void>;
} {
  const channel = new TransformStream<Uint8Array, Uint8Array>(
    undefined,
    { highWaterMark: 1 },
    { highWaterMark: 0 },
  );
  const writer = channel.writable.getWriter();
  const reader = stream.getReader();
  const main = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          await writer.close();
          controller.close();
          return;
        }
        await writer.write(value);
        controller.enqueue(value);
      } catch (err) {
        await writer.abort(err).catch(() => {});
        controller.error(err);
      }
    },
    async cancel(reason) {
      await writer.abort(reason).catch(() => {});
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  const abort = async (reason: unknown) => {
    await writer.abort(reason).catch(() => {});
    await reader.cancel(reason).catch(() => {});
  };
  return { main, side: channel.readable, abort };
}

/**
 * Bytes read from a file at a time. Deno's `FsFile.readable` reads 64 KiB:
 * every chunk costs each stage it passes (tap, blob write, batching for the
 * decompression worker, tar parsing), so fewer, larger chunks are cheaper.
 */
const FILE_CHUNK = 1024 * 1024;

/**
 * The bytes of `file` in chunks of up to 1 MiB, each with a buffer of its
 * own (so that it can be transferred to a worker); closes `file` at the end
 * or on cancel.
 */
export function readFile(file: Deno.FsFile): ReadableStream<Uint8Array> {
  let open = true;
  const close = () => {
    if (open) file.close();
    open = false;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const buffer = new Uint8Array(FILE_CHUNK);
        const n = await file.read(buffer);
        if (n === null) {
          close();
          controller.close();
        } else controller.enqueue(n === buffer.length ? buffer : buffer.slice(0, n));
      } catch (err) {
        close();
        throw err;
      }
    },
    cancel: close,
  }, { highWaterMark: 0 });
}

/** The first `n` bytes of `stream` (fewer when it is shorter), and a stream of all of it. */
export async function peek(
  stream: ReadableStream<Uint8Array>,
  n: number,
): Promise<[Uint8Array, ReadableStream<Uint8Array>]> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let have = 0;
  while (have < n) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    have += value.byteLength;
  }
  const head = new Uint8Array(Math.min(have, n));
  let off = 0;
  for (const c of chunks) {
    if (off >= head.length) break;
    const part = c.subarray(0, head.length - off);
    head.set(part, off);
    off += part.length;
  }
  const whole = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(c);
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
  return [head, whole];
}

/** Reads a whole (small) stream, failing past `max` bytes. */
export async function readAll(
  stream: ReadableStream<Uint8Array>,
  max: number,
  what: string,
): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await new Response(limitBytes(stream, max, what)).arrayBuffer());
}

/** Runs `tasks` with at most `limit` at once; the first failure rejects after all settled. */
export async function bounded<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (next < tasks.length && !failure) {
      const i = next++;
      try {
        results[i] = await tasks[i]!();
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  if (failure) throw failure.err;
  return results;
}

/**
 * A stored blob's bytes, checked as they stream: the stream fails at its
 * end (so that an archive or an upload made of it fails too) when they are
 * not what the digest says.
 */
export function readVerified(
  content: ContentStore,
  hex: string,
  size?: number,
): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const hash = createHash("sha256");
  let seen = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      reader ??= (await content.read(hex)).getReader();
      const { done, value } = await reader.read();
      if (done) {
        if ((size !== undefined && seen !== size) || hash.digest("hex") !== hex) {
          throw new ServinError(
            "invalid-archive",
            `blob sha256:${hex} is damaged in the store (run "servin system check")`,
          );
        }
        return controller.close();
      }
      seen += value.length;
      hash.update(value);
      controller.enqueue(value);
    },
    cancel: (reason) => reader?.cancel(reason),
  }, { highWaterMark: 0 });
}
