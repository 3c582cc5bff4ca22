/**
 * The image model: the index record (seed-compatible field names), the OCI
 * image config it is derived from, content-addressed IDs, and how a name a
 * user typed resolves to an image.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { ServinError } from "./errors.ts";
import {
  DEFAULT_TAG,
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
  /** How the root filesystem was made (`tarball`, …). */
  rootfs_type: string;
  /** Directory of the topmost unpacked layer. */
  rootfs_path: string;
  /** Runtime configuration. */
  config: ImageConfig;
  /** Free-form string metadata: `source`, `original_path`, `comment`, … */
  metadata: Record<string, string>;
}

/** The default configuration of an imported root filesystem (the seed's). */
export const DEFAULT_CONFIG: Readonly<ImageConfig> = Object.freeze({
  env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
  cmd: ["/bin/sh"],
  entrypoint: [],
  working_dir: "/",
  user: "root",
  exposed_ports: {},
  labels: {},
});

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

/** Lowercase hex sha256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The first 12 characters of an ID. */
export function shortId(id: string): string {
  return id.slice(0, SHORT_ID_LENGTH);
}

/** Inputs of {@link buildOciConfig}. */
export interface OciConfigInput {
  /** Runtime configuration. */
  config: ImageConfig;
  /** Layer diff_ids, hex, lowest first. */
  diffIds: string[];
  /** Creation time. */
  created: Date;
  /** OCI architecture (`amd64`, `arm64`, …). */
  architecture: string;
  /** OCI os (`linux`, …). */
  os: string;
  /** History line of the newest layer. */
  createdBy: string;
  /** Commit message, if any. */
  comment?: string;
}

/**
 * Serialises an OCI image-spec config. Its bytes are what the image ID
 * hashes, so the output is deterministic for a given input.
 */
export function buildOciConfig(input: OciConfigInput): Uint8Array {
  const c = input.config;
  const created = input.created.toISOString();
  const runtime: Record<string, unknown> = {
    Env: c.env,
    Cmd: c.cmd,
    WorkingDir: c.working_dir,
    User: c.user,
  };
  if (c.entrypoint.length > 0) runtime.Entrypoint = c.entrypoint;
  if (Object.keys(c.exposed_ports).length > 0) runtime.ExposedPorts = c.exposed_ports;
  if (Object.keys(c.labels).length > 0) runtime.Labels = c.labels;
  const history: Record<string, unknown> = { created, created_by: input.createdBy };
  if (input.comment) history.comment = input.comment;
  const doc = {
    created,
    architecture: input.architecture,
    os: input.os,
    config: runtime,
    rootfs: { type: "layers", diff_ids: input.diffIds.map((d) => `sha256:${d}`) },
    history: [history],
  };
  return new TextEncoder().encode(JSON.stringify(doc));
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

/** Serialises an OCI image manifest for a config and its layers. */
export function buildOciManifest(config: Descriptor, layers: Descriptor[]): Uint8Array {
  const doc = { schemaVersion: 2, mediaType: MEDIA_TYPES.manifest, config, layers };
  return new TextEncoder().encode(JSON.stringify(doc));
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
 * import { resolveImage, type ImageRecord } from "./image.ts";
 * const images = [{ id: "ab".repeat(32), repo_tags: ["alpine:latest"] }] as ImageRecord[];
 * console.assert(resolveImage(images, "alpine") === images[0]);
 * console.assert(resolveImage(images, "abab") === images[0]);
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

/** Splits `repository:tag` for display; `<none>` for an untagged image. */
export function splitTag(tag: string): { repository: string; tag: string } {
  const slash = tag.lastIndexOf("/");
  const colon = tag.lastIndexOf(":");
  if (colon <= slash) return { repository: tag, tag: DEFAULT_TAG };
  return { repository: tag.slice(0, colon), tag: tag.slice(colon + 1) };
}
