/**
 * Containers from images: create (snapshot + OCI bundle), start on an OCI
 * runtime, list, inspect, remove and prune. Knows snapshotters and runtimes
 * only through their contracts.
 *
 * @module
 */

import { join } from "node:path";
import {
  checkContainerName,
  type ContainerRecord,
  newContainerId,
  randomName,
  resolveContainer,
} from "./container.ts";
import { ServinError } from "./errors.ts";
import { DEFAULT_CONFIG, findImage, type ImageRecord, mergeEnv, shortId } from "./image.ts";
import type {
  ContainerRuntime,
  ImageStore,
  Platform,
  RunStdio,
  Snapshotter,
  StagedDir,
} from "./kinds.ts";
import type { Registry } from "./registry.ts";

/** Options of {@link Containers.create}. */
export interface CreateOptions {
  /** Unique name; a random one when absent. */
  name?: string;
  /** Command replacing the image's cmd (the entrypoint stays). */
  command?: string[];
  /** Extra environment, `KEY=value`, over the image's. */
  env?: string[];
  /** Working directory (absolute). */
  workdir?: string;
  /** User: `name`, `uid`, `name:group` or `uid:gid`. */
  user?: string;
  /** Snapshotter name; `SERVIN_SNAPSHOTTER`, then the first available one. */
  snapshotter?: string;
  /** Runtime name; `SERVIN_RUNTIME`, then the first installed one. */
  runtime?: string;
  /** Allocate a terminal. */
  tty?: boolean;
  /** Keep stdin open. */
  interactive?: boolean;
  /** Remove after the process exits. */
  autoRemove?: boolean;
  /** Will run detached, output to the log. */
  detached?: boolean;
  /** `host` shares the host's network namespace. */
  network?: "none" | "host";
  /** Fail instead of building a basic rootfs when the image is missing. */
  noFallback?: boolean;
}

/** Options of {@link Containers.start}. */
export interface StartOptions {
  /** Pass the caller's stdin to the process. */
  stdin?: boolean;
  /** Send the output to the container's log instead of the caller's stdout and stderr. */
  log?: boolean;
}

/** A container record with its live status. */
export type ContainerView = ContainerRecord;

const RUN_LOCK = "run.lock";
const LOG = "container.log";

/** Container operations over the store and the registered snapshotters and runtimes. */
export class Containers {
  #registry: Registry;
  #store: ImageStore;
  #platform: Platform;
  #warn: (message: string) => void;

  /** Made by `Servin.open`; use `servin.containers`. */
  constructor(
    registry: Registry,
    store: ImageStore,
    platform: Platform,
    warn: (message: string) => void,
  ) {
    this.#registry = registry;
    this.#store = store;
    this.#platform = platform;
    this.#warn = warn;
  }

  /** The snapshotter named `name` (or `SERVIN_SNAPSHOTTER`), else the first available one. */
  snapshotter(name = Deno.env.get("SERVIN_SNAPSHOTTER") || undefined): Snapshotter {
    const all = this.#registry.snapshotters;
    if (name) {
      const found = all.find((s) => s.name === name);
      if (!found) {
        throw new ServinError(
          "invalid-argument",
          `Unknown snapshotter "${name}" (available: ${all.map((s) => s.name).join(", ")})`,
        );
      }
      const why = found.unavailable(this.#platform);
      if (why) {
        throw new ServinError("unsupported", `The ${name} snapshotter cannot be used: ${why}`);
      }
      return found;
    }
    const first = all.find((s) => !s.unavailable(this.#platform));
    if (!first) throw new ServinError("unsupported", "No snapshotter is available on this host");
    return first;
  }

  /** The runtime named `name` (or `SERVIN_RUNTIME`), else the first installed one. */
  runtime(name = Deno.env.get("SERVIN_RUNTIME") || undefined): ContainerRuntime {
    const all = this.#registry.runtimes;
    if (all.length === 0) throw new ServinError("unsupported", "No OCI runtime plugin is loaded");
    if (name) {
      const found = all.find((r) => r.name === name);
      if (!found) {
        throw new ServinError(
          "invalid-argument",
          `Unknown runtime "${name}" (known: ${all.map((r) => r.name).join(", ")})`,
        );
      }
      return found;
    }
    return all.find((r) => r.find()) ?? all[0]!;
  }

  /** Creates a container from `image` without starting it. */
  async create(image: string, options: CreateOptions = {}): Promise<ContainerRecord> {
    if (options.name !== undefined) checkContainerName(options.name);
    if (options.workdir !== undefined && !options.workdir.startsWith("/")) {
      throw new ServinError(
        "invalid-argument",
        `Invalid working directory "${options.workdir}": must be absolute`,
      );
    }
    const found = findImage(await this.#store.list(), image);
    if (!found && options.noFallback) {
      throw new ServinError("not-found", `No such image: ${image}`);
    }
    const early = await this.#store.listContainers();
    if (options.name && early.some((c) => c.name === options.name)) throw nameTaken(options.name);
    const snapshotter = found ? this.snapshotter(options.snapshotter) : this.snapshotter("copy");
    const runtime = this.runtime(options.runtime);
    if (!found) {
      this.#warn(`image "${image}" not found locally: using a basic root filesystem`);
    }
    const staged = await this.#store.stage("ctr-");
    try {
      const layers = found ? found.layers.map((l) => this.#store.layerPath(l)) : [];
      if (found) await snapshotter.prepare(staged.path, layers, this.#platform);
      else await this.#basicRootfs(staged);
      const roots = found ? [...layers].reverse() : [join(staged.path, "rootfs")];
      const record = await this.#record(found, image, options, snapshotter.name, runtime.name);
      const ids = await runtime.resolveUser(record.process.user, roots);
      Object.assign(record.process, ids);
      await runtime.writeBundle({ ...record, bundle: staged.path });
      return await this.#store.transaction(async (tx) => {
        if (tx.containers.some((c) => c.name === record.name)) throw nameTaken(record.name);
        record.bundle = await tx.commitContainer(staged, record.id);
        tx.containers.push(record);
        return structuredClone(record);
      });
    } finally {
      await this.#store.discard(staged);
    }
  }

  async #basicRootfs(staged: StagedDir): Promise<void> {
    if (!this.#platform.basicRootfs) {
      throw new ServinError(
        "unsupported",
        `A basic root filesystem cannot be built on ${this.#platform.name}`,
      );
    }
    await this.#platform.basicRootfs(join(staged.path, "rootfs"));
  }

  async #record(
    image: ImageRecord | undefined,
    name: string,
    options: CreateOptions,
    snapshotter: string,
    runtime: string,
  ): Promise<ContainerRecord> {
    const config = image?.config;
    const entrypoint = config?.entrypoint ?? [];
    const command = options.command?.length ? options.command : config?.cmd ?? ["/bin/sh"];
    const args = [...entrypoint, ...command];
    if (args.length === 0) {
      throw new ServinError("invalid-argument", `No command given and image "${name}" has none`);
    }
    const taken = new Set((await this.#store.listContainers()).map((c) => c.name));
    const id = newContainerId();
    // As Docker does, a process without PATH gets the usual one.
    const imageEnv = config?.env ?? [];
    const baseEnv = imageEnv.some((e) => e.startsWith("PATH="))
      ? imageEnv
      : [...DEFAULT_CONFIG.env, ...imageEnv];
    const containerName = options.name ?? randomName(taken);
    return {
      id,
      name: containerName,
      image: name,
      image_id: image?.id ?? "",
      layers: image && snapshotter !== "copy" ? [...image.layers] : [],
      created: new Date().toISOString(),
      status: "created",
      snapshotter,
      runtime,
      bundle: "",
      process: {
        args,
        env: mergeEnv(baseEnv, options.env ?? []),
        cwd: options.workdir ?? (config?.working_dir || "/"),
        user: options.user ?? (config?.user || "root"),
        uid: 0,
        gid: 0,
        additional_gids: [],
        tty: options.tty ?? false,
        interactive: options.interactive ?? false,
      },
      hostname: containerName.slice(0, 63),
      network: options.network ?? "none",
      auto_remove: options.autoRemove ?? false,
      detached: options.detached ?? false,
      fallback: !image,
    };
  }

  /**
   * Starts a created or exited container and waits for its process; returns
   * its exit code. The container is marked running for exactly as long as
   * this call holds its run lock.
   */
  async start(name: string, options: StartOptions = {}): Promise<number> {
    if (this.#platform.cannotRun) {
      throw new ServinError("unsupported", `Cannot run containers: ${this.#platform.cannotRun}`);
    }
    const container = resolveContainer(await this.#store.listContainers(), name);
    const runtime = this.runtime(container.runtime);
    if (!runtime.find()) {
      throw new ServinError(
        "unsupported",
        `No OCI runtime found: install runc or crun (looked for "${runtime.name}" on PATH)`,
      );
    }
    const lock = await this.#lockRun(container);
    let record: ContainerRecord | undefined;
    try {
      record = await this.#store.transaction((tx) => {
        const c = tx.containers.find((x) => x.id === container.id);
        if (!c) throw new ServinError("not-found", `No such container: ${name}`);
        c.status = "running";
        c.started_at = new Date().toISOString();
        delete c.exit_code;
        delete c.finished_at;
        return structuredClone(c);
      });
      const snapshotter = this.#snapshotterOf(record);
      const stdio: RunStdio = {
        stdin: options.stdin ? "inherit" : "null",
        output: options.log ? { log: join(record.bundle, LOG) } : "inherit",
      };
      let code = 255;
      try {
        await snapshotter.mount(record.bundle, this.#layerDirs(record), this.#platform);
        code = await runtime.run(record, stdio);
      } finally {
        await snapshotter.unmount(record.bundle, this.#platform);
        await this.#finish(record.id, code);
      }
      return code;
    } finally {
      lock.close();
      if (record?.auto_remove) await this.remove(record.id, { force: true });
    }
  }

  async #lockRun(container: ContainerRecord): Promise<Deno.FsFile> {
    const lock = await Deno.open(join(container.bundle, RUN_LOCK), { write: true, create: true });
    if (!(await lock.tryLock(true))) {
      lock.close();
      throw new ServinError(
        "conflict",
        `Container ${container.name} is already running`,
      );
    }
    return lock;
  }

  async #finish(id: string, code: number): Promise<void> {
    await this.#store.transaction((tx) => {
      const c = tx.containers.find((x) => x.id === id);
      if (!c) return;
      c.status = "exited";
      c.exit_code = code;
      c.finished_at = new Date().toISOString();
    });
  }

  #snapshotterOf(record: ContainerRecord): Snapshotter {
    const found = this.#registry.snapshotters.find((s) => s.name === record.snapshotter);
    if (!found) {
      throw new ServinError(
        "unsupported",
        `Container ${record.name} needs the "${record.snapshotter}" snapshotter, which is not loaded`,
      );
    }
    return found;
  }

  #layerDirs(record: ContainerRecord): string[] {
    return record.layers.map((l) => this.#store.layerPath(l));
  }

  /** True while some process holds the container's run lock. */
  async #isRunning(record: ContainerRecord): Promise<boolean> {
    let lock: Deno.FsFile;
    try {
      lock = await Deno.open(join(record.bundle, RUN_LOCK), { write: true });
    } catch {
      return false;
    }
    try {
      return !(await lock.tryLock(true));
    } finally {
      lock.close();
    }
  }

  /** Containers with their live status (`dead` when marked running but nobody runs them). */
  async list(): Promise<ContainerView[]> {
    const out: ContainerView[] = [];
    for (const c of await this.#store.listContainers()) {
      const running = c.status === "running" && await this.#isRunning(c);
      out.push(c.status === "running" && !running ? { ...c, status: "dead" } : c);
    }
    return out.sort((a, b) => b.created.localeCompare(a.created));
  }

  /** The container `name` (name, ID or unique ID prefix) with its live status. */
  async get(name: string): Promise<ContainerView> {
    const record = resolveContainer(await this.#store.listContainers(), name);
    return (await this.list()).find((c) => c.id === record.id)!;
  }

  /** Path of a detached container's log. */
  async logPath(name: string): Promise<string> {
    const c = await this.get(name);
    return join(c.bundle, LOG);
  }

  /** Removes a container; a running one needs `force`, which kills it first. */
  async remove(name: string, options: { force?: boolean } = {}): Promise<ContainerRecord> {
    const container = await this.get(name);
    if (container.status === "running") {
      if (!options.force) {
        throw new ServinError(
          "conflict",
          `Cannot remove running container ${container.name}: stop it first or use -f`,
        );
      }
      await this.runtime(container.runtime).kill(container.id, "KILL").catch(() => {});
      for (let i = 0; i < 200 && await this.#isRunning(container); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      if (await this.#isRunning(container)) {
        throw new ServinError("conflict", `Container ${container.name} did not stop`);
      }
    }
    await this.#unmount(container);
    const removed = await this.#store.transaction((tx) => {
      const i = tx.containers.findIndex((c) => c.id === container.id);
      if (i < 0) return undefined;
      return tx.containers.splice(i, 1)[0];
    });
    if (!removed) throw new ServinError("not-found", `No such container: ${name}`);
    await this.#store.removeTree(container.bundle);
    return removed;
  }

  async #unmount(container: ContainerRecord): Promise<void> {
    const snapshotter = this.#registry.snapshotters.find((s) => s.name === container.snapshotter);
    await snapshotter?.unmount(container.bundle, this.#platform);
  }

  /** Removes every container that is not running; returns their records. */
  async prune(): Promise<ContainerRecord[]> {
    const removed: ContainerRecord[] = [];
    for (const c of await this.list()) {
      if (c.status === "running") continue;
      removed.push(await this.remove(c.id, { force: true }));
    }
    return removed;
  }

  /** Short description of the containers using image `id`, for refusals. */
  static usersOf(containers: readonly ContainerRecord[], id: string): string[] {
    return containers.filter((c) => c.image_id === id).map((c) => `${c.name} (${shortId(c.id)})`);
  }
}

function nameTaken(name: string): ServinError {
  return new ServinError("already-exists", `The container name "${name}" is already in use`);
}
