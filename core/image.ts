/**
 * The image model: the index record (seed-compatible field names), the OCI
 * image config it is derived from, content-addressed IDs, and how a name a
 * user typed resolves to an image.
 *
 * @module
 */

import { ServinError } from "./errors.ts";
import {
  formatRegistryReference,
  parseRegistryReference,
  tryNormalizeReference,
} from "./reference.ts";

/** Runtime configuration of an image, as kept in `index.json`. */
export interface ImageConfig {
  /** Environment, `KEY=value` entries. */
  env: string[];
  /** Default command. */
  cmd: string[];
  /** Entrypoint; empty when none. */
  entrypoint: string[];
  /** Working directory of the process. */
  working_dir: string;
  /** User (name, uid or uid:gid). */
  user: string;
  /** Exposed ports, as in the seed (`"80/tcp": {}`). */
  exposed_ports: Record<string, Record<string, never>>;
  /** Labels. */
  labels: Record<string, string>;
}

/** One image in `index.json`. */
export interface ImageRecord {
  /** sha256 of the image config bytes, 64 lowercase hex characters. */
  id: string;
  /** Tags, `repository:tag`. */
  repo_tags: string[];
  /** Creation time, RFC 3339. */
  created: string;
  /** Bytes of unpacked content over all layers. */
  size: number;
  /** Layer diff_ids (hex, without `sha256:`), lowest first. */
  layers: string[];
  /** Unpacked bytes of each layer, in the order of `layers`. */
  layer_sizes?: number[];
  /** Digest (hex) of the image's manifest blob. */
  manifest?: string;
  /** Every blob the image holds (config, manifest, layer blobs), hex digests. */
  blobs?: string[];
  /** Other compressions of its layers that `push` made and kept: diff_id → compression → blob. */
  variants?: Record<string, Record<string, string>>;
  /** How the root filesystem was made (`tarball`, …). */
  rootfs_type: string;
  /** Directory of the topmost unpacked layer. */
  rootfs_path: string;
  /** Runtime configuration. */
  config: ImageConfig;
  /** Free-form string metadata: `source`, `original_path`, `comment`, … */
  metadata: Record<string, string>;
}

/**
 * Adds `extra` (`KEY=value`) to `base`; an extra variable replaces the base
 * one of the same name in place, as Docker's `ENV` does.
 */
export function mergeEnv(base: readonly string[], extra: readonly string[]): string[] {
  const key = (e: string) => e.includes("=") ? e.slice(0, e.indexOf("=")) : e;
  const out = [...base];
  for (const e of extra) {
    const i = out.findIndex((b) => key(b) === key(e));
    if (i >= 0) out[i] = e;
    else out.push(e);
  }
  return out;
}

/** Length of an ID as shown in tables. */
export const SHORT_ID_LENGTH = 12;
/** Shortest ID prefix accepted where an image is named. */
export const MIN_PREFIX_LENGTH = 4;

/** The first 12 characters of an ID. */
export function shortId(id: string): string {
  return id.slice(0, SHORT_ID_LENGTH);
}

/** OCI media types Servin writes. */
export const MEDIA_TYPES = {
  manifest: "application/vnd.oci.image.manifest.v1+json",
  index: "application/vnd.oci.image.index.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: "application/vnd.oci.image.layer.v1.tar",
} as const;

/** An OCI content descriptor. */
export interface Descriptor {
  /** Media type. */
  mediaType: string;
  /** `sha256:<hex>`. */
  digest: string;
  /** Byte count. */
  size: number;
  /** Annotations. */
  annotations?: Record<string, string>;
  /** Platform, in an index. */
  platform?: { architecture: string; os: string; variant?: string };
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

/** The index's view of an OCI image config (`config.Env`, `Cmd`, …). */
export function configSummary(oci: unknown): ImageConfig {
  const c = (oci as { config?: Record<string, unknown> } | undefined)?.config ?? {};
  const labels = c.Labels && typeof c.Labels === "object" ? c.Labels as Record<string, string> : {};
  const ports = c.ExposedPorts && typeof c.ExposedPorts === "object"
    ? c.ExposedPorts as Record<string, Record<string, never>>
    : {};
  return {
    env: stringList(c.Env),
    cmd: stringList(c.Cmd),
    entrypoint: stringList(c.Entrypoint),
    working_dir: typeof c.WorkingDir === "string" && c.WorkingDir ? c.WorkingDir : "/",
    user: typeof c.User === "string" ? c.User : "",
    exposed_ports: { ...ports },
    labels: { ...labels },
  };
}

const HEX = /^[0-9a-f]+$/;

/**
 * Finds the image a user means by `name`: a tag (`:latest` implied), a full
 * ID (with or without `sha256:`), or a unique ID prefix of at least 4 hex
 * characters. A tag wins over an ID prefix, as in Docker.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveImage, type ImageRecord } from "./image.ts";
 * const images = [{ id: "ab".repeat(32), repo_tags: ["alpine:latest"] }] as ImageRecord[];
 * assert(resolveImage(images, "alpine") === images[0]);
 * assert(resolveImage(images, "abab") === images[0]);
 * ```
 */
export function resolveImage(images: readonly ImageRecord[], name: string): ImageRecord {
  const found = findImage(images, name);
  if (!found) throw new ServinError("not-found", `No such image: ${name}`);
  return found;
}

/** Like {@link resolveImage} but returns `undefined` when nothing matches. */
export function findImage(images: readonly ImageRecord[], name: string): ImageRecord | undefined {
  const byTag = tryNormalizeReference(name);
  if (byTag) {
    const tagged = images.find((img) => img.repo_tags.includes(byTag));
    if (tagged) return tagged;
    // `alpine` also names what a pull stored as `docker.io/library/alpine:latest`.
    const full = fullTagOf(name);
    const pulled = full && images.find((img) => img.repo_tags.includes(full));
    if (pulled) return pulled;
  }
  const hex = name.startsWith("sha256:") ? name.slice(7) : name;
  if (hex.length < MIN_PREFIX_LENGTH || !HEX.test(hex)) return undefined;
  const matches = images.filter((img) => img.id.startsWith(hex));
  if (matches.length > 1) {
    const ids = matches.map((img) => shortId(img.id)).join(", ");
    throw new ServinError(
      "ambiguous",
      `Image ID prefix "${name}" is ambiguous: it matches ${ids}`,
    );
  }
  return matches[0];
}

function fullTagOf(name: string): string | undefined {
  try {
    const ref = parseRegistryReference(name);
    return ref.tag ? formatRegistryReference(ref) : undefined;
  } catch {
    return undefined;
  }
}

/** Limits on what comes from outside, enforced while streaming. */
export interface Limits {
  /** Most entries a layer or archive may hold. */
  maxEntries: number;
  /** Most bytes of one PAX or GNU long-name header. */
  maxHeaderBytes: number;
  /** Most bytes of a manifest, index or config read whole. */
  maxDocumentBytes: number;
  /** Most decompressed bytes of one layer (also at most `layerRatio` × its compressed size, when larger). */
  maxLayerBytes: number;
  /** Decompressed bytes allowed per compressed byte, when that allows more than `maxLayerBytes`. */
  layerRatio: number;
}

/** Default limits (containerd's 4 MiB for documents; 64 GiB or 100× for layers). */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxEntries: 1_000_000,
  maxHeaderBytes: 1024 * 1024,
  maxDocumentBytes: 4 * 1024 * 1024,
  maxLayerBytes: 64 * 1024 ** 3,
  layerRatio: 100,
});
