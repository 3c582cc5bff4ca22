/**
 * The image config and manifest Servin writes when an input has none (a
 * root filesystem): the seed's default runtime configuration, and
 * deterministic serialisations (the config's bytes are what the image ID
 * hashes).
 *
 * @module
 */

import { ServinError } from "../../core/errors.ts";
import { type Descriptor, type ImageConfig, MEDIA_TYPES } from "../../core/image.ts";

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
 * A runtime configuration with what `index.json`'s seed format has no field
 * for (`import -c 'VOLUME …'`, `-c 'STOPSIGNAL …'`): those are written to the
 * OCI config only, where `inspect` reads them back.
 */
export interface BuiltConfig extends ImageConfig {
  /** Volumes, as OCI writes them (`"/data": {}`). */
  volumes?: Record<string, Record<string, never>>;
  /** Signal that stops the container (`SIGTERM`, `9`). */
  stop_signal?: string;
}

/** Inputs of {@link buildOciConfig}. */
export interface OciConfigInput {
  /** Runtime configuration. */
  config: BuiltConfig;
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

/** Serialises an OCI image-spec config, deterministically for a given input. */
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
  if (c.volumes && Object.keys(c.volumes).length > 0) runtime.Volumes = c.volumes;
  if (c.stop_signal) runtime.StopSignal = c.stop_signal;
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

/** Serialises an OCI image manifest for a config and its layers. */
export function buildOciManifest(config: Descriptor, layers: Descriptor[]): Uint8Array {
  const doc = { schemaVersion: 2, mediaType: MEDIA_TYPES.manifest, config, layers };
  return new TextEncoder().encode(JSON.stringify(doc));
}

/** JSON with every object's keys in bytewise order: the same value always gives the same bytes. */
export function canonicalJson(value: unknown): Uint8Array {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sorted);
    if (!v || typeof v !== "object") return v;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(v).sort()) {
      const item = (v as Record<string, unknown>)[key];
      if (item !== undefined) out[key] = sorted(item);
    }
    return out;
  };
  return new TextEncoder().encode(JSON.stringify(sorted(value)));
}

/** One step of an image's history, as the OCI config keeps it. */
export interface StepHistory {
  /** What made the step (`/bin/sh -c make`, `servin commit`). */
  created_by?: string;
  /** Commit message. */
  comment?: string;
  /** Author. */
  author?: string;
}

/** Inputs of {@link buildAppendedConfig}. */
export interface AppendedConfigInput {
  /** The base image's OCI config (`{}` for `scratch`). */
  base: Record<string, unknown>;
  /** The new `config` object (Env, Cmd, …), as Docker writes it. */
  config: Record<string, unknown>;
  /** The new layer's diff_id (hex), or undefined for an empty step. */
  diffId?: string;
  /** The step's history entry. */
  history: StepHistory;
  /** Creation time of the image and of the step. */
  created: Date;
  /** Platform of a `scratch` image. */
  platform: { os: string; architecture: string };
}

/** RFC 3339 in UTC, without a fraction when the time is whole seconds (as Go writes it). */
export function rfc3339(date: Date): string {
  if (Number.isNaN(date.getTime())) {
    throw new ServinError("invalid-argument", "Invalid creation time: not a date");
  }
  return date.toISOString().replace(/\.000Z$/, "Z");
}

/**
 * The OCI config of `base` plus one step: its platform, its diff_ids and
 * history with the step's appended (`empty_layer` when it adds no layer),
 * the given runtime `config`, and `created`/`author` of the step; other
 * fields of the base are not carried over. Canonical ({@link canonicalJson}),
 * so the same inputs give the same image ID.
 */
export function buildAppendedConfig(input: AppendedConfigInput): Uint8Array {
  const { base, history } = input;
  const created = rfc3339(input.created);
  const rootfs = base.rootfs as { diff_ids?: unknown } | undefined;
  const diffIds = Array.isArray(rootfs?.diff_ids) ? [...rootfs.diff_ids] : [];
  if (input.diffId) diffIds.push(`sha256:${input.diffId}`);
  const step = {
    created,
    created_by: history.created_by || undefined,
    author: history.author || undefined,
    comment: history.comment || undefined,
    empty_layer: input.diffId ? undefined : true,
  };
  const platform = base.architecture ? base : input.platform;
  return canonicalJson({
    created,
    author: history.author || undefined,
    architecture: platform.architecture,
    variant: base.variant,
    os: platform.os,
    "os.version": base["os.version"],
    "os.features": base["os.features"],
    config: input.config,
    rootfs: { type: "layers", diff_ids: diffIds },
    history: [...Array.isArray(base.history) ? base.history : [], step],
  });
}
