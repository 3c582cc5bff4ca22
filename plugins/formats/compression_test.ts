import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { gunzipSync, gzipSync, zstdCompressSync, zstdDecompressSync } from "node:zlib";
import { isServinError, ServinError } from "../../core/errors.ts";
import { compress, decompress, decompressHashed, detectCompression } from "./compression.ts";

/** `size` bytes that compress somewhat, differing from one call to the next with `seed`. */
function data(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = i % 7 === 0 ? x >>> 24 : 0x61 + (i % 13);
  }
  return out;
}

/** `bytes` as a stream of chunks of `size` bytes, views into one buffer as a file reader might give. */
function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for (let off = 0; off < bytes.length; off += size) chunks.push(bytes.subarray(off, off + size));
  return ReadableStream.from(chunks);
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** The worker threads of this process (Deno names them `worker-N`); Linux only. */
function workerThreads(): number {
  if (Deno.build.os !== "linux") return 0;
  let count = 0;
  for (const task of Deno.readDirSync("/proc/self/task")) {
    try {
      const name = Deno.readTextFileSync(`/proc/self/task/${task.name}/comm`).trim();
      if (name.startsWith("worker-")) count++;
    } catch (err) {
      // The thread has just ended: its entry is gone (ENOENT) or no longer answers (ESRCH).
      if (!(err instanceof Deno.errors.NotFound) && !/os error 3\b/.test(String(err))) throw err;
    }
  }
  return count;
}

/**
 * Fails unless the worker threads come back down to `before` (or fewer). The test
 * sanitizers do not see a worker left running; its thread is gone shortly
 * after `terminate()`, hence the bounded wait.
 */
async function assertNoWorkerLeft(before: number): Promise<void> {
  for (let i = 0; i < 250 && workerThreads() > before; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // Fewer is fine: a worker of an earlier test, still winding down at `before`, has ended since.
  const now = workerThreads();
  assert.ok(now <= before, `a compression worker is still running (${now} > ${before})`);
}

Deno.test("decompress inflates gzip larger than the worker's credit, byte for byte", async () => {
  const plain = data(5 * 1024 * 1024 + 123);
  const gz = gzipSync(plain);
  assert.equal(detectCompression(gz), "gzip");
  const before = workerThreads();
  const out = await collect(decompress(chunked(gz, 64 * 1024), "gzip"));
  await assertNoWorkerLeft(before);
  assert.equal(out.length, plain.length);
  assert.equal(sha256(out), sha256(plain));
});

Deno.test("decompress reads every member of a multi-member gzip file", async () => {
  const a = data(300_000, 2);
  const b = data(200_000, 3);
  const joined = new Uint8Array([...gzipSync(a), ...gzipSync(b)]);
  const out = await collect(decompress(chunked(joined, 10_000), "gzip"));
  assert.equal(sha256(out), sha256(new Uint8Array([...a, ...b])));
});

Deno.test("decompress inflates zstd", async () => {
  const plain = data(3 * 1024 * 1024, 4);
  const zst = zstdCompressSync(plain);
  assert.equal(detectCompression(zst), "zstd");
  const out = await collect(decompress(chunked(zst, 100_000), "zstd"));
  assert.equal(sha256(out), sha256(plain));
});

Deno.test("decompress of uncompressed input is the input itself", async () => {
  const input = ReadableStream.from([new Uint8Array([1, 2, 3])]);
  assert.equal(decompress(input, "none"), input);
  assert.deepEqual(await collect(input), new Uint8Array([1, 2, 3]));
});

for (
  const [name, compression, bytes] of [
    [
      "corrupt gzip",
      "gzip",
      (() => {
        const gz = gzipSync(data(200_000));
        gz.fill(0x55, 100, 400);
        return gz;
      })(),
    ],
    ["truncated gzip", "gzip", gzipSync(data(200_000)).subarray(0, 5_000)],
    ["gzip with a bad header", "gzip", new Uint8Array([0x1f, 0x8b, 0x99, 0, 1, 2, 3, 4, 5, 6])],
    // Deno's node:zlib does not notice a truncated zstd frame (nor the old in-thread code).
    [
      "zstd with a bad frame header",
      "zstd",
      new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, ...new Array(13).fill(0xff)]),
    ],
  ] as const
) {
  Deno.test(`decompress of ${name} fails with invalid-archive`, async () => {
    const before = workerThreads();
    await assert.rejects(collect(decompress(chunked(bytes, 1_000), compression)), (err) => {
      assert.ok(isServinError(err, "invalid-archive"), String(err));
      assert.match(err.message, new RegExp(`^corrupt ${compression} data \\(.+\\)$`));
      return true;
    });
    await assertNoWorkerLeft(before);
  });
}

Deno.test("an input that fails passes its ServinError through and stops the worker", async () => {
  const gz = gzipSync(data(1_000_000));
  let sent = 0;
  const input = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent > 3) controller.error(new ServinError("limit-exceeded", "the input is too large"));
      else controller.enqueue(gz.slice(sent * 1000, ++sent * 1000));
    },
  });
  const before = workerThreads();
  await assert.rejects(collect(decompress(input, "gzip")), (err) => {
    assert.ok(isServinError(err, "limit-exceeded"), String(err));
    return true;
  });
  await assertNoWorkerLeft(before);
});

Deno.test("cancelling mid-stream terminates the worker and cancels the input", async () => {
  // Incompressible, so that the input is many times what the worker may hold.
  const noise = new Uint8Array(16 * 1024 * 1024);
  for (let off = 0; off < noise.length; off += 65536) {
    crypto.getRandomValues(noise.subarray(off, off + 65536));
  }
  const gz = gzipSync(noise);
  let pulled = 0;
  let cancelled: unknown;
  const input = new ReadableStream<Uint8Array>({
    pull(controller) {
      const off = pulled * 32 * 1024;
      if (off >= gz.length) return controller.close();
      pulled++;
      controller.enqueue(gz.slice(off, off + 32 * 1024));
    },
    cancel(reason) {
      cancelled = reason;
    },
  }, { highWaterMark: 0 });
  const before = workerThreads();
  const reader = decompress(input, "gzip").getReader();
  const first = await reader.read();
  assert.ok(first.value && first.value.length > 0);
  await reader.cancel("enough");
  assert.equal(cancelled, "enough");
  await assertNoWorkerLeft(before);
  // Backpressure: far from all of the input was read for one output chunk.
  assert.ok(pulled * 32 * 1024 < gz.length / 2, `read ${pulled} input chunks`);
});

for (
  const [compression, compress] of [["gzip", gzipSync], ["zstd", zstdCompressSync]] as const
) {
  Deno.test(`decompressHashed gives the sha256 and size of the ${compression} input and of the output`, async () => {
    const plain = data(3 * 1024 * 1024 + 77, 5);
    const packed = compress(plain);
    const before = workerThreads();
    const { output, digests } = decompressHashed(chunked(packed, 64 * 1024), compression);
    assert.equal(sha256(await collect(output)), sha256(plain));
    assert.deepEqual(await digests, {
      compressed: { digest: sha256(packed), size: packed.length },
      decompressed: { digest: sha256(plain), size: plain.length },
    });
    await assertNoWorkerLeft(before);
  });
}

Deno.test("decompressHashed's digests fail with the stream: corrupt data, or cancelled", async () => {
  const gz = gzipSync(data(200_000));
  gz.fill(0x55, 100, 400);
  const corrupt = decompressHashed(chunked(gz, 1_000), "gzip");
  await assert.rejects(collect(corrupt.output));
  await assert.rejects(corrupt.digests, (err) => isServinError(err, "invalid-archive"));

  const cancelled = decompressHashed(chunked(gzipSync(data(3_000_000)), 1_000), "gzip");
  const reader = cancelled.output.getReader();
  await reader.read();
  await reader.cancel("enough");
  await assert.rejects(cancelled.digests, (err) => err === "enough");
});

for (
  const [compression, inflate] of [["gzip", gunzipSync], ["zstd", zstdDecompressSync]] as const
) {
  Deno.test(`compress makes ${compression} that inflates to the input, beyond the worker's credit`, async () => {
    const plain = data(6 * 1024 * 1024 + 7, 5);
    const before = workerThreads();
    const packed = await collect(compress(chunked(plain, 64 * 1024), compression));
    await assertNoWorkerLeft(before);
    assert.equal(detectCompression(packed), compression);
    assert.ok(packed.length < plain.length / 2, `${packed.length} bytes`);
    assert.equal(sha256(inflate(packed)), sha256(plain));
  });
}

Deno.test("compress to none is the input; cancelling a compression stops its worker", async () => {
  const input = ReadableStream.from([new Uint8Array([1, 2, 3])]);
  assert.equal(compress(input, "none"), input);
  let cancelled: unknown;
  const endless = new ReadableStream<Uint8Array>({
    pull: (controller) => controller.enqueue(data(256 * 1024, 6)),
    cancel(reason) {
      cancelled = reason;
    },
  }, { highWaterMark: 0 });
  const before = workerThreads();
  const reader = compress(endless, "gzip").getReader();
  assert.ok((await reader.read()).value!.length > 0);
  await reader.cancel("enough");
  assert.equal(cancelled, "enough");
  await assertNoWorkerLeft(before);
});
