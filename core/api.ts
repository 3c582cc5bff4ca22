/**
 * The library's public surface as contracts: the {@link Servin} facade, the
 * containers API a container plugin provides, and CLI commands. Plugins and
 * scripts see these interfaces, never the classes behind them.
 *
 * @module
 */

import type { CommitBeforePayload, HookRunner, IngestVerb } from "./hooks.ts";
import type { ImageConfig, ImageRecord } from "./image.ts";
import type {
  CheckOptions,
  ContainerRuntime,
  HostConfig,
  ImageSink,
  ImageSource,
  LayerCompression,
  Limits,
  Platform,
  PolicyRequirement,
  Problem,
  ProcessSpec,
  ProgressFn,
  RegistryOptions,
  RegistryService,
  Snapshotter,
  StorageBackend,
  Store,
  TrustOptions,
  TrustService,
  VerifiedSignature,
  WarnFn,
} from "./kinds.ts";

/** An input given as a stream rather than a path. */
export interface StreamInput {
  /** Name for messages and metadata. */
  path: string;
  /** The bytes. */
  stream: ReadableStream<Uint8Array>;
  /** Total size, for progress. */
  size?: number;
  /** True for a directory (an OCI layout); `stream` is then empty. */
  directory?: boolean;
}

/** What `importImage` and `loadImages` read: a path (`-` for stdin) or a stream. */
export type ImageInput = string | StreamInput;

/** Where `save` and `export` write: a file path (written to a temporary name, then renamed) or a stream. */
export type WriteTarget = string | WritableStream<Uint8Array>;

/** Options every copy into the store takes. */
export interface IngestOptions {
  /** Called as input bytes are read. */
  onProgress?: ProgressFn;
  /** Most decompressed bytes of one layer (default: 64 GiB, or 100× its compressed size when larger). */
  maxLayerBytes?: number;
  /** Aborts the copy; what it staged is thrown away. */
  signal?: AbortSignal;
}

/** Options of {@link Servin.importImage}. */
export interface ImportOptions extends IngestOptions {
  /** Overrides of the default runtime configuration; `env` adds to the default `PATH`. */
  config?: Partial<ImageConfig>;
  /** Commit message, kept in history and metadata. */
  message?: string;
}

/** Options of {@link Servin.build} (`servin build`). */
export interface BuildOptions {
  /** The context: a directory, or `-` for a tar stream on `stdin`. */
  context: string;
  /** The Containerfile: a path, or `-` for stdin; default `CONTEXT/Containerfile`, else `Dockerfile`. */
  file?: string;
  /** Tags for the result. */
  tags?: string[];
  /** `--build-arg` values. */
  buildArgs?: Record<string, string>;
  /** Stage to build (name or index); the last one by default. */
  target?: string;
  /** Run every step again. */
  noCache?: boolean;
  /** When to pull base images (default `missing`). */
  pull?: "missing" | "always" | "never";
  /** Seconds since the epoch for creation times and a clamp of file times (the CLI: `--timestamp`, else `SOURCE_DATE_EPOCH`). */
  timestamp?: number;
  /** Network of RUN steps. */
  network?: string;
  /** Labels for the result. */
  labels?: Record<string, string>;
  /** Where progress lines go (none: silent). */
  log?: (line: string) => void;
  /** Stops the build before its next step; what it made so far stays as cache. */
  signal?: AbortSignal;
  /** Stdin, for `-` (default: the process's). */
  stdin?: ReadableStream<Uint8Array>;
}

/** Builds images from Containerfiles (the `builder` kind). */
export interface Builder {
  /** Name (`containerfile`). */
  name: string;
  /** Builds the image `options` describe with the facade's kinds; returns its record. */
  build(servin: Servin, options: BuildOptions): Promise<ImageRecord>;
}

/** What {@link Servin.append} stores: `base` (an image ID or name; none: `scratch`) plus one step. */
export interface AppendOptions {
  /** The base image; absent: `scratch`. */
  base?: string;
  /** The step's layer, an uncompressed tar stream; absent: an empty step (`empty_layer`). */
  layer?: ReadableStream<Uint8Array>;
  /** The new OCI config's `config` object (`Env`, `Cmd`, `Entrypoint`, `Labels`, …), kept as given. */
  config: Record<string, unknown>;
  /** The step's history entry (`author` is the image's too). */
  history: { created_by?: string; comment?: string; author?: string };
  /** Creation time of the image and the step. */
  created: Date;
  /** Tag to give it. */
  reference?: string;
  /** What the hooks see (default `commit`). */
  verb?: "commit" | "build";
}

/** Options of {@link Servin.commit}, as `docker commit`'s. */
export interface CommitOptions {
  /** Tag of the new image (none: untagged). */
  reference?: string;
  /** Author, in the config and its history (`-a`). */
  author?: string;
  /** Commit message, the history entry's comment (`-m`). */
  message?: string;
  /** Dockerfile instructions applied to the config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL. */
  changes?: string[];
  /** Pause a running container while its changes are read (default true). */
  pause?: boolean;
  /** Creation time (default: now); the same container committed at the same time is the same image. */
  created?: Date;
}

/** Options of {@link Servin.loadImages}. */
export interface LoadOptions extends IngestOptions {
  /** Platform to pick from multi-platform indexes (`os/arch[/variant]`). */
  platform?: string;
}

/** Options of {@link Servin.pullImage}. */
export interface PullOptions extends LoadOptions, RegistryOptions {}

/** Options of {@link Servin.pushImage}. */
export interface PushOptions extends RegistryOptions {
  /** Called as bytes are sent. */
  onProgress?: ProgressFn;
  /** Compression of uncompressed layers (default `gzip`), as podman's `--compression-format`. */
  compressionFormat?: LayerCompression;
  /** Recompress layers compressed otherwise too (default: true when `compressionFormat` is given). */
  forceCompression?: boolean;
}

/** Options of {@link Servin.saveImages}. */
export interface SaveOptions {
  /** `docker+oci` (default), `docker-archive` or `oci-archive`. */
  format?: string;
}

/** An image a load brought in, with the tags the archive gave it. */
export interface LoadedImage {
  /** The image's record (with all its tags). */
  image: ImageRecord;
  /** The tags from the archive. */
  tags: string[];
}

/** Result of removing one name with {@link Servin.removeImage}. */
export interface RemoveResult {
  /** Tags removed. */
  untagged: string[];
  /** ID of the image deleted, when it was. */
  deleted?: string;
}

/** Filters of {@link Servin.listImages}, as `docker image ls --filter`. */
export interface ListFilter {
  /** Glob on `repository` or `repository:tag` (`*` within a path component). */
  reference?: string[];
  /** Only images without tags (true) or only tagged ones (false). */
  dangling?: boolean;
  /** `key` or `key=value` labels all of which must match. */
  label?: string[];
}

/** Host details {@link Servin} resolved. */
export interface ServinInfo {
  /** Data root. */
  root: string;
  /** Platform name. */
  platform: string;
  /** Loaded plugins, in setup order. */
  plugins: string[];
  /** The policy file given instead of `<root>/policy.json`, if any. */
  signaturePolicy?: string;
}

/** One step of an image's history. */
export interface HistoryEntry {
  /** When, RFC 3339. */
  created: string;
  /** What made it. */
  created_by: string;
  /** Comment (commit message). */
  comment: string;
  /** Bytes the step's layer added (0 for an empty step). */
  size: number;
  /** True when the step added no layer. */
  empty_layer: boolean;
}

/** What {@link Servin.diskUsage} reports. */
export interface DiskUsage {
  /** Each image's total, shared and unique bytes. */
  images: {
    id: string;
    repo_tags: string[];
    size: number;
    shared_size: number;
    unique_size: number;
  }[];
  /** Bytes of all layers, each counted once. */
  layers: number;
  /** Number of containers. */
  containers: number;
}

/** Where a {@link Servin.copy} reads or writes: a transport and a name, as skopeo writes them. */
export type CopyLocation = string;

/** The library facade: every CLI command is a thin layer over one of these methods. */
export interface Servin extends AsyncDisposable {
  /** Data root. */
  readonly root: string;
  /** The host platform. */
  readonly platform: Platform;
  /** The store (content, layers, index). */
  readonly store: Store;
  /** Containers, as the container plugin provides them. */
  readonly containers: Containers;
  /** Where Servin keeps its data, the platform and the plugins. */
  info(): ServinInfo;
  /** The images, newest first, optionally filtered. */
  listImages(filter?: ListFilter): Promise<ImageRecord[]>;
  /** The image `name` refers to (tag, ID or unique ID prefix). */
  getImage(name: string): Promise<ImageRecord>;
  /** Imports a root-filesystem tarball as a one-layer image tagged `reference`. */
  importImage(input: ImageInput, reference: string, options?: ImportOptions): Promise<ImageRecord>;
  /** Loads every image of an archive (docker-archive, OCI layout as a tar or a directory). */
  loadImages(input: ImageInput, options?: LoadOptions): Promise<LoadedImage[]>;
  /** Stores a base image plus one step (a layer or none), canonically: same inputs, same image ID. */
  append(options: AppendOptions): Promise<ImageRecord>;
  /** Builds the image a Containerfile describes (`servin build`); a failing step leaves nothing. */
  build(options: BuildOptions): Promise<ImageRecord>;
  /** Stores a container's changes to its image as a new image (`docker commit`). */
  commit(container: string, options?: CommitOptions): Promise<ImageRecord>;
  /** Pulls `reference` from its registry; it is tagged with its full name. */
  pullImage(reference: string, options?: PullOptions): Promise<ImageRecord>;
  /** Pushes image `name` to `destination` (default: `name`); returns the manifest digest. */
  pushImage(name: string, destination?: string, options?: PushOptions): Promise<string>;
  /**
   * Copies images between locations, as skopeo does: `docker://REF` (a registry),
   * `docker-archive:PATH`, `oci-archive:PATH`, `oci:DIR` and `servin:NAME` (this store).
   */
  copy(from: CopyLocation, to: CopyLocation, options?: PullOptions): Promise<string[]>;
  /** Checks `credentials` against `registry` and stores them (mode 0600). */
  login(
    registry: string,
    credentials: { username: string; password: string },
    options?: RegistryOptions,
  ): Promise<void>;
  /** Forgets the credentials for `registry`; false when there were none. */
  logout(registry: string): Promise<boolean>;
  /** Signs the manifest `reference` names in its registry (sigstore attachment); returns its digest. */
  sign(reference: string, options: TrustOptions): Promise<string>;
  /** The signatures of `reference` valid for the key and identity; throws `untrusted` when none. */
  verify(reference: string, options: TrustOptions): Promise<VerifiedSignature[]>;
  /** Saves images to an archive. */
  saveImages(names: string[], output: WriteTarget, options?: SaveOptions): Promise<void>;
  /** Writes the flattened filesystem of image `name` as a tarball (gzip with `gzip`). */
  exportImage(name: string, output: WriteTarget, options?: { gzip?: boolean }): Promise<void>;
  /** The history of image `name`, newest first, with the size each step added. */
  history(name: string): Promise<HistoryEntry[]>;
  /** Removes dangling images, or with `all` every image nothing uses. */
  pruneImages(options?: { all?: boolean }): Promise<{ deleted: string[]; reclaimed: number }>;
  /** Bytes the images hold, shared and unique. */
  diskUsage(): Promise<DiskUsage>;
  /** Removes a tag, or the image with its unused layers. */
  removeImage(name: string, options?: { force?: boolean }): Promise<RemoveResult>;
  /** Tags the image `source` refers to as `target`. */
  tagImage(source: string, target: string): Promise<ImageRecord>;
  /** Checks the store and the containers; with `repair`, removes what is broken. */
  check(options?: CheckOptions): Promise<Problem[]>;
  /** Releases the store and disposes the plugins. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------- containers

/**
 * A container's life: created, running, or exited with a code. `dead` is
 * never stored: it is how a container marked running shows when no process
 * runs it any more (the one that did was killed).
 */
export type ContainerStatus = "created" | "running" | "paused" | "exited" | "dead";

/** One container in the container plugin's index. */
export interface ContainerRecord {
  /** Random 64-hex ID. */
  id: string;
  /** Unique name. */
  name: string;
  /** The image as the user named it. */
  image: string;
  /** The image's ID, or empty for a fallback rootfs. */
  image_id: string;
  /** Layer diff_ids the rootfs is made of, lowest first (leased while the container lives). */
  layers: string[];
  /** Creation time, RFC 3339. */
  created: string;
  /** Status. */
  status: ContainerStatus;
  /** Exit code once exited. */
  exit_code?: number;
  /** When the process last started, RFC 3339. */
  started_at?: string;
  /** When the process last exited, RFC 3339. */
  finished_at?: string;
  /** Snapshotter that made the rootfs (`overlay`, `copy`). */
  snapshotter: string;
  /** OCI runtime that runs it (`runc`, `crun`). */
  runtime: string;
  /** OCI runtime bundle directory (holds `config.json` and `rootfs/`). */
  bundle: string;
  /** Process configuration. */
  process: ProcessSpec;
  /** The first words of `process.args` that are its entrypoint (Docker's `Config.Entrypoint`). */
  entrypoint?: string[];
  /** Hostname. */
  hostname: string;
  /** `none`, `host` (the host's network namespace), or a network's name (`bridge`). */
  network: string;
  /** Remove when the process exits (`--rm`). */
  auto_remove: boolean;
  /** Started detached; output goes to the log file. */
  detached: boolean;
  /** True when the image was not found and a basic rootfs was built instead. */
  fallback: boolean;
  /** `--security-opt` values as given (`seccomp=unconfined`); absent: the defaults. */
  security_opt?: string[];
  /** Labels (`--label`). */
  labels?: Record<string, string>;
  /** Docker's host settings (init, capabilities, limits, hosts, restart policy). */
  host?: HostConfig;
  /** Times its supervisor restarted it under its restart policy. */
  restart_count?: number;
  /** The process's ID on the host while it runs (live, never stored). */
  pid?: number;
  /** Its place on its network while it runs (live, never stored). */
  endpoint?: NetworkEndpoint;
}

/** A running container's interface on its network, and the ports published to it. */
export interface NetworkEndpoint {
  /** Address of its interface. */
  ip: string;
  /** Prefix length of the address. */
  prefix: number;
  /** The network's gateway. */
  gateway: string;
  /** MAC address of its interface. */
  mac: string;
  /** Published ports: host address and port to container port and protocol. */
  ports: { host_ip: string; host_port: number; container_port: number; protocol: string }[];
}

/** A container network (`network create`): a bridge with its subnet. */
export interface NetworkRecord {
  /** Name (`bridge` is the default network). */
  name: string;
  /** Random 64-hex ID. */
  id: string;
  /** `bridge`. */
  driver: string;
  /** The bridge interface on the host. */
  bridge: string;
  /** Subnet (CIDR). */
  subnet: string;
  /** Gateway address (the bridge's). */
  gateway: string;
  /** Creation time, RFC 3339. */
  created: string;
}

/** Networks of containers: what `network create|ls|rm|inspect|prune` use. */
export interface ContainerNetworks {
  /** Every network, the default one first. */
  list(): Promise<NetworkRecord[]>;
  /** The network named `name`, or the one whose ID starts with it (4 characters at least). */
  get(name: string): Promise<NetworkRecord>;
  /** Creates a bridge network (subnet and gateway chosen when not given). */
  create(name: string, options?: { subnet?: string; gateway?: string }): Promise<NetworkRecord>;
  /** Removes a network no container uses. */
  remove(name: string): Promise<NetworkRecord>;
  /** Removes every network no container uses; returns them. */
  prune(): Promise<NetworkRecord[]>;
}

/** A volume: a directory under `<root>/volumes/` that containers mount. */
export interface VolumeRecord {
  /** Name. */
  name: string;
  /** Its data directory on the host. */
  mountpoint: string;
  /** Creation time, RFC 3339. */
  created: string;
  /** Labels (an anonymous volume has `com.docker.volume.anonymous`). */
  labels: Record<string, string>;
}

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
  /** Snapshotter name; the one chosen when Servin was opened, then the first available one. */
  snapshotter?: string;
  /** Runtime name; the one chosen when Servin was opened, then the first installed one. */
  runtime?: string;
  /** Allocate a terminal. */
  tty?: boolean;
  /** Keep stdin open. */
  interactive?: boolean;
  /** Remove after the process exits. */
  autoRemove?: boolean;
  /** Will run detached, output to the log. */
  detached?: boolean;
  /** `none`, `host` or a network's name (default: `bridge` as root on Linux, else `none`). */
  network?: string;
  /** Fail instead of building a basic rootfs when the image is missing. */
  noFallback?: boolean;
  /** Docker's `--security-opt` values (`seccomp=unconfined|PROFILE.json`), read by the runtime. */
  securityOpt?: string[];
  /** Entrypoint replacing the image's (`[]`: none, as Docker's `--entrypoint ""`). */
  entrypoint?: string[];
  /** Hostname (default: the name). */
  hostname?: string;
  /** Labels. */
  labels?: Record<string, string>;
  /** `os/arch[/variant]` the image must be for. */
  platform?: string;
  /** Host settings. */
  host?: HostConfig;
}

/** Options of {@link Containers.start}. */
export interface StartOptions {
  /** Pass the caller's stdin to the process. */
  stdin?: boolean;
  /** Start under a supervisor and return once the process runs (output only to the log). */
  detach?: boolean;
  /** Command the supervisor runs when the process exits (the CLI's `container cleanup ID`). */
  onExit?: string[];
  /** In the foreground: false keeps the output in the log only (default: passed on too). */
  tee?: boolean;
}

/** Options of {@link Containers.exec}: the container's defaults where absent. */
export type ExecOptions =
  & Partial<Pick<ProcessSpec, "env" | "cwd" | "user" | "tty" | "interactive">>
  & { detach?: boolean };

/** Containers from images: the API a container plugin provides as `servin.containers`. */
export interface Containers {
  /** Creates a container from `image` without starting it. */
  create(image: string, options?: CreateOptions): Promise<ContainerRecord>;
  /** Starts a container and waits for its process; returns its exit code. */
  start(name: string, options?: StartOptions): Promise<number>;
  /** Containers with their live status, newest first. */
  list(): Promise<ContainerRecord[]>;
  /** The container `name` (name, ID or unique ID prefix) with its live status. */
  get(name: string): Promise<ContainerRecord>;
  /** Path of a detached container's log. */
  logPath(name: string): Promise<string>;
  /** Removes a container (`force`: a running one too; `volumes`: its anonymous volumes too). */
  remove(name: string, options?: { force?: boolean; volumes?: boolean }): Promise<ContainerRecord>;
  /** Removes every container that is not running. */
  prune(): Promise<ContainerRecord[]>;
  /** Creates the named volume (a random name when absent); an existing one is returned as it is. */
  createVolume(name?: string, labels?: Record<string, string>): Promise<VolumeRecord>;
  /** The volumes, by name. */
  listVolumes(): Promise<VolumeRecord[]>;
  /** The volume `name`. */
  getVolume(name: string): Promise<VolumeRecord>;
  /** Removes a volume no container uses. */
  removeVolume(name: string): Promise<void>;
  /** Removes unused anonymous volumes (`all`: unused named ones too); their names and bytes. */
  pruneVolumes(options?: { all?: boolean }): Promise<{ deleted: string[]; reclaimed: number }>;
  /** Sends the stop signal, then SIGKILL after `timeout` seconds (default 10). */
  stop(name: string, options?: { timeout?: number }): Promise<ContainerRecord>;
  /** Sends `signal` (default SIGKILL) to the process. */
  kill(name: string, signal?: string): Promise<void>;
  /** Waits until the process exits; resolves with its exit code. */
  wait(name: string): Promise<number>;
  /** Freezes (`true`) or thaws the container's processes. */
  pause(name: string, paused: boolean): Promise<void>;
  /** Renames a container. */
  rename(name: string, newName: string): Promise<void>;
  /** The container's processes as `ps` prints them (`psArgs`, default `-ef`). */
  top(name: string, psArgs?: string[]): Promise<string>;
  /** Runs `args` in the running container; resolves with the exit code. */
  exec(name: string, args: string[], options?: ExecOptions): Promise<number>;
  /** The container's changes to its image as a canonical layer tar (see `Snapshotter.diff`). */
  diff(name: string, options?: { clampMtime?: number }): Promise<ReadableStream<Uint8Array>>;
  /** See {@link Servin.commit}. */
  commit(name: string, options?: CommitOptions): Promise<ImageRecord>;
  /** Records the exit a supervisor saw, then restarts or removes as the container asks. */
  cleanup(name: string, options?: StartOptions): Promise<void>;
  /** Checks each container's bundle and lease; with `repair`, removes what is broken. */
  check?(options?: CheckOptions): Promise<Problem[]>;
  /** Runs `fn` on the container's root filesystem (a stopped one's mounted for the call only). */
  withRootfs?<R>(
    name: string,
    fn: (rootfs: string, container: ContainerRecord) => Promise<R>,
  ): Promise<R>;
  /** The networks containers join. */
  networks?: ContainerNetworks;
}

/** What a container service gets when Servin opens. */
export interface ContainerContext {
  /** The facade (images are resolved through it). */
  servin: Servin;
  /** The plugin registry (snapshotters, runtimes). */
  kinds: KindLookup;
  /** Data root (the plugin keeps `<root>/containers/`). */
  root: string;
  /** Default snapshotter and runtime names (from the environment, read by the CLI). */
  defaults: { snapshotter?: string; runtime?: string };
  /** Prints a warning. */
  warn: WarnFn;
}

/** A container service plugin kind. */
export interface ContainerService {
  /** Name (`containers`). */
  name: string;
  /** Opens the containers API. */
  open(context: ContainerContext): Containers;
}

// ---------------------------------------------------------------- commands

/** A flag of a command, as `node:util` parseArgs takes it, plus help text. */
export interface FlagSpec {
  /** `string` takes a value, `boolean` does not. */
  type: "string" | "boolean";
  /** One-letter alias. */
  short?: string;
  /** Repeatable (values are collected into an array). */
  multiple?: boolean;
  /** Help text. */
  description: string;
  /** Placeholder shown in help for the value. */
  value?: string;
}

/** Parsed flag values. */
export type FlagValues = Record<string, string | boolean | string[] | undefined>;

/** Where a command writes. */
export interface Output {
  /** Writes a line to stdout. */
  out(text: string): void;
  /** Writes a line to stderr. */
  err(text: string): void;
  /** Writes raw text to stderr (progress). */
  errRaw(text: string): void;
  /** True when stderr is a terminal. */
  errIsTerminal: boolean;
}

/** What a command's `run` receives. */
export interface CommandContext extends Output {
  /** Positional arguments. */
  args: string[];
  /** Flag values. */
  flags: FlagValues;
  /** Opens (once) the Servin the command works on. */
  servin(): Promise<Servin>;
  /** The loaded plugins. */
  kinds: KindLookup;
  /** `SERVIN_PASSPHRASE`, which only main.ts reads. */
  passphrase?: string;
}

/** A CLI command, registered by a plugin. */
export interface CommandDef {
  /** Full name, words separated by spaces (`image ls`). */
  name: string;
  /** Other names (`images`, `image list`). */
  aliases?: string[];
  /** One-line description. */
  summary: string;
  /** Arguments after the command name, for help (`[OPTIONS] IMAGE...`). */
  usage: string;
  /** Flags. */
  flags?: Record<string, FlagSpec>;
  /** Fewest and most positional arguments. */
  args?: { min?: number; max?: number };
  /** After this many positionals, the rest are arguments, flags or not (`run IMAGE CMD…`). */
  stopAfter?: number;
  /** Left out of help (internal commands). */
  hidden?: boolean;
  /** Runs the command; returns the exit code (0 when nothing is returned). */
  run(ctx: CommandContext): Promise<number | void> | number | void;
}

/** An input opener: makes a stream of an input that is not a local file (a URL). */
export interface InputOpener {
  /** Name. */
  name: string;
  /** The opened input, or undefined when this opener does not handle `name`. */
  open(name: string): Promise<StreamInput | undefined>;
}

/** One copy into the store, as the facade hands it to the ingest pipeline. */
export interface IngestRequest {
  /** What brings the images in. */
  verb: IngestVerb;
  /** The input: a path (`-` for stdin), a reference (pull), or a stream. */
  input: ImageInput;
  /** Platform wanted from multi-platform indexes. */
  platform: string;
  /** Tags to give every image instead of those the input holds. */
  tags?: string[];
  /** For an input without a config (a root filesystem): its runtime configuration. */
  config?: ImageConfig;
  /** History line and comment of a built config. */
  history?: { createdBy: string; comment?: string };
  /** Options. */
  options: IngestOptions & RegistryOptions;
}

/** What the ingest pipeline gets from the facade. */
export interface IngestContext {
  /** The store. */
  store: Store;
  /** Limits on input. */
  limits: Limits;
  /** The host platform. */
  platform: Platform;
  /** Data root (credentials). */
  root: string;
  /** Prints a warning. */
  warn: WarnFn;
  /** The loaded plugins (input openers, sources). */
  kinds: KindLookup;
  /** Runs the `image:commit:before` hook (throws to veto). */
  beforeCommit(payload: CommitBeforePayload): Promise<void>;
}

/** The ingest pipeline kind: fetches, checks, unpacks and commits what a source describes. */
export interface Ingester {
  /** Name (`ingest`). */
  name: string;
  /** Stores the images of the request; returns them with the tags the input gave each. */
  ingest(request: IngestRequest, context: IngestContext): Promise<LoadedImage[]>;
  /** Stores what {@link Servin.append} describes. */
  append(request: AppendOptions, context: IngestContext): Promise<ImageRecord>;
}

/** The facade methods the `images` kind implements. */
export type ImageVerb =
  | "listImages"
  | "history"
  | "pruneImages"
  | "diskUsage"
  | "copy"
  | "saveImages"
  | "pushImage"
  | "exportImage"
  | "removeImage";

/** What the `images` kind's operations get from the facade. */
export interface ImageContext {
  /** The facade. */
  servin: Servin;
  /** The loaded plugins (sinks) and their hooks. */
  kinds: KindLookup & HookRunner;
  /** Prints a warning. */
  warn: WarnFn;
}

/**
 * Image operations the facade delegates (filters, history, prune, disk usage,
 * copy, save, push, export, remove): the `images` kind. Each is the facade
 * method of the same name with the context first.
 */
export type ImageOperations =
  & { name: string }
  & {
    [V in ImageVerb]: (
      context: ImageContext,
      ...args: Parameters<Servin[V]>
    ) => ReturnType<Servin[V]>;
  };

/** Every kind of capability, by the name plugins register it under. */
export interface KindMap {
  /** Host platforms. */
  platform: Platform;
  /** Storage backends. */
  storage: StorageBackend;
  /** Image sources. */
  source: ImageSource;
  /** Image sinks. */
  sink: ImageSink;
  /** Snapshotters. */
  snapshotter: Snapshotter;
  /** OCI runtimes. */
  runtime: ContainerRuntime;
  /** Registry credentials. */
  registry: RegistryService;
  /** Container services. */
  containers: ContainerService;
  /** Input openers. */
  input: InputOpener;
  /** The ingest pipeline. */
  ingest: Ingester;
  /** Image operations. */
  images: ImageOperations;
  /** Containerfile builders. */
  builder: Builder;
  /** CLI commands. */
  command: CommandDef;
  /** Signatures and trust policy. */
  trust: TrustService;
  /** Policy requirement types, by `type`. */
  requirement: PolicyRequirement;
}

/** A kind's name. */
export type Kind = keyof KindMap;

/** Looking up what plugins registered. */
export interface KindLookup {
  /** The one named `name`, else the kind's default (the first registered); `not-found` when none. */
  get<K extends Kind>(kind: K, name?: string): KindMap[K];
  /** All of a kind, in registration order. */
  all<K extends Kind>(kind: K): KindMap[K][];
  /** Names of the loaded plugins, in setup order. */
  readonly plugins: readonly string[];
}

/** Options of `openServin` (and `Servin.open`). */
export interface OpenOptions {
  /** Data root; the platform's default when absent (the CLI passes `SERVIN_ROOT`). */
  root?: string;
  /** Platform plugin name; the host's OS (`Deno.build.os`) by default. */
  platform?: string;
  /** Storage backend name; the first registered (`local`) by default. */
  storage?: string;
  /** Limits on input. */
  limits?: Partial<Limits>;
  /** Where warnings go; stderr by default. */
  warn?: WarnFn;
  /** Default snapshotter and runtime (the CLI passes `SERVIN_SNAPSHOTTER` and `SERVIN_RUNTIME`). */
  defaults?: { snapshotter?: string; runtime?: string };
  /** Trust policy file instead of `<root>/policy.json` (`--signature-policy`). */
  signaturePolicy?: string;
}
