import assert from "node:assert/strict";
import { ServinError } from "../../core/errors.ts";
import { limitBytes, RegistryClient } from "./client.ts";

async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += chunk.length;
  return n;
}

Deno.test("limitBytes passes up to its limit and fails at one byte more", async () => {
  const chunks = () => ReadableStream.from([new Uint8Array(3), new Uint8Array(2)]);
  assert.equal(await drain(limitBytes(chunks(), 5, "five bytes")), 5);
  await assert.rejects(
    drain(limitBytes(chunks(), 4, "the thing")),
    (err) =>
      err instanceof ServinError && err.code === "limit-exceeded" &&
      err.message === "the thing is larger than 4 bytes",
  );
});

Deno.test("a 429 asking to wait longer than the cap fails at once, naming the wait", async () => {
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    requests++;
    return Response.json(
      { errors: [{ code: "TOOMANYREQUESTS", message: "rate limited" }] },
      { status: 429, headers: { "retry-after": "3600" } },
    );
  });
  const client = new RegistryClient(`127.0.0.1:${server.addr.port}`);
  try {
    await assert.rejects(
      client.request("GET", "/v2/t/manifests/1", ""),
      (err) =>
        err instanceof ServinError && err.code === "unreachable" &&
        /TOOMANYREQUESTS: rate limited \(the registry asks to retry after 3600 s\)/.test(
          err.message,
        ),
    );
    assert.equal(requests, 1);
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("a token realm over http on a host that is not loopback is refused unfetched", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response(null, {
        status: 401,
        headers: { "www-authenticate": 'Bearer realm="http://registry.invalid/token"' },
      }),
  );
  const client = new RegistryClient(`127.0.0.1:${server.addr.port}`, {
    credentials: { username: "bob", password: "hunter2" },
  });
  try {
    await assert.rejects(
      client.ping(),
      (err) =>
        err instanceof ServinError && err.code === "unsupported" &&
        /refusing the token realm "http:\/\/registry.invalid\/token"/.test(err.message),
    );
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("a blob descriptor without a valid size is refused before any request", () => {
  const client = new RegistryClient("127.0.0.1:1");
  assert.throws(
    () => client.blob("t", `sha256:${"0".repeat(64)}`, -1, ""),
    (err) => err instanceof ServinError && err.code === "invalid-archive",
  );
});

Deno.test("a blob body that stalls is abandoned after the timeout and resumed with Range", async () => {
  const blob = crypto.getRandomValues(new Uint8Array(64));
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const ranges: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    if (new URL(req.url).pathname === "/v2/") return Response.json({});
    const range = req.headers.get("range") ?? "";
    ranges.push(range);
    if (!range) {
      // Half of the blob, then nothing until the test ends.
      return new Response(
        new ReadableStream({
          start: (c) => c.enqueue(blob.slice(0, 32)),
          pull: async (c) => {
            await released;
            c.close();
          },
        }),
        { headers: { "content-length": "64" } },
      );
    }
    return new Response(blob.slice(32), {
      status: 206,
      headers: { "content-range": "bytes 32-63/64" },
    });
  });
  const client = new RegistryClient(`127.0.0.1:${server.addr.port}`, { timeoutMs: 1000 });
  // The hang was a read that the stall's abort never reached once the response object was
  // garbage collected: make garbage (or collect, with --v8-flags=--expose-gc) while the blob
  // stalls, and bound the wait, so that a hang fails.
  const gc = (globalThis as { gc?: () => void }).gc ??
    (() => Array.from({ length: 200_000 }, (_, i) => ({ i })).length);
  const stream = client.blob("t", `sha256:${"0".repeat(64)}`, 64, "");
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let bound: ReturnType<typeof setTimeout> | undefined;
  try {
    const first = await reader.read();
    chunks.push(first.value!);
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    const hung = new Promise<never>((_, reject) => {
      bound = setTimeout(() => reject(new Error("the stalled read was never abandoned")), 20_000);
    });
    for (;;) {
      const next = await Promise.race([reader.read(), hung]);
      if (next.done) break;
      chunks.push(next.value);
    }
    assert.deepEqual(Uint8Array.from(chunks.flatMap((c) => [...c])), blob);
    assert.deepEqual(ranges, ["", "bytes=32-"]);
  } finally {
    clearTimeout(bound);
    await reader.cancel().catch(() => {});
    client.close();
    release();
    await server.shutdown();
  }
});
