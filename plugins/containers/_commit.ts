/**
 * `commit`: a container's changes to its image stored as a new image, with
 * Docker's semantics. The config is the image's with what the container
 * runs (its command, the environment and labels it was given, its working
 * directory and user), then the `--change` instructions; the layer is the
 * snapshotter's canonical diff, left out when the container changed
 * nothing (the history entry then says `empty_layer`, as Docker's does);
 * the image is stored through `servin.append`, whose hooks see `commit`.
 * Imported by the containers service when a commit starts.
 *
 * @module
 */

import type { CommitOptions, ContainerRecord, Servin } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import { findImage, type ImageRecord, mergeEnv, shortId } from "../../core/image.ts";
import { normalizeReference } from "../../core/reference.ts";
import { applyChanges } from "../ingest/changes.ts";
import type { BuiltConfig } from "../ingest/config.ts";

/** What a commit needs of the containers service. */
export interface CommitDeps {
  /** The facade (the image store, `append`). */
  servin: Servin;
  /** The container's changes as a layer tar. */
  diff(): Promise<ReadableStream<Uint8Array>>;
  /** Freezes or thaws the container's processes. */
  pause(paused: boolean): Promise<void>;
}

/** Docker's PATH, which a process gets when its image sets none (not the image's own). */
const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** OCI config keys of the fields `--change` sets, by their name in {@link BuiltConfig}. */
const KEYS: Record<string, string> = {
  env: "Env",
  cmd: "Cmd",
  entrypoint: "Entrypoint",
  working_dir: "WorkingDir",
  user: "User",
  exposed_ports: "ExposedPorts",
  labels: "Labels",
  volumes: "Volumes",
  stop_signal: "StopSignal",
};

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

/**
 * The image's `config` with what the container was run with: its command
 * (after the image's entrypoint, when it starts with it), the environment
 * it was given (not what the runtime adds: HOSTNAME, TERM, the default
 * PATH), its labels, working directory, user and stop signal.
 */
export function containerConfig(
  image: Record<string, unknown>,
  c: ContainerRecord,
): Record<string, unknown> {
  const config = structuredClone(image);
  const args = c.process.args;
  // Records made before the entrypoint was kept: the image's, when the arguments begin with it.
  const imageEntrypoint = strings(config.Entrypoint);
  const entrypoint = c.entrypoint ??
    (imageEntrypoint.every((w, i) => args[i] === w) ? imageEntrypoint : []);
  if (entrypoint.length) config.Entrypoint = [...entrypoint];
  else delete config.Entrypoint;
  if (args.length > entrypoint.length) config.Cmd = args.slice(entrypoint.length);
  else delete config.Cmd;
  const env = strings(config.Env);
  const added = [`HOSTNAME=${c.hostname}`, ...c.process.tty ? ["TERM=xterm"] : []];
  if (!env.some((e) => e.startsWith("PATH="))) added.push(DEFAULT_PATH);
  const given = c.process.env.filter((e) => !env.includes(e) && !added.includes(e));
  if (given.length) config.Env = mergeEnv(env, given);
  const workdir = typeof config.WorkingDir === "string" && config.WorkingDir || "/";
  if (c.process.cwd !== workdir) config.WorkingDir = c.process.cwd;
  const user = typeof config.User === "string" && config.User || "root";
  if (c.process.user !== user) config.User = c.process.user;
  if (c.labels && Object.keys(c.labels).length) {
    config.Labels = { ...config.Labels as Record<string, string>, ...c.labels };
  }
  const stop = c.host?.stop_signal;
  if (stop && stop !== config.StopSignal) config.StopSignal = stop;
  return config;
}

/**
 * Applies Docker's `--change` instructions to an OCI `config`, in order;
 * as in a Dockerfile, `ENTRYPOINT` clears the command unless a `CMD` came
 * before it.
 */
export function applyConfigChanges(config: Record<string, unknown>, changes: string[]): void {
  const built: Record<string, unknown> = {};
  for (const [field, key] of Object.entries(KEYS)) {
    if (config[key] !== undefined && config[key] !== null) {
      built[field] = structuredClone(config[key]);
    }
  }
  const before = JSON.stringify(built);
  let cmdSet = false;
  const cleared = new Set<string>();
  for (const change of changes) {
    applyChanges(built as Partial<BuiltConfig>, [change]);
    const instruction = /^\s*([A-Za-z]+)/.exec(change)?.[1]?.toUpperCase();
    if (instruction === "CMD") cmdSet = true, cleared.delete("cmd");
    if (instruction === "ENTRYPOINT" && !cmdSet) delete built.cmd, cleared.add("cmd");
  }
  if (JSON.stringify(built) === before && cleared.size === 0) return;
  for (const [field, key] of Object.entries(KEYS)) {
    if (cleared.has(field)) delete config[key];
    else if (built[field] !== undefined) config[key] = built[field];
  }
}

/**
 * `stream` unless it is an empty tar (the end-of-archive marker alone),
 * which a commit of an unchanged container stores as no layer.
 */
async function unlessEmpty(
  stream: ReadableStream<Uint8Array>,
): Promise<ReadableStream<Uint8Array> | undefined> {
  const reader = stream.getReader();
  const head: Uint8Array[] = [];
  let size = 0;
  let done = false;
  while (!done && size <= 1024) {
    const next = await reader.read();
    if (next.done) done = true;
    else head.push(next.value), size += next.value.length;
  }
  if (done && size === 1024 && head.every((c) => c.every((b) => b === 0))) return undefined;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of head) controller.enqueue(chunk);
      if (done) controller.close();
    },
    async pull(controller) {
      const next = await reader.read();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

/** Commits container `c` (see the module's notes). */
export async function commitContainer(
  c: ContainerRecord,
  options: CommitOptions,
  deps: CommitDeps,
): Promise<ImageRecord> {
  const { servin } = deps;
  // Everything that can be refused is, before the container is paused.
  const reference = options.reference === undefined
    ? undefined
    : normalizeReference(options.reference);
  let base: ImageRecord | undefined;
  let oci: { config?: Record<string, unknown> } = {};
  if (c.image_id) {
    base = findImage(await servin.store.index.list(), c.image_id);
    if (!base) {
      throw new ServinError(
        "not-found",
        `Cannot commit container ${c.name}: its image ${shortId(c.image_id)} was removed`,
      );
    }
    oci = JSON.parse(await new Response(await servin.store.content.read(base.id)).text());
  }
  const config = containerConfig(oci.config ?? {}, c);
  applyConfigChanges(config, options.changes ?? []);
  const pause = options.pause !== false && c.status === "running";
  if (pause) await deps.pause(true);
  let image: ImageRecord;
  try {
    image = await servin.append({
      base: base?.id,
      layer: await unlessEmpty(await deps.diff()),
      config,
      history: {
        created_by: c.process.args.join(" "),
        comment: options.message,
        author: options.author,
      },
      created: options.created ?? new Date(),
      reference,
      verb: "commit",
    });
  } catch (err) {
    // The commit's failure is the one to report; the container runs on all the same.
    if (pause) await deps.pause(false).catch(() => {});
    throw err;
  }
  if (pause) await deps.pause(false);
  return image;
}
