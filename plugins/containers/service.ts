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
  CommitOptions,
  ContainerContext,
  ContainerNetworks,
  ContainerRecord,
  Containers,
  CreateOptions,
  ExecOptions,
  StartOptions,
  VolumeRecord,
} from "../../core/api.ts";
import { isServinError, ServinError } from "../../core/errors.ts";
import { findImage, type ImageRecord, mergeEnv, shortId } from "../../core/image.ts";
import type {
  CheckOptions,
  ContainerRuntime,
  Lease,
  MountPoint,
  Platform,
  Problem,
  RunStdio,
  Snapshotter,
  Store,
} from "../../core/kinds.ts";
import { resolveUser } from "../runtime/user.ts";
import { IndexFile, isStaged, removeTree, stage, sweepStaging } from "../storage/fs.ts";
import { checkDistinct, checkTarget, checkVolumeName } from "../volumes/mounts.ts";
import { anonymousName, isAnonymous, VolumeStore } from "../volumes/store.ts";
import { defaultNetwork, joinsNetwork, netnsPath, Networks, parsePublish } from "./_network.ts";
import {
  checkContainerName,
  checkContainerRecord,
  newContainerId,
  randomName,
  resolveContainer,
} from "./model.ts";

const RUN_LOCK = "run.lock";
/** The exit code of a process whose exit nobody saw (Docker's, after its daemon died). */
const UNKNOWN_EXIT = 255;
const LOG = "container.log";
/** In the bundle while a stop asked for is under way: the restart policy leaves it stopped. */
const STOPPED_BY_USER = "stopped-by-user";
/** Runtime states in which the container's process exists. */
const LIVE = new Set(["created", "running", "paused"]);
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
  #volumes: VolumeStore;
  #ready?: Promise<void>;
  #networks: Networks;

  /** The service over `context.root`; nothing is read or made until it is used. */
  constructor(context: ContainerContext) {
    this.#ctx = context;
    this.#dir = join(context.root, "containers");
    this.#tmp = join(context.root, "tmp");
    this.#networks = new Networks(context.root);
    const dir = this.#dir;
    this.#index = new IndexFile(join(dir, "index.json"), join(dir, "index.lock"), (v, where) => {
      const record = checkContainerRecord(v, where);
      // The bundle is where the ID says, whatever the record claims.
      record.bundle = join(dir, record.id);
      return record;
    }, { notice: context.warn });
    this.#volumes = new VolumeStore(context.root, context.warn);
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
      const found = named(all, wanted, "snapshotter", "available");
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
    if (wanted) return named(all, wanted, "runtime", "known");
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
    // An image still to be pulled (which the trust policy may refuse) leaves nothing behind: no
    // directory, no lock file. #lease looks again under the lock.
    if (options.noFallback && !lookup(await this.#store.index.list(), image)) {
      throw new MissingImage(image);
    }
    await this.#prepare();
    options = await this.#networkOptions(options);
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
    let made = false;
    let mounts: MountPoint[] = [];
    const anonymous = new Set<string>();
    let result: ContainerRecord;
    try {
      const found = await this.#lease(image, id);
      leased = found !== undefined;
      if (!found && options.noFallback) throw new MissingImage(image);
      const raw = found ? await this.#rawConfig(found) : {};
      if (options.host?.publish_all && found) {
        // -P: the image's exposed ports, each to a free host port chosen at start.
        const exposed = Object.keys(found.config.exposed_ports ?? {});
        options = {
          ...options,
          host: { ...options.host, publish: [...options.host.publish ?? [], ...exposed] },
        };
      }
      if (options.platform) checkPlatform(image, raw, options.platform);
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
        stopSignal: raw.config?.StopSignal,
      });
      mounts = await this.#mounts(options.host?.mounts ?? [], raw.config?.Volumes, anonymous);
      if (mounts.length) record.host = { ...record.host, mounts };
      Object.assign(record.process, await resolveUser(record.process.user, roots));
      const netns = joinsNetwork(record.network) ? netnsPath(id) : undefined;
      await runtime.writeBundle({ ...record, bundle: staging.path, netns });
      result = await this.#transaction(async (records) => {
        const names = new Set(records.map((c) => c.name));
        if (names.has(record.name)) {
          if (options.name) throw nameTaken(record.name);
          // Another process took the random name meanwhile: draw again.
          record.name = randomName(names);
          if (!options.hostname) record.hostname = record.name.slice(0, 63);
          await runtime.writeBundle({ ...record, bundle: staging.path, netns });
        }
        // Under the container lock, which `volume rm` and `volume prune` take too.
        await this.#volumes.ensure(
          mounts.filter((m) => m.type === "volume").map((m) => ({
            name: m.name!,
            anonymous: anonymous.has(m.name!),
          })),
        );
        made = true;
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
      if (made) {
        await this.#transaction((records) =>
          this.#dropAnonymous(mounts, records.filter((c) => c.id !== id))
        ).catch(() => {});
      }
      throw err;
    }
    await staging.detach();
    return result;
  }

  /**
   * The mounts of a new container: the ones asked for, with each volume's
   * name (made up for an anonymous one) and data directory, and an anonymous
   * volume for each of the image's `Volumes` that nothing is mounted on.
   */
  async #mounts(
    asked: readonly MountPoint[],
    imageVolumes: Record<string, unknown> = {},
    anonymous: Set<string>,
  ): Promise<MountPoint[]> {
    // The CLI parsed these already; a library caller's are checked here.
    const mounts = asked.map((m) => ({
      ...m,
      destination: checkTarget(m.destination),
      options: [...m.options ?? []],
    }));
    const taken = new Set(mounts.map((m) => m.destination));
    checkDistinct(mounts);
    for (const path of Object.keys(imageVolumes ?? {}).sort()) {
      const destination = checkTarget(path, "image volume");
      if (!taken.has(destination)) {
        mounts.push({ type: "volume", source: "", destination, options: [] });
      }
      taken.add(destination);
    }
    for (const m of mounts) {
      if (!["bind", "volume", "tmpfs"].includes(m.type)) {
        throw new ServinError("invalid-argument", `Invalid mount type "${m.type}"`);
      }
      if (m.type === "bind" && !m.source.startsWith("/")) {
        throw new ServinError(
          "invalid-argument",
          `Invalid bind source "${m.source}": a host path must be absolute`,
        );
      }
      if (m.type === "volume") {
        if (m.name === undefined) {
          m.name = anonymousName();
          anonymous.add(m.name);
        }
        m.source = this.#volumes.dataDir(checkVolumeName(m.name));
      } else if (m.type === "bind" && !m.options.includes("create")) {
        // As Docker: a --mount bind needs its source; a -v bind makes it at start.
        if (!(await Deno.lstat(m.source).then(() => true, () => false))) {
          throw new ServinError(
            "invalid-argument",
            `Invalid mount on "${m.destination}": bind source path does not exist: ${m.source}`,
          );
        }
      }
    }
    return mounts;
  }

  /** Removes the anonymous volumes of `mounts` that none of `others` uses (under the lock). */
  async #dropAnonymous(
    mounts: readonly MountPoint[],
    others: readonly ContainerRecord[],
  ): Promise<void> {
    const names = new Set(mounts.filter((m) => m.type === "volume" && m.name).map((m) => m.name!));
    if (names.size === 0) return;
    await this.#volumes.remove((v) => names.has(v.name) && isAnonymous(v), volumeUsers(others));
  }

  /**
   * The options with the network chosen (the default one when none is
   * named) and checked: the network exists and can be joined here, and the
   * ports to publish read as Docker's; ports without a network to publish
   * them on are dropped with a warning, as Docker does.
   */
  async #networkOptions(options: CreateOptions): Promise<CreateOptions> {
    const network = options.network ?? defaultNetwork();
    const publish = options.host?.publish ?? [];
    for (const spec of publish) parsePublish(spec);
    if (joinsNetwork(network)) {
      await this.#networks.checkJoin(network);
      return { ...options, network };
    }
    if (publish.length || options.host?.publish_all) {
      this.#ctx.warn(`published ports are discarded with --network ${network}`);
    }
    const { publish: _p, publish_all: _a, ...host } = options.host ?? {};
    return { ...options, network, host };
  }

  /** The networks containers join, as the `network` commands use them. */
  get networks(): ContainerNetworks {
    const n = this.#networks;
    return {
      list: () => n.list(),
      get: (name) => n.get(name),
      create: (name, options) => n.create(name, options),
      remove: async (name) => n.remove(name, this.#userOf(await this.#index.read())),
      prune: async () => {
        const users = this.#userOf(await this.#index.read());
        const removed = [];
        for (const net of await n.list()) {
          if (net.name === "bridge" || users(net.name)) continue;
          removed.push(await n.remove(net.name, users).catch(() => undefined));
        }
        return removed.filter((r) => r !== undefined);
      },
    };
  }

  #userOf(records: readonly ContainerRecord[]): (network: string) => string | undefined {
    return (network) => records.find((c) => c.network === network)?.name;
  }

  /**
   * Resolves `name` and leases its image's layers in one transaction of the
   * image index, so that the image cannot go between the two; undefined
   * when there is no such image.
   */
  async #lease(name: string, id: string): Promise<ImageRecord | undefined> {
    return await this.#store.index.transaction(async (tx) => {
      const image = lookup(tx.images, name);
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

  /** The image's OCI config as stored (for `StopSignal` and the platform), or `{}`. */
  async #rawConfig(image: ImageRecord): Promise<RawConfig> {
    try {
      const text = await new Response(await this.#store.content.read(image.id)).text();
      return JSON.parse(text) as RawConfig;
    } catch {
      return {};
    }
  }

  /** Drops the container's lease; what only it kept is collected. */
  async #release(id: string): Promise<void> {
    await this.#store.index.transaction((tx) => {
      delete tx.leases[leaseOwner(id)];
    });
  }

  /**
   * Starts a created or exited container. In the foreground it waits for
   * the process and returns its exit code, its output logged and passed on
   * (a terminal is passed on as it is); detached, it starts the process
   * under the runtime's supervisor and returns 0 once it runs. The run lock
   * is held while a start is under way, and by a foreground run until it ends.
   */
  async start(name: string, options: StartOptions = {}): Promise<number> {
    return await this.#start(name, options, false);
  }

  /**
   * {@link start}; `restart`: the restart policy's, called off when a stop or
   * removal was asked for since the exit (checked under the run lock, which
   * `remove` and `stop` do not need, so either one's mark is seen or its
   * kill comes after this start), and counted in `restart_count`.
   */
  async #start(name: string, options: StartOptions, restart: boolean): Promise<number> {
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
    let detached = false;
    try {
      if (LIVE.has((await runtime.state(container.id))?.status ?? "")) {
        throw new ServinError("conflict", `Container ${container.name} is already running`);
      }
      if (restart && await exists(join(container.bundle, STOPPED_BY_USER))) return 0;
      // What a supervisor that died left of the last run.
      await runtime.delete(container.id);
      await Deno.remove(join(container.bundle, STOPPED_BY_USER)).catch(() => {});
      record = await this.#transaction((records) => {
        const c = records.find((x) => x.id === container.id);
        if (!c) throw new ServinError("not-found", `No such container: ${name}`);
        if (restart) c.restart_count = (c.restart_count ?? 0) + 1;
        c.status = "running";
        c.started_at = new Date().toISOString();
        delete c.exit_code;
        delete c.finished_at;
        return structuredClone(c);
      });
      const snapshotter = this.#snapshotterOf(record);
      const log = join(record.bundle, LOG);
      let code = 125;
      try {
        const dirs = record.layers.length ? await this.#store.layers.mounts(record.layers) : [];
        await snapshotter.mount(record.bundle, dirs, platform);
        if (record.host?.mounts?.length) {
          const { prepareMounts } = await import("../volumes/_prepare.ts");
          await prepareMounts(join(record.bundle, "rootfs"), record.host.mounts, platform);
        }
        if (joinsNetwork(record.network)) await this.#networks.setup(record);
        if (options.detach) {
          await runtime.supervise(record, { log, onExit: options.onExit });
          detached = true;
          return 0;
        }
        const stdio: RunStdio = {
          stdin: options.stdin ? "inherit" : "null",
          output: record.process.tty ? "inherit" : { log, tee: options.tee ?? true },
        };
        code = await runtime.run(record, stdio);
      } catch (err) {
        const exit = (err as { exitCode?: unknown }).exitCode;
        if (typeof exit === "number") code = exit;
        throw err;
      } finally {
        if (!detached) {
          await runtime.delete(record.id);
          await this.#networks.teardown(record.id);
          await snapshotter.unmount(record.bundle, platform);
          await this.#finish(record.id, code);
        }
      }
      return code;
    } finally {
      lock.close();
      if (record?.auto_remove && !detached) {
        await this.remove(record.id, { force: true, volumes: true });
      }
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
  async #locked(record: ContainerRecord): Promise<boolean> {
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

  /**
   * The record with its live status, as the runtime sees it: running or
   * paused (with its PID) while the runtime has its process, whoever
   * supervises it; exited with the code its supervisor recorded; `dead`
   * when marked running but nothing runs it and no exit was recorded.
   */
  async #view(record: ContainerRecord): Promise<ContainerRecord> {
    if (record.status !== "running") return record;
    const runtime = this.#ctx.kinds.all("runtime").find((r) => r.name === record.runtime);
    const state = await runtime?.state(record.id);
    if (state && LIVE.has(state.status)) {
      const endpoint = joinsNetwork(record.network)
        ? await this.#networks.endpoint(record.id)
        : undefined;
      return {
        ...record,
        status: state.status === "paused" ? "paused" : "running",
        pid: state.pid,
        ...(endpoint ? { endpoint } : {}),
      };
    }
    if (await this.#locked(record)) return record;
    const code = await runtime?.exitCode(record);
    if (code !== undefined) return { ...record, status: "exited", exit_code: code };
    // Its supervisor is about to record the exit it has just seen.
    if (await runtime?.supervised?.(record)) return record;
    return { ...record, status: "dead" };
  }

  /**
   * The record with its live status, and a process that exited after its
   * supervisor died recorded as exited: with 255, as Docker records an exit
   * nobody saw, since its code is lost with the supervisor.
   */
  async #look(record: ContainerRecord): Promise<ContainerRecord> {
    const view = await this.#view(record);
    if (view.status !== "dead") return view;
    return await this.#settle(record, UNKNOWN_EXIT).catch(() => view);
  }

  /** True while the container's process exists or a start of it is under way. */
  async #isRunning(record: ContainerRecord): Promise<boolean> {
    const status = (await this.#view(record)).status;
    return status === "running" || status === "paused";
  }

  /** Containers with their live status, newest first. */
  async list(): Promise<ContainerRecord[]> {
    const out: ContainerRecord[] = [];
    for (const c of await this.#index.read()) out.push(await this.#look(c));
    // RFC 3339 times compare as strings; localeCompare would set up ICU's collator.
    return out.sort((a, b) => a.created < b.created ? 1 : a.created > b.created ? -1 : 0);
  }

  /** The container `name` (name, ID or unique ID prefix) with its live status. */
  async get(name: string): Promise<ContainerRecord> {
    return await this.#look(resolveContainer(await this.#index.read(), name));
  }

  /**
   * Runs `fn` on the container's root filesystem: a running container's as
   * its process sees it (`/proc/PID/root/`: its volumes, binds and tmpfs
   * mounts included); a stopped one's snapshot, mounted for the call and
   * unmounted after, its run lock held meanwhile so that no start mounts it
   * in between.
   */
  async withRootfs<R>(
    name: string,
    fn: (rootfs: string, container: ContainerRecord) => Promise<R>,
  ): Promise<R> {
    const container = await this.get(name);
    const live = (c: ContainerRecord) =>
      (c.status === "running" || c.status === "paused") && c.pid ? `/proc/${c.pid}/root/` : "";
    if (live(container)) return await fn(live(container), container);
    const lock = await this.#lockRun(container);
    try {
      const now = await this.get(container.id);
      if (live(now)) return await fn(live(now), now);
      const rootfs = join(now.bundle, "rootfs");
      const snapshotter = this.#snapshotterOf(now);
      const dirs = now.layers.length ? await this.#store.layers.mounts(now.layers) : [];
      await snapshotter.mount(now.bundle, dirs, this.#platform);
      try {
        return await fn(rootfs, now);
      } finally {
        await snapshotter.unmount(now.bundle, this.#platform);
      }
    } finally {
      lock.close();
    }
  }

  /** Path of a detached container's log. */
  async logPath(name: string): Promise<string> {
    return join((await this.get(name)).bundle, LOG);
  }

  /**
   * Removes a container; a running one needs `force`, which kills it first.
   * With `volumes`, its anonymous volumes that no other container uses go too.
   */
  async remove(
    name: string,
    options: { force?: boolean; volumes?: boolean } = {},
  ): Promise<ContainerRecord> {
    const container = await this.get(name);
    const runtime = this.#ctx.kinds.all("runtime").find((r) => r.name === container.runtime);
    if (container.status === "running" || container.status === "paused") {
      if (!options.force) throw runningError(container.name);
      await Deno.writeTextFile(join(container.bundle, STOPPED_BY_USER), "").catch(() => {});
      await runtime?.kill(container.id, "KILL").catch(() => {});
      // A frozen process takes its SIGKILL when thawed.
      if (container.status === "paused") await runtime?.pause(container.id, false).catch(() => {});
      for (let i = 0; i < 200 && await this.#isRunning(container); i++) {
        await new Promise((r) => setTimeout(r, 50));
        // A restart that took the run lock before the mark was written runs again: kill it too.
        await runtime?.kill(container.id, "KILL").catch(() => {});
      }
      if (await this.#isRunning(container)) {
        throw new ServinError("conflict", `Container ${container.name} did not stop`);
      }
    }
    // A supervisor that died, or one that has not cleaned up yet, leaves the runtime's state.
    await runtime?.delete(container.id).catch(() => {});
    await this.#networks.teardown(container.id);
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
        const gone = i < 0 ? undefined : records.splice(i, 1)[0];
        if (gone && options.volumes) await this.#dropAnonymous(gone.host?.mounts ?? [], records);
        return gone;
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

  /**
   * The container's changes to its image as a canonical layer tar, made by
   * its snapshotter (mount points the runtime made left out).
   */
  async diff(
    name: string,
    options: { clampMtime?: number } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const container = await this.get(name);
    const snapshotter = this.#ctx.kinds.all("snapshotter").find((s) =>
      s.name === container.snapshotter
    );
    if (!snapshotter?.diff) {
      throw new ServinError(
        "unsupported",
        `Cannot diff container ${container.name}: the ${container.snapshotter} snapshotter cannot`,
      );
    }
    const layers = await this.#store.layers.mounts(container.layers);
    return await snapshotter.diff(container.bundle, layers, this.#platform, options);
  }

  /** Stores the container's changes to its image as a new image (`_commit.ts`). */
  async commit(name: string, options: CommitOptions = {}): Promise<ImageRecord> {
    const container = await this.get(name);
    const { commitContainer } = await import("./_commit.ts");
    return await commitContainer(container, options, {
      servin: this.#ctx.servin,
      diff: () => this.diff(container.id),
      pause: (paused) => this.#runtime(container.runtime).pause(container.id, paused),
    });
  }

  /** The runtime of a container that must be running (or, with `paused`, paused too). */
  async #live(
    name: string,
    doing: string,
  ): Promise<{ container: ContainerRecord; runtime: ContainerRuntime }> {
    const container = await this.get(name);
    if (container.status !== "running" && container.status !== "paused") {
      throw new ServinError(
        "conflict",
        `Cannot ${doing} container ${container.name}: it is not running`,
      );
    }
    return { container, runtime: this.#runtime(container.runtime) };
  }

  /**
   * Sends the stop signal (the image's `StopSignal`, else SIGTERM), then
   * SIGKILL after `timeout` seconds; returns the stopped container. Works
   * on the runtime's container whether or not its supervisor is alive.
   */
  async stop(name: string, options: { timeout?: number } = {}): Promise<ContainerRecord> {
    const container = await this.get(name);
    if (container.status !== "running" && container.status !== "paused") {
      // A restart under way (its back-off) is called off, as Docker's stop does.
      await Deno.writeTextFile(join(container.bundle, STOPPED_BY_USER), "").catch(() => {});
      return await this.#settle(container, 0);
    }
    const runtime = this.#runtime(container.runtime);
    await Deno.writeTextFile(join(container.bundle, STOPPED_BY_USER), "");
    const signal = container.host?.stop_signal || "SIGTERM";
    const timeout = options.timeout ?? 10;
    await runtime.kill(container.id, signal);
    if (container.status === "paused") await runtime.pause(container.id, false).catch(() => {});
    let sent = signal;
    if (!(await this.#gone(container, timeout * 1000))) {
      sent = "SIGKILL";
      await runtime.kill(container.id, "KILL");
      if (!(await this.#gone(container, 10_000))) {
        throw new ServinError("conflict", `Container ${container.name} did not stop`);
      }
    }
    return await this.#settle(container, 128 + signalNumber(sent));
  }

  /** Waits up to `ms` for the container's process to be gone; true when it is. */
  async #gone(record: ContainerRecord, ms: number): Promise<boolean> {
    for (let waited = 0; waited <= ms; waited += 50) {
      if (!(await this.#isRunning(record))) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  /**
   * Records the exit of a container whose process is gone, if no
   * supervisor or foreground run has (the code it recorded, else
   * `fallbackCode`), and cleans up the runtime's state and the mount.
   */
  async #settle(container: ContainerRecord, fallbackCode: number): Promise<ContainerRecord> {
    // A foreground run records its own exit: wait for it to let go (bounded, 10 s).
    for (let i = 0; i < 200 && await this.#locked(container); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const stored = resolveContainer(await this.#index.read(), container.id);
    if (stored.status !== "running") return stored;
    const runtime = this.#runtime(stored.runtime);
    // Started again meanwhile (an exit command that ran late): that run is not this one's to end.
    if (LIVE.has((await runtime.state(stored.id))?.status ?? "")) return stored;
    const code = await runtime.exitCode(stored) ?? fallbackCode;
    await runtime.delete(stored.id);
    await this.#networks.teardown(stored.id);
    await this.#snapshotterOf(stored).unmount(stored.bundle, this.#platform);
    await this.#finish(stored.id, code);
    return await this.get(stored.id);
  }

  /** Sends `signal` (default SIGKILL) to the container's process. */
  async kill(name: string, signal = "SIGKILL"): Promise<void> {
    const { container, runtime } = await this.#live(name, "kill");
    const sig = signal.toUpperCase().replace(/^(?!SIG)(?=[A-Z])/, "SIG");
    if (!/^(SIG[A-Z0-9+-]+|\d+)$/.test(sig)) {
      throw new ServinError("invalid-argument", `Invalid signal "${signal}"`);
    }
    await Deno.writeTextFile(join(container.bundle, STOPPED_BY_USER), "");
    const out = await runtime.state(container.id);
    if (!out) throw new ServinError("conflict", `Container ${container.name} is not running`);
    await runtime.kill(container.id, sig);
    // Without a live supervisor nobody sees the exit: record SIGKILL's here.
    if ((sig === "SIGKILL" || sig === "9") && !(await runtime.supervised?.(container) ?? true)) {
      if (await this.#gone(container, 10_000)) await this.#settle(container, 128 + 9);
    }
  }

  /** Waits until the process exits (polling the runtime); its exit code. */
  async wait(name: string): Promise<number> {
    let c = await this.get(name);
    // Unbounded by design, as `docker wait`: it ends when the container does.
    while (c.status === "running" || c.status === "paused") {
      await new Promise((r) => setTimeout(r, 100));
      c = await this.get(c.id);
    }
    if (c.status === "dead" || (c.status === "exited" && c.exit_code !== undefined)) {
      c = await this.#settle(c, 255).catch(() => c);
    }
    return c.exit_code ?? 0;
  }

  /** Freezes (`true`) or thaws the container's processes (runtime pause needs cgroups). */
  async pause(name: string, paused: boolean): Promise<void> {
    const { container, runtime } = await this.#live(name, paused ? "pause" : "unpause");
    if ((container.status === "paused") === paused) {
      throw new ServinError(
        "conflict",
        `Container ${container.name} is ${paused ? "already paused" : "not paused"}`,
      );
    }
    await runtime.pause(container.id, paused);
  }

  /** Renames a container. */
  async rename(name: string, newName: string): Promise<void> {
    checkContainerName(newName);
    const container = await this.get(name);
    await this.#transaction((records) => {
      if (records.some((c) => c.name === newName && c.id !== container.id)) {
        throw nameTaken(newName);
      }
      const c = records.find((x) => x.id === container.id);
      if (!c) throw new ServinError("not-found", `No such container: ${name}`);
      c.name = newName;
    });
  }

  /** The container's processes, as `ps` (with `psArgs`, default `-ef`) prints them. */
  async top(name: string, psArgs: string[] = []): Promise<string> {
    const { container, runtime } = await this.#live(name, "list the processes of");
    return await runtime.top(container.id, psArgs.length ? psArgs : ["-ef"]);
  }

  /** Runs `args` in the running container with its env and user defaults; the exit code. */
  async exec(name: string, args: string[], options: ExecOptions = {}): Promise<number> {
    const { container, runtime } = await this.#live(name, "exec in");
    if (container.status === "paused") {
      throw new ServinError(
        "conflict",
        `Container ${container.name} is paused: unpause it before exec`,
      );
    }
    if (args.length === 0) throw new ServinError("invalid-argument", "exec needs a command");
    const user = options.user
      ? await resolveUser(options.user, [join(container.bundle, "rootfs")])
      : {};
    return await runtime.exec(container, {
      args,
      env: options.env,
      cwd: options.cwd,
      ...user,
      tty: options.tty,
      detach: options.detach,
    }, {
      stdin: options.interactive ? "inherit" : "null",
      output: "inherit",
    });
  }

  /**
   * What a supervisor runs when the process exits: records the exit code,
   * then starts the container again if its restart policy says so (not
   * after a stop asked for), else removes it when it was run with `--rm`.
   */
  async cleanup(name: string, options: StartOptions = {}): Promise<void> {
    const container = resolveContainer(await this.#index.read(), name);
    const runtime = this.#runtime(container.runtime);
    if (LIVE.has((await runtime.state(container.id))?.status ?? "")) return;
    const settled = await this.#settle(container, 255);
    const code = settled.exit_code ?? 255;
    const byUser = await Deno.lstat(join(container.bundle, STOPPED_BY_USER)).then(() => true)
      .catch(() => false);
    const policy = container.host?.restart ?? "no";
    const [mode, max] = policy.split(":");
    const count = container.restart_count ?? 0;
    const again = !byUser && (mode === "always" || mode === "unless-stopped" ||
      (mode === "on-failure" && code !== 0 && (max === undefined || count < Number(max))));
    if (again) {
      // Docker's back-off: 100 ms, doubled at each restart of a run shorter than 10 s, at most 1 min.
      const ran = Date.parse(settled.finished_at ?? "") - Date.parse(settled.started_at ?? "");
      const delay = ran >= 10_000 ? 100 : Math.min(100 * 2 ** Math.min(count, 10), 60_000);
      await new Promise((r) => setTimeout(r, delay));
      await this.#start(container.id, { ...options, detach: true }, true);
    } else if (container.auto_remove) {
      await this.remove(container.id, { force: true, volumes: true });
    }
  }

  /** Creates the named volume (a random name when absent); an existing one is returned as it is. */
  async createVolume(name?: string, labels: Record<string, string> = {}): Promise<VolumeRecord> {
    const [made] = await this.#volumes.ensure([{
      name: name === undefined ? anonymousName() : checkVolumeName(name),
      labels,
    }]);
    return made!;
  }

  /** The volumes, by name. */
  async listVolumes(): Promise<VolumeRecord[]> {
    return await this.#volumes.list();
  }

  /** The volume `name`. */
  async getVolume(name: string): Promise<VolumeRecord> {
    return await this.#volumes.get(name);
  }

  /** Removes a volume; refused while any container, running or not, uses it. */
  async removeVolume(name: string): Promise<void> {
    await this.#transaction(async (records) => {
      await this.#volumes.get(name);
      const users = volumeUsers(records);
      const ids = users.get(name);
      if (ids) {
        throw new ServinError(
          "conflict",
          `Cannot remove volume ${name}: volume is in use - [${ids.join(", ")}]`,
        );
      }
      await this.#volumes.remove((v) => v.name === name, users);
    });
  }

  /** Removes the anonymous volumes no container uses (`all`: the named ones too). */
  async pruneVolumes(
    options: { all?: boolean } = {},
  ): Promise<{ deleted: string[]; reclaimed: number }> {
    return await this.#transaction(async (records) =>
      await this.#volumes.remove(
        (v) => options.all === true || isAnonymous(v),
        volumeUsers(records),
      )
    );
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
   * Checks each container: its bundle is there, and its image's layers are
   * there and leased to it. With `repair`, a container without its bundle
   * or its layers is removed, and a missing lease is taken again.
   */
  async check(options: CheckOptions = {}): Promise<Problem[]> {
    await this.#prepare();
    const problems: Problem[] = [];
    // An image index the store check found unreadable leaves the leases unknown.
    const leases = await this.#store.index.transaction((tx) => structuredClone(tx.leases))
      .catch(() => undefined);
    for (const c of await this.#index.read()) {
      const name = `container ${c.name} (${shortId(c.id)})`;
      const found = (message: string, repaired: string) =>
        problems.push({
          kind: "container",
          id: c.id,
          message: `${name} is broken: ${message}`,
          ...(options.repair ? { repaired } : {}),
        });
      const missing = [];
      for (const l of c.layers) if (!(await this.#store.layers.info(l))) missing.push(l);
      const bundle = (await Deno.lstat(c.bundle).catch(() => undefined))?.isDirectory;
      if (!bundle || missing.length) {
        found(
          bundle ? `its layer ${missing[0]} is missing` : `its bundle ${c.bundle} is missing`,
          "removed the container",
        );
        if (options.repair) await this.remove(c.id, { force: true });
        continue;
      }
      const lease: Lease | undefined = leases?.[leaseOwner(c.id)];
      if (!leases || !c.image_id || lease?.layers.join() === c.layers.join()) continue;
      found("its layers are not leased to it", "leased them again");
      if (!options.repair) continue;
      await this.#store.index.transaction((tx) => {
        const image = tx.images.some((img) => img.id === c.image_id);
        tx.leases[leaseOwner(c.id)] = { ...image ? { image: c.image_id } : {}, layers: c.layers };
      });
    }
    await this.#checkNetworks(problems, options);
    return problems;
  }

  /**
   * What stopped containers left of their networks (endpoints, namespaces,
   * address leases): reported; with `repair`, torn down.
   */
  async #checkNetworks(problems: Problem[], options: CheckOptions): Promise<void> {
    const records = await this.#index.read();
    const live = new Set<string>();
    for (const c of records) if (await this.#isRunning(c)) live.add(c.id);
    const known = new Set(records.map((c) => c.id));
    for (const l of await this.#networks.leftovers(live, known)) {
      const whose = known.has(l.id) ? "stopped container" : "container that does not exist";
      if (options.repair) await this.#networks.repair(l);
      problems.push({
        kind: "network",
        id: l.id,
        message: `network leftover of ${whose} ${shortId(l.id)}: ${l.what}`,
        ...(options.repair ? { repaired: "released it" } : {}),
      });
    }
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
  chosen: { snapshotter: string; runtime: string; name: string; stopSignal?: string },
): ContainerRecord {
  const config = image?.config;
  const entrypoint = options.entrypoint ?? config?.entrypoint ?? [];
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
  const hostname = (options.hostname ?? chosen.name).slice(0, 63);
  // Docker's: HOSTNAME always, TERM with a terminal; the user's -e wins over both.
  const generated = [`HOSTNAME=${hostname}`, ...options.tty ? ["TERM=xterm"] : []];
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
      env: mergeEnv(mergeEnv(baseEnv, generated), options.env ?? []),
      cwd: options.workdir ?? (config?.working_dir || "/"),
      user: options.user ?? (config?.user || "root"),
      uid: 0,
      gid: 0,
      additional_gids: [],
      tty: options.tty ?? false,
      interactive: options.interactive ?? false,
    },
    entrypoint: [...entrypoint],
    hostname,
    network: options.network ?? "none",
    auto_remove: options.autoRemove ?? false,
    detached: options.detached ?? false,
    fallback: !image,
    security_opt: [...options.securityOpt ?? []],
    labels: { ...options.labels },
    host: {
      ...options.host,
      ...(chosen.stopSignal && !options.host?.stop_signal
        ? { stop_signal: chosen.stopSignal }
        : {}),
    },
    restart_count: 0,
  };
}

/** The parts of an image's OCI config that containers read beyond the index's summary. */
interface RawConfig {
  os?: string;
  architecture?: string;
  variant?: string;
  config?: { StopSignal?: string; Volumes?: Record<string, unknown> };
}

/** Volume name → the containers (IDs) whose mounts name it. */
function volumeUsers(records: readonly ContainerRecord[]): Map<string, string[]> {
  const users = new Map<string, string[]>();
  for (const c of records) {
    for (const m of c.host?.mounts ?? []) {
      if (m.type === "volume" && m.name) users.set(m.name, [...users.get(m.name) ?? [], c.id]);
    }
  }
  return users;
}

/** The image `name` names: a short name built or imported is `localhost/NAME`, as podman has it. */
function lookup(images: ImageRecord[], name: string): ImageRecord | undefined {
  return findImage(images, name) ??
    (/^[a-z0-9][^/:]*(:[\w.-]+)?$/.test(name) ? findImage(images, `localhost/${name}`) : undefined);
}

/** The image is missing (and no fallback was asked for): what `run --pull missing` pulls. */
export class MissingImage extends ServinError {
  /** The image as named. */
  readonly image: string;

  /** `No such image: NAME`. */
  constructor(image: string) {
    super("not-found", `No such image: ${image}`);
    this.image = image;
  }
}

/** Refuses an image whose platform is not the one asked for (`--platform`). */
function checkPlatform(name: string, raw: RawConfig, wanted: string): void {
  const [os, arch, variant] = wanted.split("/");
  if (!os || !arch) {
    throw new ServinError(
      "invalid-argument",
      `Invalid --platform "${wanted}": expected OS/ARCH[/VARIANT]`,
    );
  }
  const have = [raw.os ?? "linux", raw.architecture ?? "", raw.variant].filter(Boolean).join("/");
  const matches = (raw.os ?? "linux") === os && (!raw.architecture || raw.architecture === arch) &&
    (!variant || !raw.variant || raw.variant === variant);
  if (!matches) {
    throw new ServinError(
      "invalid-argument",
      `Image ${name} is for ${have}, not the requested platform ${wanted}`,
    );
  }
}

const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGTERM: 15,
};

function signalNumber(signal: string): number {
  const s = signal.toUpperCase();
  return /^\d+$/.test(s) ? Number(s) : SIGNAL_NUMBERS[s.startsWith("SIG") ? s : `SIG${s}`] ?? 15;
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

/** The plugin of `all` named `wanted`; another name is a user error listing the `listed` ones. */
function named<T extends { name: string }>(
  all: T[],
  wanted: string,
  kind: string,
  listed: string,
): T {
  const found = all.find((p) => p.name === wanted);
  if (!found) {
    throw new ServinError(
      "invalid-argument",
      `Unknown ${kind} "${wanted}" (${listed}: ${all.map((p) => p.name).join(", ")})`,
    );
  }
  return found;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}
