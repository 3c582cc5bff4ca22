/**
 * Builds OCI image layouts and docker-archives for tests, from layer tars we
 * control, with the compression and names each test needs.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { gzipSync, zstdCompressSync } from "node:zlib";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const enc = new TextEncoder();

/** One layer: its uncompressed tar and how to compress it. */
export interface LayerSpec {
  /** The uncompressed layer tar. */
  tar: Uint8Array;
  /** Compression of the stored blob. */
  compression?: "none" | "gzip" | "zstd";
  /** The stored blob as it is (not compressed here; its media type still says `compression`). */
  blob?: Uint8Array;
}

/** What {@link writeLayout} wrote. */
export interface Layout {
  /** Hex digest of the image manifest. */
  manifest: string;
  /** Hex digest (the image ID) of the config. */
  config: string;
  /** Hex digests of the layer blobs. */
  blobs: string[];
  /** Hex diff_ids. */
  diffIds: string[];
  /** Size of the manifest blob. */
  manifestSize: number;
}

const MEDIA: Record<string, string> = {
  none: "application/vnd.oci.image.layer.v1.tar",
  gzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  zstd: "application/vnd.oci.image.layer.v1.tar+zstd",
};

async function putBlob(dir: string, bytes: Uint8Array): Promise<string> {
  const digest = sha256(bytes);
  await Deno.mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  await Deno.writeFile(join(dir, "blobs", "sha256", digest), bytes);
  return digest;
}

/** Writes the blobs of one image into the layout at `dir`; `diffIds` overrides the config's. */
export async function writeImage(
  dir: string,
  layers: LayerSpec[],
  options: { diffIds?: string[]; cmd?: string[] } = {},
): Promise<Layout> {
  const blobs: string[] = [];
  const descriptors = [];
  for (const l of layers) {
    const c = l.compression ?? "none";
    const bytes = l.blob ??
      (c === "gzip" ? gzipSync(l.tar) : c === "zstd" ? zstdCompressSync(l.tar) : l.tar);
    const digest = await putBlob(dir, bytes);
    blobs.push(digest);
    descriptors.push({ mediaType: MEDIA[c], digest: `sha256:${digest}`, size: bytes.length });
  }
  const diffIds = options.diffIds ?? layers.map((l) => sha256(l.tar));
  const config = enc.encode(JSON.stringify({
    created: "2024-01-02T03:04:05Z",
    architecture: "amd64",
    os: "linux",
    config: { Env: ["PATH=/bin"], Cmd: options.cmd ?? ["/bin/sh"] },
    rootfs: { type: "layers", diff_ids: diffIds.map((d) => `sha256:${d}`) },
    history: layers.map((_, i) => ({ created: "2024-01-02T03:04:05Z", created_by: `step ${i}` })),
  }));
  const configDigest = await putBlob(dir, config);
  const manifest = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: `sha256:${configDigest}`,
      size: config.length,
    },
    layers: descriptors,
  }));
  const manifestDigest = await putBlob(dir, manifest);
  return {
    manifest: manifestDigest,
    config: configDigest,
    blobs,
    diffIds,
    manifestSize: manifest.length,
  };
}

/** Writes `oci-layout` and an `index.json` listing `manifests` (descriptors). */
export async function writeIndex(dir: string, manifests: unknown[]): Promise<void> {
  await Deno.writeTextFile(
    join(dir, "oci-layout"),
    JSON.stringify({ imageLayoutVersion: "1.0.0" }),
  );
  await Deno.writeTextFile(
    join(dir, "index.json"),
    JSON.stringify({ schemaVersion: 2, manifests }),
  );
}

/** A manifest descriptor for an index, optionally named and with a platform. */
export function manifestDescriptor(
  layout: Layout,
  options: { name?: string; platform?: { os: string; architecture: string; variant?: string } } =
    {},
) {
  return {
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: `sha256:${layout.manifest}`,
    size: layout.manifestSize,
    ...(options.name ? { annotations: { "org.opencontainers.image.ref.name": options.name } } : {}),
    ...(options.platform ? { platform: options.platform } : {}),
  };
}

/** Tars the directory `dir` into `out` with GNU tar. */
export async function tarDir(dir: string, out: string): Promise<void> {
  const r = await new Deno.Command("tar", { args: ["-C", dir, "-cf", out, "."] }).output();
  if (r.code !== 0) throw new Error(new TextDecoder().decode(r.stderr));
}

/** Writes a docker-archive `manifest.json` next to a layout's blobs. */
export async function writeDockerManifest(dir: string, layout: Layout, tags: string[]) {
  await Deno.writeTextFile(
    join(dir, "manifest.json"),
    JSON.stringify([{
      Config: `blobs/sha256/${layout.config}`,
      RepoTags: tags,
      Layers: layout.blobs.map((b) => `blobs/sha256/${b}`),
    }]),
  );
}

/**
 * Writes a layout whose `index.json` names (`ref.name`) one nested index
 * with an arm64/v8 and an amd64 entry, in that order.
 */
export async function writeMultiPlatformLayout(
  dir: string,
  arm: Layout,
  amd: Layout,
  name: string,
): Promise<void> {
  const nested = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [
      manifestDescriptor(arm, { platform: { os: "linux", architecture: "arm64", variant: "v8" } }),
      manifestDescriptor(amd, { platform: { os: "linux", architecture: "amd64" } }),
    ],
  }));
  const digest = await putBlob(dir, nested);
  await writeIndex(dir, [{
    mediaType: "application/vnd.oci.image.index.v1+json",
    digest: `sha256:${digest}`,
    size: nested.length,
    annotations: { "org.opencontainers.image.ref.name": name },
  }]);
}
