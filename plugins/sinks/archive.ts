/**
 * Image archives for `servin image save`:
 *
 * - `docker+oci` (default), as Docker 25+ writes: an OCI layout plus
 *   `manifest.json` and `repositories`, layers uncompressed;
 * - `docker-archive`: `manifest.json` and `repositories`, layers uncompressed;
 * - `oci-archive`: an OCI layout with every blob as it was received, so an
 *   image saved after a load keeps its manifest and layer digests.
 *
 * Blobs live at `blobs/sha256/<hex>` in all three. A compressed layer blob
 * is decompressed into staging first when the format wants tar (its digest
 * is then the layer's diff_id).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { buildOciManifest, type Descriptor, MEDIA_TYPES } from "../../core/image.ts";
import type { ImageStore, SinkContext, SinkImage } from "../../core/kinds.ts";
import { definePlugin } from "../../core/registry.ts";
import { decompress, detectCompression, isSupported } from "../formats/compression.ts";
import { TarWriter } from "../formats/tar_writer.ts";
import { ServinError } from "../../core/errors.ts";

const EPOCH = 0;

interface Blob {
  digest: string;
  size: number;
  path: string;
}

/** A layer as a plain tar blob: the stored blob, or a decompressed copy in staging. */
async function tarBlob(store: ImageStore, stored: Blob, cleanup: (() => Promise<void>)[]) {
  const head = new Uint8Array(8);
  const file = await Deno.open(stored.path);
  const n = await file.read(head) ?? 0;
  file.close();
  const compression = detectCompression(head.subarray(0, n));
  if (compression === "none") return stored;
  if (!isSupported(compression)) {
    throw new ServinError("unsupported", `a layer uses ${compression}, which is not supported`);
  }
  const dir = await store.stage("save-");
  cleanup.push(() => store.discard(dir));
  const path = join(dir.path, "layer.tar");
  const out = await Deno.open(path, { write: true, createNew: true });
  const hash = createHash("sha256");
  let size = 0;
  try {
    for await (const chunk of decompress((await Deno.open(stored.path)).readable, compression)) {
      hash.update(chunk);
      size += chunk.length;
      for (let off = 0; off < chunk.length;) off += await out.write(chunk.subarray(off));
    }
  } finally {
    out.close();
  }
  return { digest: hash.digest("hex"), size, path };
}

async function blobFile(store: ImageStore, digest: string): Promise<Blob> {
  const path = store.blobPath(digest);
  try {
    return { digest, size: (await Deno.stat(path)).size, path };
  } catch {
    throw new ServinError("not-found", `blob sha256:${digest} is missing from the store`);
  }
}

interface Planned {
  sink: SinkImage;
  config: Blob;
  manifest: Blob | { digest: string; bytes: Uint8Array };
  layers: Blob[];
}

/** Works out the blobs of each image for a format that wants plain tar layers or blobs as stored. */
async function plan(ctx: SinkContext, plainLayers: boolean, cleanup: (() => Promise<void>)[]) {
  const planned: Planned[] = [];
  for (const sink of ctx.images) {
    const img = sink.image;
    const config = await blobFile(ctx.store, img.id);
    if (!img.manifest) {
      throw new ServinError(
        "unsupported",
        `image ${img.id.slice(0, 12)} has no manifest in the store`,
      );
    }
    const manifestBlob = await blobFile(ctx.store, img.manifest);
    const manifest = JSON.parse(await Deno.readTextFile(manifestBlob.path)) as {
      layers: Descriptor[];
    };
    const stored = await Promise.all(
      manifest.layers.map((l) => blobFile(ctx.store, l.digest.slice(7))),
    );
    if (!plainLayers) {
      planned.push({ sink, config, manifest: manifestBlob, layers: stored });
      continue;
    }
    const layers: Blob[] = [];
    for (const blob of stored) layers.push(await tarBlob(ctx.store, blob, cleanup));
    const same = layers.every((l, i) => l.digest === stored[i]!.digest);
    const bytes = buildOciManifest(
      { mediaType: MEDIA_TYPES.config, digest: `sha256:${img.id}`, size: config.size },
      layers.map((l) => ({
        mediaType: MEDIA_TYPES.layer,
        digest: `sha256:${l.digest}`,
        size: l.size,
      })),
    );
    planned.push({
      sink,
      config,
      manifest: same
        ? manifestBlob
        : { digest: createHash("sha256").update(bytes).digest("hex"), bytes },
      layers,
    });
  }
  return planned;
}

function fileHeader(name: string, size: number) {
  return {
    name,
    type: "file" as const,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size,
    mtime: EPOCH,
    linkname: "",
    devmajor: 0,
    devminor: 0,
  };
}

async function writeArchive(ctx: SinkContext, format: string): Promise<void> {
  const cleanup: (() => Promise<void>)[] = [];
  try {
    const planned = await plan(ctx, format !== "oci-archive", cleanup);
    const tar = new TarWriter((chunk) => ctx.write(chunk));
    const dir = (name: string) => tar.add({ ...fileHeader(name, 0), type: "dir", mode: 0o755 });
    const json = (name: string, value: unknown) => {
      const bytes = new TextEncoder().encode(JSON.stringify(value));
      return tar.add(fileHeader(name, bytes.length), bytes);
    };
    await dir("blobs/");
    await dir("blobs/sha256/");
    const written = new Set<string>();
    const blob = async (b: Blob | { digest: string; bytes: Uint8Array }) => {
      if (written.has(b.digest)) return;
      written.add(b.digest);
      const name = `blobs/sha256/${b.digest}`;
      if ("bytes" in b) return await tar.add(fileHeader(name, b.bytes.length), b.bytes);
      const file = await Deno.open(b.path);
      await tar.add(fileHeader(name, b.size), file.readable);
    };
    for (const p of planned) {
      await blob(p.config);
      for (const l of p.layers) await blob(l);
      if (format !== "docker-archive") await blob(p.manifest);
    }
    if (format !== "docker-archive") {
      await json("oci-layout", { imageLayoutVersion: "1.0.0" });
      const manifests = planned.flatMap((p) => {
        const size = "bytes" in p.manifest ? p.manifest.bytes.length : p.manifest.size;
        const base = {
          mediaType: MEDIA_TYPES.manifest,
          digest: `sha256:${p.manifest.digest}`,
          size,
        };
        if (p.sink.tags.length === 0) return [base];
        return p.sink.tags.map((tag) => ({
          ...base,
          annotations: {
            "io.containerd.image.name": tag,
            "org.opencontainers.image.ref.name": tag,
          },
        }));
      });
      await json("index.json", { schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests });
    }
    if (format !== "oci-archive") {
      await json(
        "manifest.json",
        planned.map((p) => ({
          Config: `blobs/sha256/${p.config.digest}`,
          RepoTags: p.sink.tags,
          Layers: p.layers.map((l) => `blobs/sha256/${l.digest}`),
        })),
      );
      const repositories: Record<string, Record<string, string>> = {};
      for (const p of planned) {
        for (const tag of p.sink.tags) {
          const colon = tag.lastIndexOf(":");
          (repositories[tag.slice(0, colon)] ??= {})[tag.slice(colon + 1)] = p.config.digest;
        }
      }
      await json("repositories", repositories);
    }
    await tar.finish();
  } finally {
    for (const fn of cleanup) await fn();
  }
}

/** The built-in archive formats for `save`. */
export function archiveSinks() {
  return definePlugin({
    name: "sink-archive",
    setup(api) {
      for (const name of ["docker+oci", "docker-archive", "oci-archive"]) {
        api.sink({ name, write: (ctx) => writeArchive(ctx, name) });
      }
    },
  });
}
