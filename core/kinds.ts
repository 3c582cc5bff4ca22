/**
 * The contracts of the kinds of capability a plugin can provide: platforms,
 * storage (content store, layer store, image index), image sources and sinks,
 * snapshotters, container runtimes, registries, container services and
 * commands. Core knows only these; the implementations live in `plugins/`.
 * They expose streams and descriptors, never store paths (a snapshotter's
 * layer directories aside: mounting needs them).
 *
 * @module
 */

import type { Descriptor, ImageRecord, Limits } from "./image.ts";

/** Progress of one part of a transfer (a layer of a pull or push). */
export interface ProgressPart {
  /** Short name (the blob digest's first 12 hex characters). */
  id: string;
  /** Bytes done. */
  done: number;
  /** Bytes in all. */
  total: number;
}

/** Reports progress: bytes done, the total when known, and the parts when there are several. */
export type ProgressFn = (done: number, total: number | undefined, parts?: ProgressPart[]) => void;

/** Prints a warning (the library's warning sink; stderr in the CLI). */
export type WarnFn = (message: string) => void;

/** Device and special-file kinds a platform may be able to create. */
export type SpecialFileKind = "char" | "block" | "fifo";

/**
 * What the host can do, and where Servin keeps its data there. A platform
 * that cannot do something says so in `can` and throws `unsupported` if asked.
 */
export interface Platform {
  /** Platform name (`linux`, `windows`, `darwin`); it serves the host whose `Deno.build.os` this is. */
  name: string;
  /** OCI `os` value of images made here. */
  os: string;
  /** OCI `architecture` value of images made here. */
  architecture: string;
  /** Default data root when no root is given. */
  defaultRoot(): string;
  /** True when file ownership from archives can be applied (root on Linux). */
  canChown: boolean;
  /** True when device nodes can be created (root on Linux); FIFOs need only a working `mknod`. */
  canMknod: boolean;
  /** Why containers cannot run here, or undefined when they can. */
  cannotRun?: string;
  /** True when layers are stored with overlayfs whiteouts (0:0 devices, opaque xattrs). */
  overlayWhiteouts: boolean;
  /** Creates a device node or FIFO. */
  mknod(path: string, kind: SpecialFileKind, mode: number, major: number, minor: number): void;
  /** Mounts a filesystem (`mount(2)`). */
  mount(source: string, target: string, type: string, options: string): void;
  /** Unmounts `target`; quiet when nothing is mounted there. */
  unmount(target: string): void;
  /** Sets an extended attribute (on a symlink itself, never its target); text is written as UTF-8. */
  setxattr(path: string, name: string, value: string | Uint8Array): void;
  /** Reads an extended attribute as UTF-8 text; undefined when unset. */
  getxattr(path: string, name: string): string | undefined;
  /** The extended attributes of `path` itself, with their (binary) values; none where unsupported. */
  listxattr(path: string): Record<string, Uint8Array>;
  /** Builds the fallback root filesystem (a shell and the basics) into `dir`. */
  basicRootfs(dir: string): Promise<void>;
}

export type { Limits } from "./image.ts";

// ---------------------------------------------------------------- storage

/** A blob in the content store. */
export interface BlobInfo {
  /** sha256, hex. */
  digest: string;
  /** Byte count. */
  size: number;
}

/** Something staged outside the index: invisible until a transaction commits it. */
export interface Staged {
  /** Throws it away (nothing happens once it was committed). */
  discard(): Promise<void>;
}

/** A blob written to staging, with its digest checked. */
export interface StagedBlob extends Staged, BlobInfo {
  /** Discriminant. */
  readonly kind: "blob";
  /** Its bytes, read back from staging. */
  read(): Promise<ReadableStream<Uint8Array>>;
}

/** A layer unpacked into staging, with its diff_id. */
export interface StagedLayer extends Staged {
  /** Discriminant. */
  readonly kind: "layer";
  /** sha256 of the uncompressed layer tar, hex. */
  diffId: string;
  /** Bytes of regular-file content (hardlinks counted once). */
  size: number;
  /** Entries in the layer. */
  entries: number;
  /** Names of its top-level entries (the first 100). */
  topLevel: string[];
}

/** What a blob must be: its digest and size, when known. */
export interface Expected {
  /** sha256, hex. */
  digest?: string;
  /** Byte count; a stream longer than this fails at this size + 1. */
  size?: number;
  /**
   * The sha256 and size of exactly the stream's bytes, taken by the caller as
   * they streamed (say, in the worker that decompresses them), settled once
   * the stream has ended: a store may use it instead of hashing again, and
   * still refuses a digest other than `digest` and a count other than its own.
   */
  knownDigest?: Promise<BlobInfo>;
}

/** The blobs of images: configs, manifests and layer blobs as received, by digest. */
export interface ContentStore {
  /** The blob's size when it is stored (and complete), else undefined. */
  info(digest: string): Promise<BlobInfo | undefined>;
  /** The blob's bytes; `not-found` when it is absent. */
  read(digest: string): Promise<ReadableStream<Uint8Array>>;
  /**
   * Writes `stream` to staging, hashing it; fails (and keeps nothing) when it
   * is longer than `expected.size` or its digest is not `expected.digest`.
   */
  ingest(stream: ReadableStream<Uint8Array>, expected?: Expected): Promise<StagedBlob>;
  /** Every stored blob. */
  walk(): AsyncIterable<BlobInfo>;
}

/** A stored layer. */
export interface LayerInfo {
  /** sha256 of its uncompressed tar, hex. */
  diffId: string;
  /** Bytes of regular-file content. */
  size: number;
}

/** Options of {@link LayerStore.apply}. */
export interface ApplyOptions {
  /** Name of the input, for messages. */
  label: string;
  /**
   * The sha256 of exactly these bytes when the caller computed it already (not
   * hashed again), or will have once the stream has ended: then with the
   * size, which the store checks against the bytes it read.
   */
  knownDiffId?: string | Promise<BlobInfo>;
  /** Most bytes the tar stream may have. */
  maxBytes?: number;
}

/** Unpacked layers, one per diff_id, shared by every image that has it. */
export interface LayerStore {
  /** The layer when it is stored complete, else undefined. */
  info(diffId: string): Promise<LayerInfo | undefined>;
  /** Unpacks a layer tar stream into staging through the extractor, hashing it. */
  apply(tar: ReadableStream<Uint8Array>, options: ApplyOptions): Promise<StagedLayer>;
  /** Directories of stored layers, in the order given, for snapshotters and exports to read. */
  mounts(diffIds: readonly string[]): Promise<string[]>;
  /** Every stored layer. */
  walk(): AsyncIterable<LayerInfo>;
}

/** What an owner other than an image keeps alive (a container: its image's layers). */
export interface Lease {
  /** The image it was made from, which removing then needs `force`. */
  image?: string;
  /** Layers kept. */
  layers: string[];
}

/** What a transaction sees and may change. */
export interface IndexTransaction {
  /** The images; mutate this array or its records to change the index. */
  images: ImageRecord[];
  /**
   * Leases: what an owner other than an image keeps alive (a container's
   * layers), by owner name; set or delete entries to change them.
   */
  leases: Record<string, Lease>;
  /** Makes a staged blob or layer part of the store (a no-op when it is there already). */
  commit(staged: StagedBlob | StagedLayer): Promise<void>;
}

/** The image index (`index.json`), changed only in transactions. */
export interface ImageIndex {
  /** The images, validated. */
  list(): Promise<ImageRecord[]>;
  /**
   * Runs `fn` under the store's exclusive lock; changes are written
   * atomically when it returns, then what nothing references is collected.
   * When `fn` throws, nothing changes and nothing is collected.
   */
  transaction<T>(fn: (tx: IndexTransaction) => T | Promise<T>): Promise<T>;
}

/** An open store: content, layers and the index. */
export interface Store {
  /** Blobs. */
  content: ContentStore;
  /** Unpacked layers. */
  layers: LayerStore;
  /** Image records. */
  index: ImageIndex;
  /** Releases what the store holds open and throws away what is still staged. */
  close(): Promise<void>;
  /** Checks every blob, layer, record and lease; with `repair`, removes what is broken. */
  check?(options?: CheckOptions): Promise<Problem[]>;
}

/** Options of {@link Store.check}. */
export interface CheckOptions {
  /** Remove what is broken (and the images that need it), leaving a sound store. */
  repair?: boolean;
}

/** Something `servin system check` found broken. */
export interface Problem {
  /** What is broken: `blob`, `layer`, `image`, `index`, `lease`, `container`. */
  kind: string;
  /** Its digest, diff_id, image ID, lease owner or container ID. */
  id: string;
  /** What is wrong, on one line. */
  message: string;
  /** With `repair`: what was removed because of it, on one line. */
  repaired?: string;
}

/** What a storage backend gets to open a store. */
export interface StorageContext {
  /** Servin's data root. */
  root: string;
  /** The host platform. */
  platform: Platform;
  /** Limits on input. */
  limits: Limits;
  /** Prints a warning. */
  warn: WarnFn;
}

/** A storage backend. */
export interface StorageBackend {
  /** Backend name (`local`, `memory`). */
  name: string;
  /** Opens the store under `context.root`. */
  open(context: StorageContext): Promise<Store>;
}

// ---------------------------------------------------------------- sources and sinks

/** The start of an input, for sources to recognise it by. */
export interface Probe {
  /** The input as named (a path, `-`, a reference). */
  name: string;
  /** Its first bytes (up to 4 KiB; none for a directory or a reference). */
  head: Uint8Array;
  /** True when the input is a directory. */
  directory?: boolean;
}

/** A blob a source can open, described by its descriptor. */
export interface SourceBlob {
  /** What it must be; `digest` and `size` are checked while it streams when known. */
  descriptor: Partial<Descriptor> & { mediaType: string };
  /** Opens its bytes. */
  open(): Promise<ReadableStream<Uint8Array>>;
  /** The blob when the source staged it already (an archive member), digest computed. */
  staged?: StagedBlob;
}

/** One image a source describes; the ingest pipeline fetches, checks and stores it. */
export interface SourceImage {
  /** The manifest's bytes, when the input has one (kept as received). */
  manifest?: Uint8Array;
  /** The config's bytes, when the input has one; a root filesystem has none. */
  config?: Uint8Array;
  /** The layer blobs, lowest first. */
  layers: SourceBlob[];
  /** Tags found in the input (normalised `name:tag`). */
  tags: string[];
  /** `metadata` entries of the index record (`source`, …). */
  metadata: Record<string, string>;
}

/** What a source gets to read an input. */
export interface SourceContext {
  /** The input as named. */
  name: string;
  /** The whole input stream, from its first byte (empty for a directory or a reference). */
  input: ReadableStream<Uint8Array>;
  /** Its first bytes (up to 4 KiB). */
  head: Uint8Array;
  /** True when the input is a directory. */
  directory: boolean;
  /** Platform wanted from a multi-platform index (`os/arch[/variant]`). */
  platform: string;
  /** The store, for sources that can skip what it has (registry layers). */
  store: Store;
  /** Limits on input. */
  limits: Limits;
  /** Registry connection options. */
  registry: RegistryOptions;
  /** Servin's data root (credentials). */
  root: string;
  /** Prints a warning. */
  warn: WarnFn;
  /** Reports bytes received, per part too (sources that fetch their blobs). */
  progress?: ProgressFn;
  /**
   * Hands over one image as soon as it is described, so that its layers are
   * fetched while the source reads on; resolves when it is stored in staging.
   */
  emit(image: SourceImage): Promise<void>;
}

/** An image source: `tarball` (import), `archive` (load), `registry` (pull). */
export interface ImageSource {
  /** Source name. */
  name: string;
  /** The verbs it serves. */
  verbs: ReadonlyArray<"import" | "load" | "pull">;
  /** True when this source understands the input. */
  detect(probe: Probe): boolean;
  /** Describes the input's images through `context.emit`. */
  read(context: SourceContext): Promise<void>;
}

/** An image a sink writes, with the tags to record for it. */
export interface SinkImage {
  /** The image. */
  image: ImageRecord;
  /** Tags to record in the output. */
  tags: string[];
}

/** What a sink gets to write. */
export interface SinkContext {
  /** The images. */
  images: SinkImage[];
  /** The store to read blobs and layers from (blobs are verified as they stream). */
  store: Store;
  /** The host platform. */
  platform: Platform;
  /** Where to write, for sinks that write bytes (archives, rootfs): a file path or a stream. */
  output?: string | WritableStream<Uint8Array>;
  /** The destination, for sinks that write elsewhere (a registry reference). */
  destination?: string;
  /** Registry connection options. */
  registry: RegistryOptions;
  /** Servin's data root (credentials). */
  root: string;
  /** Reports bytes sent. */
  progress?: ProgressFn;
  /** Layer compression wanted (`push`), and whether layers compressed otherwise are recompressed. */
  compression?: { format: LayerCompression; force: boolean };
}

/** A layer blob's compression. */
export type LayerCompression = "gzip" | "zstd" | "none";

/** An output: archives (`save`), flattened filesystems (`export`), registries (`push`). */
export interface ImageSink {
  /** Format name (`docker-archive`, `oci-archive`, `docker+oci`, `rootfs`, `rootfs+gzip`, `registry`). */
  name: string;
  /** Writes the images; returns the digest of what was written when it has one. */
  write(context: SinkContext): Promise<string | void>;
}

// ---------------------------------------------------------------- registries

/** How to reach a registry. */
export interface RegistryOptions {
  /** Verify TLS (default); `false` also allows plain HTTP. */
  tlsVerify?: boolean;
  /** Directory of extra CA certificates. */
  certDir?: string;
}

/** Credentials management of a registry plugin. */
export interface RegistryService {
  /** Name (`registry`). */
  name: string;
  /** Checks the credentials against `registry` and stores them under `root`. */
  login(
    root: string,
    registry: string,
    credentials: { username: string; password: string },
    options: RegistryOptions,
  ): Promise<void>;
  /** Forgets them; false when there were none. */
  logout(root: string, registry: string): Promise<boolean>;
}

// ---------------------------------------------------------------- trust

/** Options of signing and verifying (`Servin.sign`, `Servin.verify`). */
export interface TrustOptions extends RegistryOptions {
  /** PEM text: cosign's encrypted private key to sign with, or a public key to verify with. */
  key: string;
  /** Passphrase of the private key. */
  passphrase?: string;
  /** Identity to sign, or to require (default: the reference as given). */
  identity?: string;
}

/** A signature that verified: who it names, what digest, and its simple-signing payload. */
export interface VerifiedSignature {
  /** `critical.identity.docker-reference`. */
  identity: string;
  /** `critical.image.docker-manifest-digest`. */
  digest: string;
  /** The payload as signed. */
  payload: Record<string, unknown>;
}

/** One sigstore signature as stored beside an image: the payload and its base64 signature. */
export interface ImageSignature {
  /** The simple-signing payload's bytes. */
  payload: Uint8Array;
  /** Base64 signature (`dev.cosignproject.cosign/signature`). */
  signature: string;
}

/** An image a trust policy judges. */
export interface PolicyImage {
  /** Transport as containers-policy.json(5) names it: `docker`, `docker-archive`, `oci-archive`. */
  transport: string;
  /** Scopes to look up, most specific first (a reference and its namespaces, or a path and its parents). */
  scopes: string[];
  /** The name the image goes by (`registry/repository:tag` or `…@sha256:…`), when it has one. */
  reference?: string;
  /** The manifest digest its signatures must name. */
  digest?: string;
  /** Its sigstore signatures, fetched when a requirement first asks. */
  signatures(): Promise<ImageSignature[]>;
}

/** A policy requirement type (`sigstoreSigned`, …), registered under its `type`. */
export interface PolicyRequirement {
  /** The `type` of policy.json it checks. */
  name: string;
  /** Resolves when `image` meets `requirement`; throws saying why not. */
  check(requirement: Readonly<Record<string, unknown>>, image: PolicyImage): Promise<void>;
}

/** Where the trust plugin finds its files. */
export interface TrustContext {
  /** Data root (credentials, `policy.json`). */
  root: string;
  /** A policy file given instead of `<root>/policy.json` (`--signature-policy`). */
  signaturePolicy?: string;
  /** The requirement types the plugins registered. */
  requirements?(): PolicyRequirement[];
}

/** Signatures and the trust policy (the trust plugin). */
export interface TrustService {
  /** Name (`trust`). */
  name: string;
  /** Signs the manifest `reference` names in its registry and attaches the signature; returns the digest. */
  sign(reference: string, options: TrustOptions, context: TrustContext): Promise<string>;
  /** The signatures of `reference` valid for the key and identity; throws `untrusted` when none. */
  verify(
    reference: string,
    options: TrustOptions,
    context: TrustContext,
  ): Promise<VerifiedSignature[]>;
  /** The policy file in force, or undefined when there is none. */
  policyPath(context: TrustContext): Promise<string | undefined>;
}

// ---------------------------------------------------------------- containers

/** Makes a container's root filesystem from image layers. */
export interface Snapshotter {
  /** Name (`overlay`, `copy`). */
  name: string;
  /** Why it cannot be used on `platform`, or undefined when it can. */
  unavailable(platform: Platform): string | undefined;
  /** Prepares `<bundle>/rootfs` (and what mounting it needs) from layer directories, lowest first. */
  prepare(bundle: string, layers: string[], platform: Platform): Promise<void>;
  /** Makes the rootfs visible before the process starts; a no-op for a plain directory. */
  mount(bundle: string, layers: string[], platform: Platform): Promise<void>;
  /** Undoes {@link Snapshotter.mount}; safe to call when nothing is mounted. */
  unmount(bundle: string, platform: Platform): Promise<void>;
  /**
   * The container's changes to its image (`layers`, lowest first) as a
   * canonical layer tar, mount points the runtime made left out; every mtime
   * later than `clampMtime` (seconds) is written as it.
   */
  diff?(
    bundle: string,
    layers: string[],
    platform: Platform,
    options?: { clampMtime?: number },
  ): Promise<ReadableStream<Uint8Array>>;
}

/** Where a container's standard streams go. */
export interface RunStdio {
  /** Pass the caller's stdin (`-i`), or give the process none. */
  stdin: "inherit" | "null";
  /** The caller's terminal, or a log file (`tee`: and the caller's stdout and stderr too). */
  output: "inherit" | { log: string; tee?: boolean };
}

/** How a container's process runs, resolved at create time. */
export interface ProcessSpec {
  /** Command and arguments (entrypoint + cmd, or the user's command). */
  args: string[];
  /** Environment, `KEY=value`. */
  env: string[];
  /** Working directory. */
  cwd: string;
  /** User as given (`-u` or the image's). */
  user: string;
  /** Resolved uid. */
  uid: number;
  /** Resolved gid. */
  gid: number;
  /** Supplementary groups from the image's `/etc/group`. */
  additional_gids: number[];
  /** Allocate a terminal (`-t`). */
  tty: boolean;
  /** Keep stdin open (`-i`). */
  interactive: boolean;
}

/** A process to run in a running container: its defaults where absent. */
export type ExecProcess = Partial<Omit<ProcessSpec, "args">> & { args: string[]; detach?: boolean };

/** What a runtime needs to know of a container. */
export interface RuntimeContainer {
  /** Container ID. */
  id: string;
  /** Hostname. */
  hostname: string;
  /** The bundle directory (`config.json`, `rootfs/`). */
  bundle: string;
  /** The process. */
  process: ProcessSpec;
  /** `none`, `host` (the host's network namespace), or a network's name. */
  network: string;
  /** The network namespace file to join (a network's), else a new namespace or the host's. */
  netns?: string;
  /** Docker's `--security-opt` values (`seccomp=unconfined`); absent: the defaults. */
  security_opt?: string[];
  /** Host settings; absent: Docker's defaults. */
  host?: HostConfig;
}

/** Docker's host settings of a container, as the runtime spec needs them. */
export interface HostConfig {
  /** Run an init (catatonit or tini) as PID 1. */
  init?: boolean;
  /** Capabilities added (`CAP_NET_ADMIN`, or `ALL`). */
  cap_add?: string[];
  /** Capabilities dropped. */
  cap_drop?: string[];
  /** Every capability, no seccomp filter, no masked paths. */
  privileged?: boolean;
  /** `--ulimit` values (`nofile=1024:2048`). */
  ulimits?: string[];
  /** `--add-host` entries (`name:ip`). */
  extra_hosts?: string[];
  /** DNS servers for `/etc/resolv.conf` (default: the host's file). */
  dns?: string[];
  /** Memory limit in bytes. */
  memory?: number;
  /** CPUs in billionths. */
  nano_cpus?: number;
  /** Most processes. */
  pids_limit?: number;
  /** `no`, `on-failure[:N]`, `always`, `unless-stopped`. */
  restart?: string;
  /** Signal `stop` sends first (the image's `StopSignal`, else SIGTERM). */
  stop_signal?: string;
  /** Volumes, binds and tmpfs mounts (`-v`, `--mount`, `--tmpfs`, the image's `Volumes`). */
  mounts?: MountPoint[];
  /** Mount the root filesystem read-only (`--read-only`). */
  readonly_rootfs?: boolean;
  /** Published ports, `[IP:][HOST_PORT:]PORT[/PROTO]` (`-p`; `-P` adds the image's). */
  publish?: string[];
  /** `-P`: the image's exposed ports published too, to free host ports. */
  publish_all?: boolean;
}

/** A mount of a container, as Docker's `--mount` names its parts. */
export interface MountPoint {
  /** `bind` (a host path), `volume` (a named or anonymous volume) or `tmpfs`. */
  type: "bind" | "volume" | "tmpfs";
  /** The volume's name (volumes only; asked for, or made up for an anonymous one). */
  name?: string;
  /** Host path: the bind's source or the volume's data directory (empty for tmpfs). */
  source: string;
  /** Absolute path in the container. */
  destination: string;
  /** `ro` (read-only), `nocopy` (a volume), `create` (a `-v` bind), tmpfs's `size=…`, `mode=…`. */
  options: string[];
}

/** The runtime's view of a container. */
export interface RuntimeState {
  /** `created`, `running`, `paused` or `stopped`. */
  status: string;
  /** The process's host PID (0 once stopped). */
  pid: number;
}

/** An OCI runtime (runc, crun). */
export interface ContainerRuntime {
  /** Name (`runc`, `crun`). */
  name: string;
  /** Path of the binary, or undefined when it is not installed. */
  find(): string | undefined;
  /** Writes `<bundle>/config.json`. */
  writeBundle(container: RuntimeContainer): Promise<void>;
  /** Runs the bundle in the foreground until the process exits; resolves with its exit code. */
  run(container: RuntimeContainer, stdio: RunStdio): Promise<number>;
  /** Sends a signal to the container's process. */
  kill(id: string, signal: string): Promise<void>;
  /** The runtime's state of the container, or undefined when it knows none. */
  state(id: string): Promise<RuntimeState | undefined>;
  /** Starts it under a supervisor (output to `log`, `onExit` run at exit); returns once it runs. */
  supervise(
    container: RuntimeContainer,
    options: { log: string; onExit?: string[] },
  ): Promise<void>;
  /** The exit code a supervisor recorded, or undefined. */
  exitCode(container: RuntimeContainer): Promise<number | undefined>;
  /** True while the supervisor of a detached container is alive. */
  supervised?(container: RuntimeContainer): Promise<boolean>;
  /** Runs a process in the running container; resolves with its exit code. */
  exec(container: RuntimeContainer, process: ExecProcess, stdio: RunStdio): Promise<number>;
  /** Freezes (`true`) or thaws the container. */
  pause(id: string, paused: boolean): Promise<void>;
  /** `ps` output of the container's processes. */
  top(id: string, psArgs: string[]): Promise<string>;
  /** Forgets the container's runtime state (after it stopped). */
  delete(id: string): Promise<void>;
}
