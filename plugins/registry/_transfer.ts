/**
 * The work of the registry plugin (`plugin.ts`), imported when a pull, push
 * or login starts: describing an image a registry holds (the ingest pipeline
 * fetches, checks and unpacks it, reusing what the store has), uploading
 * one, and checking credentials.
 *
 * @module
 */

import { ServinError } from "../../core/errors.ts";
import type { Descriptor } from "../../core/image.ts";
import type {
  ProgressFn,
  ProgressPart,
  RegistryOptions,
  SinkContext,
  SourceContext,
} from "../../core/kinds.ts";
import { parseRegistryReference, type RegistryReference } from "../../core/reference.ts";
import { sha256Hex } from "../formats/digest.ts";
import { DOCKER_LIST, DOCKER_MANIFEST, parseDocument, resolveManifest } from "../formats/oci.ts";
import { bounded, readAll, readVerified } from "../ingest/streams.ts";
import { credentialsFor, storeCredentials } from "./auth.ts";
import { type Credentials, RegistryClient } from "./client.ts";
import type { RegistryPluginOptions } from "./plugin.ts";

/** Every manifest and index media type a pull accepts. */
export const ACCEPT = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  DOCKER_MANIFEST,
  DOCKER_LIST,
].join(", ");

/** A client of `registry` with the plugin's retries and timeout and the stored credentials. */
export async function client(
  root: string,
  registry: string,
  connection: RegistryOptions,
  options: RegistryPluginOptions,
  credentials?: Credentials,
): Promise<RegistryClient> {
  return new RegistryClient(registry, {
    ...connection,
    attempts: options.retries,
    timeoutMs: options.timeout === undefined ? undefined : options.timeout * 1000,
    credentials: credentials ?? await credentialsFor(root, registry),
  });
}

function hexOf(digest: string | undefined, what: string): string {
  if (!digest || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw new ServinError("invalid-archive", `${what} has an unsupported digest "${digest}"`);
  }
  return digest.slice(7);
}

/** Counts bytes per blob and reports the whole and the parts. */
class Tracker {
  #parts: ProgressPart[];
  #progress?: ProgressFn;

  constructor(blobs: Descriptor[], progress?: ProgressFn) {
    this.#parts = blobs.map((b) => ({ id: b.digest.slice(7, 19), done: 0, total: b.size ?? 0 }));
    this.#progress = progress;
  }

  /** A byte counter for blob `i`. */
  counter(i: number): (n: number) => void {
    return (n) => {
      const part = this.#parts[i]!;
      part.done = Math.min(part.total, part.done + n);
      const done = this.#parts.reduce((a, p) => a + p.done, 0);
      const total = this.#parts.reduce((a, p) => a + p.total, 0);
      this.#progress?.(done, total, this.#parts);
    };
  }
}

/** Passes `stream` on, counting its bytes. */
function counted(
  stream: ReadableStream<Uint8Array>,
  count: (n: number) => void,
): ReadableStream<Uint8Array> {
  return stream.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        count(chunk.length);
        controller.enqueue(chunk);
      },
    }),
  );
}

/** Describes the image `ctx.name` names: manifest (through indexes), config and layer blobs. */
export async function pull(ctx: SourceContext, options: RegistryPluginOptions): Promise<void> {
  const ref = parseRegistryReference(ctx.name);
  const registry = await client(ctx.root, ref.registry, ctx.registry, options);
  const scope = `repository:${ref.path}:pull`;
  const max = ctx.limits.maxDocumentBytes;
  try {
    const top = { mediaType: "", digest: ref.digest ?? "", size: 0 };
    // Signatures name the digest of what the reference names, an index included.
    let named = ref.digest;
    const found = await resolveManifest(top, ctx.platform, async (desc) => {
      const { bytes } = await registry.document(
        `/v2/${ref.path}/manifests/${desc.digest || ref.tag || "latest"}`,
        scope,
        { headers: { accept: ACCEPT }, limit: max, what: "the manifest" },
      );
      if (desc.digest && `sha256:${sha256Hex(bytes)}` !== desc.digest) {
        throw new ServinError(
          "invalid-archive",
          `the registry sent a manifest that is not ${desc.digest}`,
        );
      }
      named ??= `sha256:${sha256Hex(bytes)}`;
      return bytes;
    });
    const manifest = parseDocument(found.bytes, "the manifest") as {
      config?: Descriptor;
      layers?: Descriptor[];
    };
    if (!manifest.config || !Array.isArray(manifest.layers)) {
      throw new ServinError("invalid-archive", "the manifest has no config or layers");
    }
    const configHex = hexOf(manifest.config.digest, "the config");
    const stored = await ctx.store.content.info(configHex);
    const config = stored
      ? await readAll(await ctx.store.content.read(configHex), max, "the config")
      : (await registry.document(`/v2/${ref.path}/blobs/sha256:${configHex}`, scope, {
        limit: max,
        what: "the config",
      })).bytes;
    const tracker = new Tracker(manifest.layers, ctx.progress);
    await ctx.emit({
      manifest: found.bytes,
      config,
      layers: manifest.layers.map((desc, i) => ({
        descriptor: desc,
        open: () =>
          Promise.resolve(
            counted(registry.blob(ref.path, desc.digest, desc.size, scope), tracker.counter(i)),
          ),
      })),
      tags: [],
      metadata: {
        source: "registry",
        registry: ref.registry,
        repository: ref.path,
        digest: named ?? "",
      },
    });
  } finally {
    registry.close();
  }
}

/** Uploads a blob unless the registry has it; HEAD first, then a mount, then a monolithic upload. */
async function pushBlob(
  registry: RegistryClient,
  ref: RegistryReference,
  scope: string,
  ctx: SinkContext,
  desc: Descriptor,
  sent: (n: number) => void,
  mountFrom?: string,
): Promise<void> {
  const hex = hexOf(desc.digest, "a blob");
  const head = await registry.request("HEAD", `/v2/${ref.path}/blobs/sha256:${hex}`, scope, {
    ok: [404],
  });
  await head.body?.cancel();
  if (head.status === 200) return sent(desc.size);
  // A blob of another repository of the same registry can be mounted instead
  // of uploaded; a registry that will not answers 202 with an upload session.
  const query = mountFrom ? `?mount=sha256:${hex}&from=${encodeURIComponent(mountFrom)}` : "";
  const start = await registry.request("POST", `/v2/${ref.path}/blobs/uploads/${query}`, scope, {
    ok: [201, 202],
  });
  await start.body?.cancel();
  if (start.status === 201) return sent(desc.size);
  const location = start.headers.get("location");
  if (!location) {
    throw new ServinError("unreachable", `${registry.registry}: no upload location`);
  }
  const url = new URL(location, "http://placeholder");
  url.searchParams.set("digest", `sha256:${hex}`);
  const target = /^https?:\/\//.test(location) ? url.href : `${url.pathname}${url.search}`;
  const put = await registry.request("PUT", target, scope, {
    headers: { "content-type": "application/octet-stream", "content-length": String(desc.size) },
    body: () => readVerified(ctx.store.content, hex, desc.size),
    ok: [201, 204],
  });
  await put.body?.cancel();
  sent(desc.size);
}

/** Pushes `ctx.images[0]` to `ctx.destination`: its blobs, then its manifest; returns the manifest's digest. */
export async function push(ctx: SinkContext, options: RegistryPluginOptions): Promise<string> {
  const image = ctx.images[0]?.image;
  if (!image?.manifest || !ctx.destination) {
    throw new ServinError("unsupported", "the image has no manifest in the store");
  }
  const ref = parseRegistryReference(ctx.destination);
  const registry = await client(ctx.root, ref.registry, ctx.registry, options);
  const scope = `repository:${ref.path}:pull,push`;
  try {
    const bytes = await readAll(
      await ctx.store.content.read(image.manifest),
      4 * 1024 * 1024,
      "the manifest",
    );
    const manifest = parseDocument(bytes, "the manifest") as {
      mediaType?: string;
      config: Descriptor;
      layers: Descriptor[];
    };
    const blobs = [...manifest.layers, manifest.config];
    const tracker = new Tracker(blobs, ctx.progress);
    const from = image.metadata.registry === ref.registry && image.metadata.repository !== ref.path
      ? image.metadata.repository
      : undefined;
    await bounded(
      blobs.map((b, i) => () => pushBlob(registry, ref, scope, ctx, b, tracker.counter(i), from)),
      options.parallel ?? 3,
    );
    const put = await registry.request("PUT", `/v2/${ref.path}/manifests/${ref.tag}`, scope, {
      headers: {
        "content-type": manifest.mediaType ?? "application/vnd.oci.image.manifest.v1+json",
      },
      body: bytes,
      ok: [201],
    });
    await put.body?.cancel();
    return put.headers.get("docker-content-digest") ?? `sha256:${image.manifest}`;
  } finally {
    registry.close();
  }
}

/** Checks `credentials` against `registry`, then keeps them in `<root>/auth.json`. */
export async function login(
  root: string,
  registry: string,
  credentials: Credentials,
  connection: RegistryOptions,
  options: RegistryPluginOptions,
): Promise<void> {
  const c = await client(root, registry, connection, options, credentials);
  try {
    await c.ping();
  } finally {
    c.close();
  }
  await storeCredentials(root, registry, credentials);
}
