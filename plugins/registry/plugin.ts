/**
 * The registry plugin: `pull` (a source), `push`, `login` and `logout`
 * (hooks) over the OCI distribution API. Pulls fetch only what the store
 * lacks, download layers in parallel (three at a time) and decompress, hash
 * and unpack them as they stream; every digest and diff_id is checked
 * before anything is committed.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { ServinError } from "../../core/errors.ts";
import type { Descriptor } from "../../core/image.ts";
import type {
  ImageStore,
  ProgressFn,
  ProgressPart,
  RegistryOptions,
  SourceLayer,
  StagedBlob,
} from "../../core/kinds.ts";
import { parseRegistryReference, type RegistryReference } from "../../core/reference.ts";
import { definePlugin } from "../../core/registry.ts";
import { decompress } from "../formats/compression.ts";
import {
  choosePlatform,
  DOCKER_LIST,
  DOCKER_MANIFEST,
  INDEXES,
  MANIFESTS,
} from "../formats/oci.ts";
import { credentialsFor, storeCredentials } from "./auth.ts";
import { type Credentials, RegistryClient } from "./client.ts";

const ACCEPT = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  DOCKER_MANIFEST,
  DOCKER_LIST,
].join(", ");

/** Layers downloaded at once. */
const PARALLEL = 3;

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function hexOf(digest: string | undefined, what: string): string {
  if (!digest || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw new ServinError("invalid-archive", `${what} has an unsupported digest "${digest}"`);
  }
  return digest.slice(7);
}

async function client(
  root: string,
  registry: string,
  options: RegistryOptions,
  credentials?: Credentials,
): Promise<RegistryClient> {
  return new RegistryClient(registry, {
    ...options,
    credentials: credentials ?? await credentialsFor(root, registry),
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
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

/** Runs `tasks` with at most `limit` at once; the first failure rejects after all settled. */
async function bounded<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < tasks.length && failure === undefined) {
      const i = next++;
      try {
        results[i] = await tasks[i]!();
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  if (failure !== undefined) throw failure;
  return results;
}

/** Pulls one image: manifest (through an index when there is one), config, layers. */
async function pull(
  store: ImageStore,
  registry: RegistryClient,
  ref: RegistryReference,
  platform: string,
  progress?: ProgressFn,
) {
  const scope = `repository:${ref.path}:pull`;
  const getManifest = async (reference: string) => {
    const r = await registry.request("GET", `/v2/${ref.path}/manifests/${reference}`, scope, {
      headers: { accept: ACCEPT },
    });
    const bytes = new Uint8Array(await r.arrayBuffer());
    const type = (r.headers.get("content-type") ?? "").split(";")[0]!.trim();
    return { bytes, type: type || (JSON.parse(new TextDecoder().decode(bytes)).mediaType ?? "") };
  };
  let { bytes, type } = await getManifest(ref.digest ?? ref.tag ?? "latest");
  if (ref.digest && `sha256:${sha256(bytes)}` !== ref.digest) {
    throw new ServinError(
      "invalid-archive",
      `the registry sent a manifest that is not ${ref.digest}`,
    );
  }
  for (let depth = 0; INDEXES.has(type); depth++) {
    if (depth > 3) throw new ServinError("invalid-archive", "indexes nested too deep");
    const index = JSON.parse(new TextDecoder().decode(bytes)) as { manifests?: Descriptor[] };
    const chosen = choosePlatform(index.manifests ?? [], platform);
    ({ bytes, type } = await getManifest(chosen.digest));
    if (`sha256:${sha256(bytes)}` !== chosen.digest) {
      throw new ServinError(
        "invalid-archive",
        `the registry sent a manifest that is not ${chosen.digest}`,
      );
    }
  }
  if (!MANIFESTS.has(type)) {
    throw new ServinError("unsupported", `unsupported manifest type "${type}"`);
  }
  const manifest = JSON.parse(new TextDecoder().decode(bytes)) as {
    config?: Descriptor;
    layers?: Descriptor[];
  };
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    throw new ServinError("invalid-archive", "the manifest has no config or layers");
  }
  const staged: (StagedBlob | { path: string })[] = [];
  try {
    const manifestBlob = await stageBytes(store, bytes);
    staged.push(manifestBlob);
    const configHex = hexOf(manifest.config.digest, "the config");
    const config = await fetchBlob(store, registry, ref.path, scope, configHex);
    staged.push(config);
    const diffIds = ((JSON.parse(await Deno.readTextFile(config.path)) as {
      rootfs?: { diff_ids?: string[] };
    }).rootfs?.diff_ids ?? []).map((d) => hexOf(d, "a diff_id"));
    if (diffIds.length !== manifest.layers.length) {
      throw new ServinError(
        "invalid-archive",
        "the manifest and its config list different layer counts",
      );
    }
    const tracker = new Tracker(manifest.layers, progress);
    const layers = await bounded(
      manifest.layers.map((desc, i) => () =>
        pullLayer(store, registry, ref.path, scope, desc, diffIds[i]!, tracker.counter(i))
          .then((layer) => {
            if (layer.staged) staged.push(layer.staged);
            staged.push(layer.blob);
            return layer;
          })
      ),
      PARALLEL,
    );
    return [{
      layers,
      config,
      manifest: manifestBlob,
      tags: [],
      rootfsType: "layers",
      metadata: { source: "registry", registry: ref.registry, repository: ref.path },
    }];
  } catch (err) {
    for (const s of staged) await store.discard(s as StagedBlob);
    throw err;
  }
}

async function stageBytes(store: ImageStore, bytes: Uint8Array): Promise<StagedBlob> {
  const tee = store.stageBlob(ReadableStream.from([bytes]));
  for await (const _ of tee.output) { /* staged */ }
  return await tee.staged;
}

/** A (small) blob: the store's copy, or downloaded to staging with its digest checked. */
async function fetchBlob(
  store: ImageStore,
  registry: RegistryClient,
  path: string,
  scope: string,
  hex: string,
): Promise<StagedBlob> {
  const stored = store.blobPath(hex);
  if (await exists(stored)) {
    return { digest: hex, size: (await Deno.stat(stored)).size, path: stored };
  }
  const r = await registry.request("GET", `/v2/${path}/blobs/sha256:${hex}`, scope);
  const tee = store.stageBlob(r.body!);
  for await (const _ of tee.output) { /* staged */ }
  const blob = await tee.staged;
  if (blob.digest !== hex) {
    await store.discard(blob);
    throw new ServinError(
      "invalid-archive",
      `blob sha256:${hex} arrived with digest sha256:${blob.digest}`,
    );
  }
  return blob;
}

/** One layer: reused when the store has its blob and diff, else downloaded, verified and unpacked as it streams. */
async function pullLayer(
  store: ImageStore,
  registry: RegistryClient,
  path: string,
  scope: string,
  desc: Descriptor,
  diffId: string,
  count: (n: number) => void,
): Promise<SourceLayer> {
  const hex = hexOf(desc.digest, "a layer");
  const stored = store.blobPath(hex);
  const haveLayer = await store.hasLayer(diffId);
  if (haveLayer && await exists(stored)) {
    count(desc.size ?? 0);
    return {
      diffId,
      size: await store.layerSize(diffId),
      blob: { digest: hex, size: desc.size ?? 0, path: stored },
      mediaType: desc.mediaType,
    };
  }
  // A connection lost mid-blob is retried like one that failed to open.
  for (let attempt = 1;; attempt++) {
    try {
      return await downloadLayer(
        store,
        registry,
        path,
        scope,
        desc,
        diffId,
        haveLayer,
        count,
      );
    } catch (err) {
      if (!(err instanceof ServinError && err.code === "unreachable") || attempt >= 3) throw err;
      await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
    }
  }
}

async function downloadLayer(
  store: ImageStore,
  registry: RegistryClient,
  path: string,
  scope: string,
  desc: Descriptor,
  diffId: string,
  haveLayer: boolean,
  count: (n: number) => void,
): Promise<SourceLayer> {
  const hex = hexOf(desc.digest, "a layer");
  const r = await registry.request("GET", `/v2/${path}/blobs/${desc.digest}`, scope);
  const reader = r.body!.getReader();
  const counted = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next;
      try {
        next = await reader.read();
      } catch (err) {
        throw new ServinError(
          "unreachable",
          `${registry.registry}: the connection was lost while downloading layer sha256:${hex} (${
            (err as Error).message
          })`,
        );
      }
      if (next.done) return controller.close();
      count(next.value.length);
      controller.enqueue(next.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  const tee = store.stageBlob(counted);
  const compression = compressionOf(desc.mediaType);
  try {
    let layer: SourceLayer;
    if (haveLayer) {
      const hash = createHash("sha256");
      for await (const chunk of decompress(tee.output, compression)) hash.update(chunk);
      const got = hash.digest("hex");
      if (got !== diffId) throw mismatch(hex, diffId, got);
      layer = {
        diffId,
        size: await store.layerSize(diffId),
        blob: await tee.staged,
        mediaType: desc.mediaType,
      };
    } else {
      const staged = await store.stageLayer(decompress(tee.output, compression), { label: hex });
      if (staged.diffId !== diffId) {
        await store.discard(staged);
        throw mismatch(hex, diffId, staged.diffId);
      }
      layer = {
        diffId,
        size: staged.size,
        staged,
        blob: await tee.staged,
        mediaType: desc.mediaType,
      };
    }
    if (layer.blob.digest !== hex) {
      if (layer.staged) await store.discard(layer.staged);
      await store.discard(layer.blob);
      throw new ServinError(
        "invalid-archive",
        `layer sha256:${hex} arrived with digest sha256:${layer.blob.digest}`,
      );
    }
    return layer;
  } catch (err) {
    await tee.discard();
    throw err;
  }
}

function mismatch(hex: string, expected: string, got: string): ServinError {
  return new ServinError(
    "invalid-archive",
    `layer sha256:${hex} has diff_id sha256:${got}, but the config says sha256:${expected}`,
  );
}

function compressionOf(mediaType: string) {
  if (/gzip$/.test(mediaType)) return "gzip" as const;
  if (/zstd$/.test(mediaType)) return "zstd" as const;
  return "none" as const;
}

/** Uploads a blob unless the registry has it; HEAD first. */
async function pushBlob(
  registry: RegistryClient,
  path: string,
  scope: string,
  file: string,
  hex: string,
  size: number,
  sent: (n: number) => void,
  mountFrom?: string,
): Promise<void> {
  const head = await registry.request("HEAD", `/v2/${path}/blobs/sha256:${hex}`, scope, {
    ok: [404],
  });
  await head.body?.cancel();
  if (head.status === 200) {
    sent(size);
    return;
  }
  // A blob of another repository of the same registry can be mounted instead
  // of uploaded; a registry that will not answers 202 with an upload session.
  const query = mountFrom ? `?mount=sha256:${hex}&from=${encodeURIComponent(mountFrom)}` : "";
  const start = await registry.request("POST", `/v2/${path}/blobs/uploads/${query}`, scope, {
    ok: [201, 202],
  });
  await start.body?.cancel();
  if (start.status === 201) {
    sent(size);
    return;
  }
  const location = start.headers.get("location");
  if (!location) throw new ServinError("internal", `${registry.registry}: no upload location`);
  const url = new URL(location, "http://placeholder");
  url.searchParams.set("digest", `sha256:${hex}`);
  const target = /^https?:\/\//.test(location) ? url.href : `${url.pathname}${url.search}`;
  const put = await registry.request("PUT", target, scope, {
    headers: { "content-type": "application/octet-stream", "content-length": String(size) },
    body: () => Deno.openSync(file).readable,
    ok: [201, 204],
  });
  await put.body?.cancel();
  sent(size);
}

/** The built-in registry plugin. */
export function registryPlugin() {
  return definePlugin({
    name: "registry",
    setup(api) {
      api.source({
        name: "registry",
        detect: (probe) => probe.purpose === "pull",
        async read({ probe, store, root, progress }) {
          const ref = parseRegistryReference(probe.path);
          const registry = await client(root, ref.registry, probe.registry ?? {});
          try {
            return await pull(store, registry, ref, probe.platform ?? "linux/amd64", progress);
          } finally {
            registry.close();
          }
        },
      });

      api.on(
        "image:push",
        async ({ image, reference, store, root, registry: options, progress }) => {
          const ref = parseRegistryReference(reference);
          const registry = await client(root, ref.registry, options);
          const scope = `repository:${ref.path}:pull,push`;
          try {
            if (!image.manifest) {
              throw new ServinError("unsupported", "the image has no manifest in the store");
            }
            const manifestPath = store.blobPath(image.manifest);
            const bytes = await Deno.readFile(manifestPath);
            const manifest = JSON.parse(new TextDecoder().decode(bytes)) as {
              mediaType?: string;
              config: Descriptor;
              layers: Descriptor[];
            };
            const blobs = [...manifest.layers, manifest.config];
            const tracker = new Tracker(blobs, progress);
            const from = image.metadata.registry === ref.registry &&
                image.metadata.repository !== ref.path
              ? image.metadata.repository
              : undefined;
            await bounded(
              blobs.map((b, i) => () => {
                const hex = hexOf(b.digest, "a blob");
                const file = store.blobPath(hex);
                return pushBlob(
                  registry,
                  ref.path,
                  scope,
                  file,
                  hex,
                  b.size,
                  tracker.counter(i),
                  from,
                );
              }),
              PARALLEL,
            );
            const put = await registry.request(
              "PUT",
              `/v2/${ref.path}/manifests/${ref.tag}`,
              scope,
              {
                headers: {
                  "content-type": manifest.mediaType ??
                    "application/vnd.oci.image.manifest.v1+json",
                },
                body: bytes,
                ok: [201],
              },
            );
            await put.body?.cancel();
            return put.headers.get("docker-content-digest") ?? `sha256:${image.manifest}`;
          } finally {
            registry.close();
          }
        },
      );

      api.on("registry:login", async ({ registry, root, credentials, options }) => {
        if (!credentials) return false;
        const c = await client(root, registry, options, credentials);
        try {
          await c.ping();
        } finally {
          c.close();
        }
        await storeCredentials(root, registry, credentials);
        return true;
      });

      api.on("registry:logout", async ({ registry, root }) => {
        return await storeCredentials(root, registry, undefined);
      });
    },
  });
}
