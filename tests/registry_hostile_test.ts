/**
 * The registry client against hostile and broken registries: small
 * `Deno.serve` servers on 127.0.0.1, with "another host" on 127.0.0.2
 * (loopback too). Each case drives the real CLI; each CLI run is killed
 * after {@link BOUND_MS} so a hang fails the test instead of stalling the suite.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type RunResult, sha256, withTempDir } from "./_cli.ts";
import { buildTar, gzip } from "./_tar.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A CLI run taking longer than this is killed (a hang is a failure, not a wait). */
const BOUND_MS = 60_000;

const enc = new TextEncoder();

/** Runs `servin ARGS…` like `_cli.ts`'s `run`, but killed after {@link BOUND_MS}. */
async function servin(
  root: string,
  args: string[],
  env: Record<string, string> = {},
  stdin?: string,
): Promise<RunResult & { ms: number }> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), BOUND_MS);
  const started = performance.now();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, ...args],
      env: {
        SERVIN_ROOT: root,
        HOME: root,
        NO_COLOR: "1",
        DENO_NO_UPDATE_CHECK: "1",
        ...env,
      },
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      signal: abort.signal,
    }).spawn();
    if (stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(enc.encode(stdin));
      await writer.close();
    }
    const out = await child.output();
    const dec = new TextDecoder();
    return {
      code: out.code,
      stdout: dec.decode(out.stdout),
      stderr: dec.decode(out.stderr),
      ms: performance.now() - started,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** `servin login -u bob --password-stdin HOST`, with bob's password on stdin. */
function loginBob(root: string, host: string): Promise<RunResult> {
  return servin(root, ["login", "-u", "bob", "--password-stdin", host], {}, "hunter2");
}

/** Asserts a one-line `servin:` error and exit code 1. */
function assertUserError(r: RunResult, pattern: RegExp): void {
  assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`);
  assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, pattern);
}

/** A one-layer image as a registry serves it. */
interface TinyImage {
  manifest: Uint8Array;
  blobs: Map<string, Uint8Array>;
  layerDigest: string;
  layer: Uint8Array;
}

async function tinyImage(): Promise<TinyImage> {
  const tar = buildTar([{ name: "hello", body: "hi\n" }]);
  const layer = await gzip(tar);
  const config = enc.encode(JSON.stringify({
    architecture: Deno.build.arch === "aarch64" ? "arm64" : "amd64",
    os: "linux",
    config: {},
    rootfs: { type: "layers", diff_ids: [`sha256:${sha256(tar)}`] },
  }));
  const layerDigest = `sha256:${sha256(layer)}`;
  const configDigest = `sha256:${sha256(config)}`;
  const manifest = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: configDigest,
      size: config.length,
    },
    layers: [{
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: layerDigest,
      size: layer.length,
    }],
  }));
  return {
    manifest,
    blobs: new Map([[configDigest, config], [layerDigest, layer]]),
    layerDigest,
    layer,
  };
}

/**
 * What a test server saw: one line per request, `METHOD path auth=… range=…`.
 * `await using` closes it.
 */
interface Server extends AsyncDisposable {
  host: string;
  seen: string[];
}

type Handler = (req: Request, url: URL) => Response | Promise<Response> | undefined;

/**
 * A registry serving `image` as `t/app:1`, unless `override` answers first.
 * `release` is resolved on close, so handlers that stall can end.
 */
function serve(
  hostname: string,
  override: Handler,
  image?: TinyImage,
): Server & { release: Promise<void> } {
  const seen: string[] = [];
  let release!: () => void;
  const released = new Promise<void>((r) => release = r);
  const server = Deno.serve({ hostname, port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    seen.push(
      `${req.method} ${url.pathname} auth=${req.headers.get("authorization") ?? ""} range=${
        req.headers.get("range") ?? ""
      }`,
    );
    const answer = await override(req, url);
    if (answer) return answer;
    if (url.pathname === "/v2/") return Response.json({});
    if (image && url.pathname === "/v2/t/app/manifests/1") {
      return new Response(image.manifest as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
      });
    }
    const blob = image?.blobs.get(url.pathname.replace("/v2/t/app/blobs/", ""));
    if (blob) return new Response(blob as Uint8Array<ArrayBuffer>);
    return Response.json({ errors: [{ code: "NOT_FOUND", message: "no" }] }, { status: 404 });
  });
  return {
    host: `${hostname}:${server.addr.port}`,
    seen,
    release: released,
    async [Symbol.asyncDispose]() {
      release();
      await server.shutdown();
    },
  };
}

function basic(user: string, password: string): string {
  return `Basic ${btoa(`${user}:${password}`)}`;
}

/** A body that sends `head` and then nothing until `until` resolves. */
function stalling(head: Uint8Array, until: Promise<void>): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      c.enqueue(head);
    },
    async pull(c) {
      await until;
      c.close();
    },
  });
}

Deno.test(
  "a token realm that is not https (or http on loopback) is never fetched",
  withTempDir(async ({ root }) => {
    const image = await tinyImage();
    for (const realm of ["file:///etc/passwd", 'data:application/json,{"token":"stolen"}']) {
      await using registry = serve(
        "127.0.0.1",
        (req) =>
          req.headers.get("authorization") === "Bearer stolen" ? undefined : new Response(null, {
            status: 401,
            headers: { "www-authenticate": `Bearer realm="${realm}",service="x"` },
          }),
        image,
      );
      const r = await servin(root, ["pull", `${registry.host}/t/app:1`]);
      assertUserError(r, /refusing the token realm ".*": it must be an https URL/);
      assert.ok(!registry.seen.some((l) => l.includes("Bearer stolen")), registry.seen.join("\n"));
    }
  }),
);

Deno.test(
  "credentials are not sent to an upload location on another host",
  withTempDir(async ({ dir, root }) => {
    const auth = basic("bob", "hunter2");
    await using other = serve("127.0.0.2", async (req) => {
      await req.arrayBuffer();
      return new Response(null, { status: 201 });
    });
    await using registry = serve("127.0.0.1", (req, url) => {
      if (req.headers.get("authorization") !== auth) {
        return new Response(null, {
          status: 401,
          headers: { "www-authenticate": 'Basic realm="test"' },
        });
      }
      if (req.method === "HEAD") return new Response(null, { status: 404 });
      if (req.method === "POST" && url.pathname === "/v2/t/app/blobs/uploads/") {
        return new Response(null, {
          status: 202,
          headers: { location: `http://${other.host}/upload/${crypto.randomUUID()}` },
        });
      }
      if (req.method === "PUT" && url.pathname.startsWith("/v2/t/app/manifests/")) {
        return new Response(null, {
          status: 201,
          headers: { "docker-content-digest": `sha256:${"0".repeat(64)}` },
        });
      }
      return undefined;
    });
    const tarball = join(dir, "rootfs.tar");
    await Deno.writeFile(tarball, buildTar([{ name: "etc/hello", body: "hi\n" }]));
    const ref = `${registry.host}/t/app:1`;
    assert.equal((await servin(root, ["image", "import", tarball, ref])).code, 0);
    const login = await loginBob(root, registry.host);
    assert.equal(login.code, 0, login.stderr);
    const pushed = await servin(root, ["push", ref]);
    assert.equal(pushed.code, 0, pushed.stderr);
    // The layer streams up compressed (PATCH, then PUT), the config in one PUT.
    const uploads = other.seen.filter((l) => /^(PUT|PATCH) \/upload\//.test(l));
    assert.equal(uploads.length, 3, other.seen.join("\n"));
    assert.ok(uploads.every((l) => l.includes("auth= ")), uploads.join("\n"));
  }),
);

Deno.test(
  "a blob redirect to another host gets no Authorization header",
  withTempDir(async ({ root }) => {
    // Deno's fetch already drops Authorization on a cross-origin redirect (the
    // Fetch standard); this holds the client to it.
    const image = await tinyImage();
    const auth = basic("bob", "hunter2");
    await using other = serve("127.0.0.2", (_req, url) => {
      const blob = image.blobs.get(url.pathname.slice(1));
      return blob ? new Response(blob as Uint8Array<ArrayBuffer>) : undefined;
    });
    await using registry = serve("127.0.0.1", (req, url) => {
      if (req.headers.get("authorization") !== auth) {
        return new Response(null, {
          status: 401,
          headers: { "www-authenticate": 'Basic realm="test"' },
        });
      }
      const digest = url.pathname.replace("/v2/t/app/blobs/", "");
      if (image.blobs.has(digest)) {
        return Response.redirect(`http://${other.host}/${digest}`, 307);
      }
      return undefined;
    }, image);
    const login = await loginBob(root, registry.host);
    assert.equal(login.code, 0, login.stderr);
    const pulled = await servin(root, ["pull", `${registry.host}/t/app:1`]);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(other.seen.length, 2, other.seen.join("\n"));
    assert.ok(other.seen.every((l) => l.includes("auth= ")), other.seen.join("\n"));
  }),
);

Deno.test(
  "a token realm on another host gets no password over plain http",
  withTempDir(async ({ root }) => {
    const image = await tinyImage();
    await using tokens = serve("127.0.0.2", () => Response.json({ token: "anonymous-token" }));
    await using registry = serve(
      "127.0.0.1",
      (req) =>
        req.headers.get("authorization") === "Bearer anonymous-token"
          ? undefined
          : new Response(null, {
            status: 401,
            headers: {
              "www-authenticate": `Bearer realm="http://${tokens.host}/token",service="test"`,
            },
          }),
      image,
    );
    const login = await loginBob(root, registry.host);
    assert.equal(login.code, 0, login.stderr);
    const pulled = await servin(root, ["pull", `${registry.host}/t/app:1`]);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.ok(tokens.seen.length >= 1, "the token was asked for");
    assert.ok(tokens.seen.every((l) => l.includes("auth= ")), tokens.seen.join("\n"));
  }),
);

Deno.test(
  "a registry that accepts connections and never answers fails the pull",
  withTempDir(async ({ root }) => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const held: Deno.Conn[] = [];
    // Ends when the listener is closed.
    const accepting = (async () => {
      try {
        for await (const conn of listener) held.push(conn);
      } catch { /* closed */ }
    })();
    try {
      const r = await servin(root, ["pull", `127.0.0.1:${port}/t/app:1`], {
        SERVIN_TIMEOUT: "2",
      });
      assertUserError(r, /no data for 2 s/);
      const bad = await servin(root, ["pull", `127.0.0.1:${port}/t/app:1`], {
        SERVIN_TIMEOUT: "soon",
      });
      assertUserError(bad, /SERVIN_TIMEOUT must be a positive number of seconds/);
      console.log(
        `silent registry, 2 s timeout: failed after ${
          (r.ms / 1000).toFixed(1)
        } s, ${held.length} connections`,
      );
    } finally {
      listener.close();
      await accepting;
      for (const c of held) c.close();
    }
  }),
);

Deno.test(
  "a layer that stalls mid-stream is resumed where it stopped",
  withTempDir(async ({ root }) => {
    const image = await tinyImage();
    const half = Math.floor(image.layer.length / 2);
    let layerGets = 0;
    let release: Promise<void> = Promise.resolve();
    await using registry = serve("127.0.0.1", (req, url) => {
      if (url.pathname !== `/v2/t/app/blobs/${image.layerDigest}`) return undefined;
      if (++layerGets === 1) {
        return new Response(stalling(image.layer.slice(0, half), release), {
          headers: { "content-length": String(image.layer.length) },
        });
      }
      const from = Number(/^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "")?.[1] ?? 0);
      return new Response(image.layer.slice(from) as Uint8Array<ArrayBuffer>, {
        status: from ? 206 : 200,
        headers: from
          ? { "content-range": `bytes ${from}-${image.layer.length - 1}/${image.layer.length}` }
          : {},
      });
    }, image);
    release = registry.release;
    const r = await servin(root, ["pull", `${registry.host}/t/app:1`], {
      SERVIN_TIMEOUT: "1",
    });
    assert.equal(r.code, 0, r.stderr);
    const gets = registry.seen.filter((l) => l.includes(image.layerDigest));
    assert.equal(gets.length, 2, gets.join("\n"));
    assert.match(gets[1]!, new RegExp(`range=bytes=${half}-$`));
  }),
);

Deno.test(
  "429 is retried after Retry-After, and when it persists is a user error naming TOOMANYREQUESTS",
  withTempDir(async ({ dir }) => {
    const image = await tinyImage();
    let refusals = 0;
    await using registry = serve("127.0.0.1", (_req, url) => {
      if (!url.pathname.includes("/manifests/") || refusals-- <= 0) return undefined;
      return Response.json(
        { errors: [{ code: "TOOMANYREQUESTS", message: "too many requests" }] },
        { status: 429, headers: { "retry-after": "1" } },
      );
    }, image);
    const manifestGets = () => registry.seen.filter((l) => l.includes("/manifests/")).length;
    refusals = 1;
    const once = await servin(join(dir, "a"), ["pull", `${registry.host}/t/app:1`]);
    assert.equal(once.code, 0, once.stderr);
    assert.equal(manifestGets(), 2);

    refusals = 100;
    const always = await servin(join(dir, "b"), ["pull", `${registry.host}/t/app:1`]);
    assertUserError(always, /TOOMANYREQUESTS: too many requests/);
    assert.equal(manifestGets(), 2 + 4, "four attempts, one retry loop");
  }),
);

Deno.test(
  "5xx that persists is a user error (unreachable), after one retry loop",
  withTempDir(async ({ root }) => {
    const image = await tinyImage();
    await using registry = serve(
      "127.0.0.1",
      (_req, url) =>
        url.pathname.includes("/blobs/")
          ? Response.json({ errors: [{ code: "UNAVAILABLE", message: "down" }] }, { status: 503 })
          : undefined,
      image,
    );
    const r = await servin(root, ["pull", `${registry.host}/t/app:1`]);
    assertUserError(r, /UNAVAILABLE: down/);
    const blobGets = registry.seen.filter((l) => l.includes("/blobs/")).length;
    assert.equal(blobGets, 4, registry.seen.join("\n"));
  }),
);

/** How much an endless body sends at most; a client that reads half of it read too far. */
const ENDLESS_MAX = 64 * 1024 * 1024;

/**
 * A registry serving `image` that answers the requests `matches` picks with
 * `head` followed by `fill` bytes, up to {@link ENDLESS_MAX}; `sent` counts
 * what the client pulled.
 */
function serveEndless(
  image: TinyImage,
  matches: (url: URL) => boolean,
  head: Uint8Array,
  fill: number,
  headers: HeadersInit = {},
): Server & { sent: { bytes: number } } {
  const sent = { bytes: 0 };
  const chunk = new Uint8Array(64 * 1024).fill(fill);
  const body = () =>
    new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(head);
        sent.bytes += head.length;
      },
      pull(c) {
        if (sent.bytes >= ENDLESS_MAX) return c.close();
        c.enqueue(chunk);
        sent.bytes += chunk.length;
      },
    });
  const server = serve(
    "127.0.0.1",
    (_req, url) => matches(url) ? new Response(body(), { headers }) : undefined,
    image,
  );
  return Object.assign(server, { sent });
}

/** Asserts that the client stopped reading an endless body well before its end. */
function assertReadNoFurther(sent: number): void {
  assert.ok(sent < ENDLESS_MAX / 2, `the server was read no further (${sent} bytes)`);
}

/** A pull from a registry whose answer to what `matches` picks never ends. */
interface EndlessCase {
  name: string;
  /** The requests answered endlessly, their first bytes, the byte that follows, the headers. */
  endless: (image: TinyImage) => {
    matches: (url: URL) => boolean;
    head: Uint8Array;
    fill: number;
    headers?: HeadersInit;
  };
  /** The one-line error the pull must fail with. */
  error: (image: TinyImage) => RegExp;
  /** More checks of the registry's log. */
  check?: (image: TinyImage, seen: string[]) => void;
}

const ENDLESS_CASES: EndlessCase[] = [
  {
    name: "a manifest past 4 MiB is refused while it streams",
    // Valid JSON however long: the manifest followed by spaces.
    endless: (image) => ({
      matches: (url) => url.pathname.includes("/manifests/"),
      head: image.manifest,
      fill: 0x20,
      headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
    }),
    error: () => /the manifest( 1)? is larger than 4194304 bytes/,
  },
  {
    name: "a blob never streams past its descriptor's size",
    endless: (image) => ({
      matches: (url) => url.pathname === `/v2/t/app/blobs/${image.layerDigest}`,
      head: image.layer,
      fill: 0,
    }),
    error: (image) =>
      new RegExp(`: blob ${image.layerDigest} is larger than ${image.layer.length} bytes$`, "m"),
    check: (image, seen) => {
      const gets = seen.filter((l) => l.includes(image.layerDigest));
      assert.equal(gets.length, 1, "not retried");
    },
  },
];

for (const c of ENDLESS_CASES) {
  Deno.test(
    c.name,
    withTempDir(async ({ root }) => {
      const image = await tinyImage();
      const { matches, head, fill, headers } = c.endless(image);
      await using registry = serveEndless(image, matches, head, fill, headers);
      const r = await servin(root, ["pull", `${registry.host}/t/app:1`]);
      assertUserError(r, c.error(image));
      c.check?.(image, registry.seen);
      assertReadNoFurther(registry.sent.bytes);
    }),
  );
}

Deno.test(
  "a corrupt auth.json is an error naming the file, and login leaves it alone",
  withTempDir(async ({ root }) => {
    const image = await tinyImage();
    await using registry = serve("127.0.0.1", () => undefined, image);
    const file = join(root, "auth.json");
    await Deno.mkdir(root);
    await Deno.writeTextFile(file, '{"auths": {');
    const pulled = await servin(root, ["pull", `${registry.host}/t/app:1`]);
    assertUserError(pulled, new RegExp(`Cannot read credentials from "${file}": not valid JSON`));
    const login = await loginBob(root, registry.host);
    assertUserError(login, /Cannot read credentials from/);
    assert.equal(await Deno.readTextFile(file), '{"auths": {');
  }),
);
