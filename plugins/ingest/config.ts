/**
 * The image config and manifest Servin writes when an input has none (a
 * root filesystem): the seed's default runtime configuration, and
 * deterministic serialisations (the config's bytes are what the image ID
 * hashes).
 *
 * @module
 */

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
