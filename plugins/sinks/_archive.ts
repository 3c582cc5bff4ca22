/**
 * Writing the image archives of the `archive` sinks (`archive.ts`), imported
 * when a save starts. Blobs live at `blobs/sha256/<hex>` in all three
 * formats. A compressed layer blob is decompressed into staging first when
 * the format wants tar (its digest is then the layer's diff_id).
 *
 * @module
 */

import { type Descriptor, MEDIA_TYPES } from "../../core/image.ts";
import type { SinkImage } from "../../core/kinds.ts";
import type { StreamSinkContext as SinkContext } from "./_output.ts";
import { buildOciManifest } from "../ingest/config.ts";
import { peek, readAll, readVerified } from "../ingest/streams.ts";
import { parseDocument } from "../formats/oci.ts";
import { decompress, detectCompression, isSupported } from "../formats/compression.ts";
import { TarWriter } from "../formats/tar_writer.ts";
import { sha256Hex } from "../formats/digest.ts";
import { ServinError } from "../../core/errors.ts";

const EPOCH = 0;

interface Blob {
  digest: string;
  size: number;
  /** Its bytes, checked against the digest as they stream. */
  open(): Promise<ReadableStream<Uint8Array>>;
}

/** A layer as a plain tar blob: the stored blob, or a decompressed copy in staging. */
async function tarBlob(ctx: SinkContext, stored: Blob, cleanup: (() => Promise<void>)[]) {
  const [head, stream] = await peek(await stored.open(), 8);
  const compression = detectCompression(head);
  if (compression === "none") {
    await stream.cancel();
    return stored;
  }
  if (!isSupported(compression)) {
    await stream.cancel();
    throw new ServinError("unsupported", `a layer uses ${compression}, which is not supported`);
  }
  const staged = await ctx.store.content.ingest(decompress(stream, compression));
  cleanup.push(() => staged.discard());
  return { digest: staged.digest, size: staged.size, open: () => staged.read() };
}

async function stored(ctx: SinkContext, digest: string): Promise<Blob> {
  const info = await ctx.store.content.info(digest);
  if (!info) throw new ServinError("not-found", `blob sha256:${digest} is missing from the store`);
  return {
    ...info,
    open: () => Promise.resolve(readVerified(ctx.store.content, digest, info.size)),
  };
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
    const config = await stored(ctx, img.id);
    if (!img.manifest) {
      throw new ServinError(
        "unsupported",
        `image ${img.id.slice(0, 12)} has no manifest in the store`,
      );
    }
    const manifestBlob = await stored(ctx, img.manifest);
    const manifest = parseDocument(
      await readAll(await manifestBlob.open(), 4 * 1024 * 1024, "the manifest"),
      "the manifest",
    ) as { layers: Descriptor[] };
    const blobs = await Promise.all(manifest.layers.map((l) => stored(ctx, l.digest.slice(7))));
    if (!plainLayers) {
      planned.push({ sink, config, manifest: manifestBlob, layers: blobs });
      continue;
    }
    const layers: Blob[] = [];
    for (const blob of blobs) layers.push(await tarBlob(ctx, blob, cleanup));
    const same = layers.every((l, i) => l.digest === blobs[i]!.digest);
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
      manifest: same ? manifestBlob : { digest: sha256Hex(bytes), bytes },
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

/** Writes `ctx.images` to `ctx.write` as the archive `format` (`docker+oci`, …) names. */
export async function writeArchive(ctx: SinkContext, format: string): Promise<void> {
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
      await tar.add(fileHeader(name, b.size), await b.open());
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
