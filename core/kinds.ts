/**
 * The kinds of capability a plugin can provide: platforms, image sources,
 * storage backends and commands. Core only knows these contracts; the
 * implementations live in `plugins/`.
 *
 * @module
 */

import type { ImageConfig, ImageRecord } from "./image.ts";

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

/** Options of {@link ImageStore.stageLayer}. */
export interface StageLayerOptions {
  /** Name of the input, used in error messages. */
  label: string;
}

/** A view of the index inside {@link ImageStore.transaction}. */
export interface StoreTransaction {
  /** The images; mutate this array or its records to change the index. */
  images: ImageRecord[];
  /** Makes a staged layer part of the store; returns its final directory. */
  commitLayer(layer: StagedLayer): Promise<string>;
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
  /** Throws away a staged layer. */
  discard(layer: StagedLayer): Promise<void>;
  /**
   * Runs `fn` under the store's exclusive lock; the index is written
   * atomically afterwards when `fn` changed it, and layers and blobs no image
   * uses any more are deleted.
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
  /** What the user wants: `import` a root filesystem. */
  purpose: "import";
  /** Path as given by the user (`-` for standard input). */
  path: string;
  /** The first bytes of the input (up to 4 KiB; fewer when it is shorter). */
  head: Uint8Array;
}

/** What a source produced from its input, staged but not committed. */
export interface SourceImage {
  /** Staged layers, lowest first. */
  layers: StagedLayer[];
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
}

/** An image source plugin kind (rootfs tarballs now, archives and registries later). */
export interface ImageSource {
  /** Source name (`tarball`, …). */
  name: string;
  /** True when this source understands the probed input. */
  detect(probe: SourceProbe): boolean;
  /** Reads the input and stages its layers. */
  read(context: SourceContext): Promise<SourceImage>;
}

/** Options accepted by `importImage`, also shown in the image config. */
export interface ImportOptions {
  /** Overrides of the default runtime configuration; `env` adds to the default `PATH`. */
  config?: Partial<ImageConfig>;
  /** Commit message, kept in history and metadata. */
  message?: string;
  /** Called as input bytes are read. */
  onProgress?: (read: number, total: number | undefined) => void;
}
