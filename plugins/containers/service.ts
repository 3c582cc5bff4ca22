/**
 * The containers service: create (lease the image's layers, snapshot them,
 * write an OCI bundle), start on an OCI runtime, list, inspect, remove and
 * prune. Records live in `<root>/containers/index.json` under the service's
 * own lock; bundles in `<root>/containers/<id>/`; work in `<root>/tmp/`.
 * Snapshotters and runtimes are reached only through their contracts, the
 * image store only through `servin.store`.
 *
 * @module
 */

import { join } from "node:path";
import type {
  ContainerContext,
  ContainerRecord,
  Containers,
  CreateOptions,
  StartOptions,
} from "../../core/api.ts";
import { isServinError, ServinError } from "../../core/errors.ts";
import { findImage, type ImageRecord, mergeEnv, shortId } from "../../core/image.ts";
import type { ContainerRuntime, Platform, RunStdio, Snapshotter, Store } from "../../core/kinds.ts";
import { resolveUser } from "../runtime/user.ts";
import { IndexFile, isStaged, removeTree, stage, sweepStaging } from "../storage/fs.ts";
import {
  checkContainerName,
  checkContainerRecord,
  newContainerId,
  randomName,
  resolveContainer,
} from "./model.ts";

const RUN_LOCK = "run.lock";
const LOG = "container.log";
/** Staging of a container being created: `ctr-<id>`, its lock held until its record is written. */
const CREATE_PREFIX = "ctr-";
/** Staging of a bundle being deleted (a name no container ID can take). */
const REMOVE_PREFIX = "ctr-rm-";
/** Docker's PATH for a process whose image sets none. */
const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Owner name of a container's lease in the image index. */
const LEASE_PREFIX = "container:";

function leaseOwner(id: string): string {
  return `${LEASE_PREFIX}${id}`;
}

/** The built-in {@link Containers}: made by the containers plugin's `open`. */
export class ContainerService implements Containers {
  #ctx: ContainerContext;
  #dir: string;
  #tmp: string;
  #index: IndexFile<ContainerRecord>;
  #ready?: Promise<void>;

  /** The service over `context.root`; nothing is read or made until it is used. */
  constructor(context: ContainerContext) {
    this.#ctx = context;
    this.#dir = join(context.root, "containers");
    this.#tmp = join(context.root, "tmp");
    const dir = this.#dir;
    this.#index = new IndexFile(join(dir, "index.json"), join(dir, "index.lock"), (v, where) => {
      const record = checkContainerRecord(v, where);
      // The bundle is where the ID says, whatever the record claims.
      record.bundle = join(dir, record.id);
      return record;
    }, { notice: context.warn });
  }

  // The facade may still be opening when this service is made: ask it late.
  get #platform(): Platform {
    return this.#ctx.servin.platform;
  }

  get #store(): Store {
    return this.#ctx.servin.store;
  }

  #prepare(): Promise<void> {
    this.#ready ??= (async () => {
      try {
        await Deno.mkdir(this.#ctx.root, { recursive: true, mode: 0o711 });
        await Deno.mkdir(this.#dir, { recursive: true, mode: 0o700 });
        await Deno.mkdir(this.#tmp, { recursive: true, mode: 0o700 });
      } catch (err) {
        this.#ready = undefined;
        throw new ServinError(
          "invalid-argument",
          `Cannot use "${this.#ctx.root}" as the Servin root: ${
            err instanceof Error ? err.message : err
          }`,
        );
      }
    })();
    return this.#ready;
  }

  /**
   * Changes the records under the index lock. A bundle directory that the
   * committed index does not name is what a crash between a record's removal
   * and its bundle's deletion left (creation renames and records under this
   * lock): it goes first.
   */
  async #transaction<R>(fn: (records: ContainerRecord[]) => R | Promise<R>): Promise<R> {
    await this.#prepare();
    return await this.#index.transaction(async (records) => {
      const ids = new Set(records.map((c) => c.id));
      for await (const e of Deno.readDir(this.#dir)) {
        if (e.isDirectory && !ids.has(e.name)) await removeTree(join(this.#dir, e.name));
      }
      return await fn(records);
    });
  }

  /** The snapshotter named `name`, else the default one, else the first available one. */
  #snapshotter(name?: string): Snapshotter {
    const all = this.#ctx.kinds.all("snapshotter");
    const wanted = name || this.#ctx.defaults.snapshotter || undefined;
    if (wanted) {
      const found = all.find((s) => s.name === wanted);
      if (!found) {
        throw new ServinError(
          "invalid-argument",
          `Unknown snapshotter "${wanted}" (available: ${all.map((s) => s.name).join(", ")})`,
        );
      }
      const why = found.unavailable(this.#platform);
      if (why) {
        throw new ServinError("unsupported", `The ${wanted} snapshotter cannot be used: ${why}`);
      }
      return found;
    }
    const first = all.find((s) => !s.unavailable(this.#platform));
    if (!first) throw new ServinError("unsupported", "No snapshotter is available on this host");
    return first;
  }

  /** The runtime named `name`, else the default one, else the first installed one. */
  #runtime(name?: string): ContainerRuntime {
    const all = this.#ctx.kinds.all("runtime");
    if (all.length === 0) throw new ServinError("unsupported", "No OCI runtime plugin is loaded");
    const wanted = name || this.#ctx.defaults.runtime || undefined;
    if (wanted) {
      const found = all.find((r) => r.name === wanted);
      if (!found) {
        throw new ServinError(
          "invalid-argument",
          `Unknown runtime "${wanted}" (known: ${all.map((r) => r.name).join(", ")})`,
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
    await this.#prepare();
    const taken = new Set((await this.#index.read()).map((c) => c.name));
    if (options.name && taken.has(options.name)) throw nameTaken(options.name);
    const runtime = this.#runtime(options.runtime);
    const id = newContainerId();
    await sweepStaging(this.#tmp, [CREATE_PREFIX]);
    // The staging lock is taken before the lease and dropped after the
    // record is written, so a lease without a record and without a live
    // staging is one a crash left (see #reconcile).
    const staging = await stage(this.#tmp, `${CREATE_PREFIX}${id}`);
    const bundle = join(this.#dir, id);
    let leased = false;
    let made: ContainerRecord;
    try {
      const found = await this.#lease(image, id);
      leased = found !== undefined;
      if (!found && options.noFallback) {
        throw new ServinError("not-found", `No such image: ${image}`);
      }
      // A basic rootfs is a plain directory: copy is the snapshotter that mounts nothing.
      const snapshotter = found
        ? this.#snapshotter(options.snapshotter)
        : this.#snapshotter("copy");
      const rootfs = join(staging.path, "rootfs");
      let roots: string[];
      if (found) {
        const dirs = await this.#store.layers.mounts(found.layers);
        await snapshotter.prepare(staging.path, dirs, this.#platform);
        roots = [...dirs].reverse();
      } else {
        this.#ctx.warn(`image "${image}" not found locally: using a basic root filesystem`);
        await this.#platform.basicRootfs(rootfs);
        roots = [rootfs];
      }
      const record = makeRecord(id, image, found, options, {
        snapshotter: snapshotter.name,
        runtime: runtime.name,
        name: options.name ?? randomName(taken),
      });
      Object.assign(record.process, await resolveUser(record.process.user, roots));
      await runtime.writeBundle({ ...record, bundle: staging.path });
      made = await this.#transaction(async (records) => {
        const names = new Set(records.map((c) => c.name));
        if (names.has(record.name)) {
          if (options.name) throw nameTaken(record.name);
          // Another process took the random name meanwhile: draw again.
          record.name = randomName(names);
          record.hostname = record.name.slice(0, 63);
          await runtime.writeBundle({ ...record, bundle: staging.path });
        }
        await Deno.rename(staging.path, bundle);
        records.push({ ...record, bundle });
        return structuredClone({ ...record, bundle });
      });
    } catch (err) {
      // The record was not written: nothing of the container stays, even
      // what was renamed into place. A lease that cannot be dropped now
      // goes at the next prune; the first failure is the one to report.
      await removeTree(bundle).catch(() => {});
      await staging.release().catch(() => {});
      if (leased) await this.#release(id).catch(() => {});
      throw err;
    }
    await staging.detach();
    return made;
  }

  /**
   * Resolves `name` and leases its image's layers in one transaction of the
   * image index, so that the image cannot go between the two; undefined
   * when there is no such image.
   */
  async #lease(name: string, id: string): Promise<ImageRecord | undefined> {
    return await this.#store.index.transaction(async (tx) => {
      const image = findImage(tx.images, name);
      if (!image) return undefined;
      for (const diffId of image.layers) {
        if (!(await this.#store.layers.info(diffId))) {
          throw new ServinError(
            "not-found",
            `Image ${name} is incomplete: its layer ${shortId(diffId)} is missing`,
          );
        }
      }
      tx.leases[leaseOwner(id)] = { image: image.id, layers: [...image.layers] };
      return structuredClone(image);
    });
  }

  /** Drops the container's lease; what only it kept is collected. */
  async #release(id: string): Promise<void> {
    await this.#store.index.transaction((tx) => {
      delete tx.leases[leaseOwner(id)];
    });
  }

  /**
   * Starts a created or exited container and waits for its process; returns
   * its exit code. The container is marked running for exactly as long as
   * this call holds its run lock.
   */
  async start(name: string, options: StartOptions = {}): Promise<number> {
    const platform = this.#platform;
    if (platform.cannotRun) {
      throw new ServinError("unsupported", `Cannot run containers: ${platform.cannotRun}`);
    }
    const container = resolveContainer(await this.#index.read(), name);
    const runtime = this.#runtime(container.runtime);
    if (!runtime.find()) {
      throw new ServinError(
        "unsupported",
        `No OCI runtime found: install runc or crun (looked for "${runtime.name}" on PATH)`,
      );
    }
    const lock = await this.#lockRun(container);
    let record: ContainerRecord | undefined;
    try {
      record = await this.#transaction((records) => {
        const c = records.find((x) => x.id === container.id);
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
        const dirs = record.layers.length ? await this.#store.layers.mounts(record.layers) : [];
        await snapshotter.mount(record.bundle, dirs, platform);
        code = await runtime.run(record, stdio);
      } finally {
        await snapshotter.unmount(record.bundle, platform);
        await this.#finish(record.id, code);
      }
      return code;
    } finally {
      lock.close();
      if (record?.auto_remove) await this.remove(record.id, { force: true });
    }
  }

  async #lockRun(container: ContainerRecord): Promise<Deno.FsFile> {
    let lock: Deno.FsFile;
    try {
      lock = await Deno.open(join(container.bundle, RUN_LOCK), { write: true, create: true });
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      throw new ServinError(
        "not-found",
        `Container ${container.name} has lost its bundle (remove it and create it again)`,
      );
    }
    if (!(await lock.tryLock(true))) {
      lock.close();
      throw new ServinError("conflict", `Container ${container.name} is already running`);
    }
    return lock;
  }

  async #finish(id: string, code: number): Promise<void> {
    await this.#transaction((records) => {
      const c = records.find((x) => x.id === id);
      if (!c) return;
      c.status = "exited";
      c.exit_code = code;
      c.finished_at = new Date().toISOString();
    });
  }

  #snapshotterOf(record: ContainerRecord): Snapshotter {
    const found = this.#ctx.kinds.all("snapshotter").find((s) => s.name === record.snapshotter);
    if (!found) {
      throw new ServinError(
        "unsupported",
        `Container ${record.name} needs the "${record.snapshotter}" snapshotter, which is not loaded`,
      );
    }
    return found;
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

  /** The record with its live status: `dead` when marked running but nobody runs it. */
  async #view(record: ContainerRecord): Promise<ContainerRecord> {
    if (record.status !== "running" || await this.#isRunning(record)) return record;
    return { ...record, status: "dead" };
  }

  /** Containers with their live status, newest first. */
  async list(): Promise<ContainerRecord[]> {
    const out: ContainerRecord[] = [];
    for (const c of await this.#index.read()) out.push(await this.#view(c));
    // RFC 3339 times compare as strings; localeCompare would set up ICU's collator.
    return out.sort((a, b) => a.created < b.created ? 1 : a.created > b.created ? -1 : 0);
  }

  /** The container `name` (name, ID or unique ID prefix) with its live status. */
  async get(name: string): Promise<ContainerRecord> {
    return await this.#view(resolveContainer(await this.#index.read(), name));
  }

  /** Path of a detached container's log. */
  async logPath(name: string): Promise<string> {
    return join((await this.get(name)).bundle, LOG);
  }

  /** Removes a container; a running one needs `force`, which kills it first. */
  async remove(name: string, options: { force?: boolean } = {}): Promise<ContainerRecord> {
    const container = await this.get(name);
    const runtime = this.#ctx.kinds.all("runtime").find((r) => r.name === container.runtime);
    if (container.status === "running") {
      if (!options.force) throw runningError(container.name);
      await runtime?.kill(container.id, "KILL").catch(() => {});
      for (let i = 0; i < 200 && await this.#isRunning(container); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      if (await this.#isRunning(container)) {
        throw new ServinError("conflict", `Container ${container.name} did not stop`);
      }
    }
    if (container.status !== "created" && container.status !== "exited") {
      // A killed monitor leaves the runtime's state (and maybe the process) behind.
      await runtime?.delete(container.id).catch(() => {});
    }
    const snapshotter = this.#ctx.kinds.all("snapshotter")
      .find((s) => s.name === container.snapshotter);
    await snapshotter?.unmount(container.bundle, this.#platform);
    await this.#prepare();
    await sweepStaging(this.#tmp, [REMOVE_PREFIX]);
    const doomed = await stage(this.#tmp, `${REMOVE_PREFIX}${crypto.randomUUID()}`);
    try {
      const removed = await this.#transaction(async (records) => {
        const i = records.findIndex((c) => c.id === container.id);
        // A start holds the run lock before it marks the record, and until
        // it exits: seen free here, no start can run this record any more.
        if (i >= 0 && await this.#isRunning(container)) throw runningError(container.name);
        return i < 0 ? undefined : records.splice(i, 1)[0];
      });
      if (!removed) throw new ServinError("not-found", `No such container: ${name}`);
      // Out of sight first, so that no half-deleted bundle is ever at its path.
      await Deno.rename(container.bundle, join(doomed.path, "bundle")).catch((err) => {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      });
      if (removed.image_id) await this.#release(removed.id);
      return removed;
    } finally {
      await doomed.release();
    }
  }

  /** Removes every container that is not running; returns their records. */
  async prune(): Promise<ContainerRecord[]> {
    const removed: ContainerRecord[] = [];
    for (const c of await this.list()) {
      if (c.status === "running") continue;
      try {
        removed.push(await this.remove(c.id));
      } catch (err) {
        // Started or removed by another process meanwhile: not prune's to take.
        if (isServinError(err, "conflict") || isServinError(err, "not-found")) continue;
        throw err;
      }
    }
    await this.#prepare();
    await sweepStaging(this.#tmp, [CREATE_PREFIX]);
    await this.#reconcile();
    return removed;
  }

  /**
   * Makes the leases match the records: drops those a crash left (no record
   * and no creation going on) and takes those records made before leases
   * existed lack (when their layers are still there).
   */
  async #reconcile(): Promise<void> {
    await this.#store.index.transaction(async (tx) => {
      const suspects: string[] = [];
      for (const owner of Object.keys(tx.leases)) {
        if (!owner.startsWith(LEASE_PREFIX)) continue;
        const id = owner.slice(LEASE_PREFIX.length);
        if (!(await isStaged(this.#tmp, `${CREATE_PREFIX}${id}`))) suspects.push(id);
      }
      // Read after the staging checks: a creation writes its record before
      // it drops its staging lock, so a finished one is seen here.
      const records = await this.#index.read();
      const ids = new Set(records.map((c) => c.id));
      for (const id of suspects) if (!ids.has(id)) delete tx.leases[leaseOwner(id)];
      const images = new Set(tx.images.map((img) => img.id));
      for (const c of records) {
        if (!c.image_id || tx.leases[leaseOwner(c.id)]) continue;
        const present = await Promise.all(c.layers.map((l) => this.#store.layers.info(l)));
        if (present.some((l) => !l)) continue;
        tx.leases[leaseOwner(c.id)] = {
          ...(images.has(c.image_id) ? { image: c.image_id } : {}),
          layers: [...c.layers],
        };
      }
    });
  }
}

/** The record of a new container: the image's config under the options. */
function makeRecord(
  id: string,
  imageName: string,
  image: ImageRecord | undefined,
  options: CreateOptions,
  chosen: { snapshotter: string; runtime: string; name: string },
): ContainerRecord {
  const config = image?.config;
  const entrypoint = config?.entrypoint ?? [];
  const command = options.command?.length ? options.command : config?.cmd ?? ["/bin/sh"];
  const args = [...entrypoint, ...command];
  if (args.length === 0) {
    throw new ServinError("invalid-argument", `No command given and image "${imageName}" has none`);
  }
  // As Docker does, a process without PATH gets the usual one.
  const imageEnv = config?.env ?? [];
  const baseEnv = imageEnv.some((e) => e.startsWith("PATH="))
    ? imageEnv
    : [DEFAULT_PATH, ...imageEnv];
  return {
    id,
    name: chosen.name,
    image: imageName,
    image_id: image?.id ?? "",
    layers: image ? [...image.layers] : [],
    created: new Date().toISOString(),
    status: "created",
    snapshotter: chosen.snapshotter,
    runtime: chosen.runtime,
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
    hostname: chosen.name.slice(0, 63),
    network: options.network ?? "none",
    auto_remove: options.autoRemove ?? false,
    detached: options.detached ?? false,
    fallback: !image,
    security_opt: [...options.securityOpt ?? []],
  };
}

function runningError(name: string): ServinError {
  return new ServinError(
    "conflict",
    `Cannot remove running container ${name}: stop it first or use -f`,
  );
}

function nameTaken(name: string): ServinError {
  return new ServinError("already-exists", `The container name "${name}" is already in use`);
}
