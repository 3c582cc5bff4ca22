/**
 * The kinds of capability a plugin can provide: platforms, image sources,
 * storage backends, snapshotters, container runtimes and commands. Core only knows these contracts; the
 * implementations live in `plugins/`.
 *
 * @module
 */

import type { ContainerRecord } from "./container.ts";
import type { ImageConfig, ImageRecord } from "./image.ts";

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

/** Device and special-file kinds a platform may be able to create. */
export type SpecialFileKind = "char" | "block" | "fifo";

/** What the host can do, and where Servin keeps its data there. */
export interface Platform {
  /** Platform name (`linux`, `windows`, `darwin`). */
  name: string;
  /** OCI `os` value of images made here. */
  os: string;
  /** OCI `architecture` value of images made here. */
  architecture: string;
  /** Default data root when neither `--root` nor `SERVIN_ROOT` is given. */
  defaultRoot(): string;
  /** True when file ownership from archives can be applied (root on Linux). */
  canChown: boolean;
  /** Creates a device node or FIFO; absent when the platform cannot. */
  mknod?: (path: string, kind: SpecialFileKind, mode: number, major: number, minor: number) => void;
  /** Why containers cannot run here, or undefined when they can. */
  cannotRun?: string;
  /** Builds the fallback root filesystem (a shell and the basics) into `dir`. */
  basicRootfs?: (dir: string) => Promise<void>;
  /** Mounts a filesystem (`mount(2)`); absent when the platform cannot. */
  mount?: (source: string, target: string, type: string, options: string) => void;
  /** Unmounts `target`; resolves quietly when nothing is mounted there. */
  unmount?: (target: string) => void;
  /** Sets an extended attribute (on a symlink itself, never its target). */
  setxattr?: (path: string, name: string, value: string) => void;
  /** Reads an extended attribute; undefined when unset. */
  getxattr?: (path: string, name: string) => string | undefined;
  /** True when layers are stored with overlayfs whiteouts (0:0 devices, opaque xattrs). */
  overlayWhiteouts?: boolean;
}

/** Limits that protect extraction from hostile archives. */
export interface ExtractLimits {
  /** Most entries an archive may hold. */
  maxEntries: number;
  /** Most bytes of one PAX or GNU long-name header. */
  maxHeaderBytes: number;
}

/** Default extraction limits. */
export const DEFAULT_LIMITS: Readonly<ExtractLimits> = Object.freeze({
  maxEntries: 1_000_000,
  maxHeaderBytes: 1024 * 1024,
});

/** A layer unpacked into staging, not yet visible in the store. */
export interface StagedLayer {
  /** sha256 of the uncompressed layer tar, hex. */
  diffId: string;
  /** Bytes of regular-file content (hardlinks counted once). */
  size: number;
  /** Entries in the layer. */
  entries: number;
  /** Staging directory holding the unpacked layer. */
  path: string;
}

/** A blob written to staging while it streamed, with its digest. */
export interface StagedBlob {
  /** sha256 of the bytes, hex. */
  digest: string;
  /** Byte count. */
  size: number;
  /** Staging file. */
  path: string;
}

/** A blob being written to staging as its stream is read. */
export interface BlobTee {
  /** The same bytes, passed on after they were written. */
  output: ReadableStream<Uint8Array>;
  /** The staged blob, once `output` was read to its end. */
  staged: Promise<StagedBlob>;
  /** Throws the staged file away (after a failure). */
  discard(): Promise<void>;
}

/** Options of {@link ImageStore.stageLayer}. */
export interface StageLayerOptions {
  /** Name of the input, used in error messages. */
  label: string;
  /**
   * The sha256 of exactly these bytes, when the caller has just computed it
   * (an uncompressed blob staged with its digest): the store then does not
   * hash them a second time.
   */
  knownDiffId?: string;
}

/** A private staging directory, garbage if this process dies before committing it. */
export interface StagedDir {
  /** The directory. */
  path: string;
}

/** A view of the index inside {@link ImageStore.transaction}. */
export interface StoreTransaction {
  /** The images; mutate this array or its records to change the index. */
  images: ImageRecord[];
  /** The containers; mutate this array or its records to change the container index. */
  containers: ContainerRecord[];
  /** Moves a staged directory to `containers/<id>`; returns the new path. */
  commitContainer(staged: StagedDir, id: string): Promise<string>;
  /** Makes a staged layer part of the store; returns its final directory. */
  commitLayer(layer: StagedLayer): Promise<string>;
  /** Moves a staged blob into the content store (a no-op when it is there already). */
  commitBlob(blob: StagedBlob): Promise<string>;
  /** Stores a blob by its sha256; returns the hex digest. */
  putBlob(bytes: Uint8Array): Promise<string>;
}

/** Local image storage: index, blob store and layer store. */
export interface ImageStore {
  /** The `images/` directory. */
  readonly path: string;
  /** All images in the index. */
  list(): Promise<ImageRecord[]>;
  /** Unpacks one layer tar stream into staging, hashing it as it streams. */
  stageLayer(tar: ReadableStream<Uint8Array>, options: StageLayerOptions): Promise<StagedLayer>;
  /** Writes a stream to a staged blob as it is read, hashing it. */
  stageBlob(source: ReadableStream<Uint8Array>): BlobTee;
  /** Throws away a staged layer, blob or directory (nothing happens once it was committed). */
  discard(staged: StagedLayer | StagedDir | StagedBlob): Promise<void>;
  /** True when the layer with this diff_id is in the store. */
  hasLayer(diffId: string): Promise<boolean>;
  /** Unpacked bytes of a stored layer, as the index records them (0 when unknown). */
  layerSize(diffId: string): Promise<number>;
  /** Path of a blob in the content store. */
  blobPath(digest: string): string;
  /** A fresh private staging directory. */
  stage(prefix: string): Promise<StagedDir>;
  /** All containers in the container index. */
  listContainers(): Promise<ContainerRecord[]>;
  /** Directory of a committed layer. */
  layerPath(diffId: string): string;
  /** Deletes a directory tree (a removed container's), making read-only parts writable first. */
  removeTree(path: string): Promise<void>;
  /**
   * Runs `fn` under the store's exclusive lock; the indexes are written
   * atomically afterwards when `fn` changed them, and layers and blobs no
   * image or container uses any more are deleted.
   */
  transaction<T>(fn: (tx: StoreTransaction) => T | Promise<T>): Promise<T>;
  /** Releases what the store holds open. */
  close(): Promise<void>;
}

/** What a storage backend gets to open a store. */
export interface StorageContext {
  /** Servin's data root. */
  root: string;
  /** The host platform. */
  platform: Platform;
  /** Extraction limits. */
  limits: ExtractLimits;
  /** Prints a warning (once per distinct text). */
  warn(message: string): void;
}

/** A storage backend plugin kind. */
export interface StorageBackend {
  /** Backend name (`local`). */
  name: string;
  /** Opens the store under `context.root`. */
  open(context: StorageContext): Promise<ImageStore>;
}

/** What a source sees of an input to decide whether it understands it. */
export interface SourceProbe {
  /** What the user wants: `import` a root filesystem, `load` an image archive, `pull` from a registry. */
  purpose: "import" | "load" | "pull";
  /** Path as given by the user (`-` for standard input). */
  path: string;
  /** The first bytes of the input (up to 4 KiB; fewer when it is shorter; none for a directory). */
  head: Uint8Array;
  /** True when the input is a directory (an OCI image layout). */
  directory?: boolean;
  /** Platform wanted from a multi-platform index (`os/arch[/variant]`); the host's by default. */
  platform?: string;
  /** Registry connection options, for `pull`. */
  registry?: RegistryOptions;
}

/** How to reach a registry. */
export interface RegistryOptions {
  /** Verify TLS (default); `false` also allows plain HTTP. */
  tlsVerify?: boolean;
  /** Directory of extra CA certificates. */
  certDir?: string;
}

/** One layer a source read. */
export interface SourceLayer {
  /** sha256 of the uncompressed tar, hex. */
  diffId: string;
  /** Bytes of unpacked content. */
  size: number;
  /** The unpacked layer, unless the store had it already. */
  staged?: StagedLayer;
  /** The layer blob as received. */
  blob: StagedBlob;
  /** Its OCI media type (tar, tar+gzip, tar+zstd). */
  mediaType: string;
}

/** What a source produced from its input, staged but not committed. */
export interface SourceImage {
  /** Layers, lowest first. */
  layers: SourceLayer[];
  /** The image config as received; core builds one when absent (root filesystems). */
  config?: StagedBlob;
  /** The manifest as received; core builds one when absent. */
  manifest?: StagedBlob;
  /** Tags found in the input (`name:tag`). */
  tags?: string[];
  /** `rootfs_type` for the index. */
  rootfsType: string;
  /** Metadata entries (`source`, …). */
  metadata: Record<string, string>;
}

/** What a source gets to read its input. */
export interface SourceContext {
  /** The probe that selected this source. */
  probe: SourceProbe;
  /** The whole input, from its first byte. */
  input: ReadableStream<Uint8Array>;
  /** The store to stage layers into. */
  store: ImageStore;
  /** Servin's data root (where credentials live). */
  root: string;
  /** Reports bytes received so far (sources that fetch their input). */
  progress?: ProgressFn;
  /** Prints a warning (the library's warning sink; stderr in the CLI). */
  warn?: (message: string) => void;
}

/** An image source plugin kind (rootfs tarballs now, archives and registries later). */
export interface ImageSource {
  /** Source name (`tarball`, …). */
  name: string;
  /** True when this source understands the probed input. */
  detect(probe: SourceProbe): boolean;
  /** Reads the input and stages its layers. */
  read(context: SourceContext): Promise<SourceImage[]>;
}

/** Options of `loadImages`. */
export interface LoadOptions {
  /** Platform to pick from multi-platform indexes (`os/arch[/variant]`). */
  platform?: string;
  /** Called as input bytes are read. */
  onProgress?: ProgressFn;
}

/** Options accepted by `importImage`, also shown in the image config. */
export interface ImportOptions {
  /** Overrides of the default runtime configuration; `env` adds to the default `PATH`. */
  config?: Partial<ImageConfig>;
  /** Commit message, kept in history and metadata. */
  message?: string;
  /** Called as input bytes are read. */
  onProgress?: ProgressFn;
}

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
}

/** Where a container's standard streams go. */
export interface RunStdio {
  /** Pass the caller's stdin (`-i`), or give the process none. */
  stdin: "inherit" | "null";
  /** The caller's terminal or pipes, or a log file path (detached). */
  output: "inherit" | { log: string };
}

/** An OCI runtime (runc, crun). */
export interface ContainerRuntime {
  /** Name (`runc`, `crun`). */
  name: string;
  /** Path of the binary, or undefined when it is not installed. */
  find(): string | undefined;
  /** Resolves a user (`name`, `uid`, `name:group`, `uid:gid`) against `/etc/passwd` and `/etc/group` in `roots` (topmost first). */
  resolveUser(
    user: string,
    roots: string[],
  ): Promise<{ uid: number; gid: number; additional_gids: number[] }>;
  /** Writes `<bundle>/config.json` for `container`. */
  writeBundle(container: ContainerRecord): Promise<void>;
  /** Runs the bundle in the foreground until the process exits; resolves with its exit code. */
  run(container: ContainerRecord, stdio: RunStdio): Promise<number>;
  /** Sends a signal to the container's process. */
  kill(id: string, signal: string): Promise<void>;
  /** Forgets the container's runtime state (after it stopped). */
  delete(id: string): Promise<void>;
}

/** What a sink writes: images, in the order and with the tags asked for. */
export interface SinkImage {
  /** The image. */
  image: ImageRecord;
  /** Tags to record in the output (all of the image's when it was named by ID). */
  tags: string[];
}

/** What a sink gets to write its output. */
export interface SinkContext {
  /** The images. */
  images: SinkImage[];
  /** The store to read blobs and layers from. */
  store: ImageStore;
  /** The host platform (xattrs for reading whiteouts). */
  platform: Platform;
  /** Appends bytes to the output. */
  write(chunk: Uint8Array): Promise<void>;
}

/** An output format plugin kind: image archives (`save`) and flattened filesystems (`export`). */
export interface ImageSink {
  /** Format name (`docker-archive`, `oci-archive`, `docker+oci`, `rootfs`). */
  name: string;
  /** Writes the whole output. */
  write(context: SinkContext): Promise<void>;
}
