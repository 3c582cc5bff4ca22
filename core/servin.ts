/**
 * The library API over a loaded registry: open a store, import, list,
 * inspect, tag and remove images. The CLI commands are thin wrappers of this.
 *
 * @module
 */

import { Containers } from "./containers.ts";
import { messageOf, ServinError } from "./errors.ts";
import {
  buildOciConfig,
  buildOciManifest,
  configSummary,
  DEFAULT_CONFIG,
  type ImageConfig,
  type ImageRecord,
  MEDIA_TYPES,
  mergeEnv,
  resolveImage,
  sha256Hex,
  shortId,
} from "./image.ts";
import {
  DEFAULT_LIMITS,
  type ExtractLimits,
  type ImageStore,
  type ImportOptions,
  type LoadOptions,
  type Platform,
  type ProgressFn,
  type RegistryOptions,
  type SinkImage,
  type SourceImage,
  type SourceProbe,
} from "./kinds.ts";
import {
  formatRegistryReference,
  normalizeReference,
  parseRegistryReference,
  tryNormalizeReference,
} from "./reference.ts";
import { type Plugin, Registry } from "./registry.ts";

/** Options of {@link Servin.open}. */
export interface OpenOptions {
  /** Plugins to load (built-in and third-party), unless `registry` is given. */
  plugins?: readonly Plugin[];
  /** An already loaded registry; the caller keeps disposing it. */
  registry?: Registry;
  /** Data root; defaults to `SERVIN_ROOT`, then the platform default. */
  root?: string;
  /** Storage backend name; `local` by default. */
  storage?: string;
  /** Extraction limits. */
  limits?: Partial<ExtractLimits>;
  /** Where warnings go; stderr by default. */
  warn?: (message: string) => void;
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

/** Host details {@link Servin.open} resolved. */
export interface ServinInfo {
  /** Data root. */
  root: string;
  /** Platform name. */
  platform: string;
  /** Loaded plugins, in setup order. */
  plugins: string[];
}

/**
 * An open Servin: a registry of plugins, the host platform and the image store.
 *
 * @example
 * ```ts ignore
 * import { openServin } from "../mod.ts";
 * const servin = await openServin({ root: "/tmp/servin-example" });
 * try {
 *   for (const image of await servin.listImages()) console.log(image.repo_tags);
 * } finally {
 *   await servin.close();
 * }
 * ```
 */
export class Servin {
  /** The loaded plugins and what they registered. */
  readonly registry: Registry;
  /** The host platform. */
  readonly platform: Platform;
  /** Data root. */
  readonly root: string;
  /** Containers: create, start, list, remove. */
  readonly containers: Containers;
  #store: ImageStore;
  #ownsRegistry: boolean;
  #warn: (message: string) => void;

  private constructor(
    registry: Registry,
    platform: Platform,
    root: string,
    store: ImageStore,
    ownsRegistry: boolean,
    warn: (message: string) => void,
  ) {
    this.registry = registry;
    this.platform = platform;
    this.root = root;
    this.#store = store;
    this.#ownsRegistry = ownsRegistry;
    this.#warn = warn;
    this.containers = new Containers(registry, store, platform, warn);
  }

  /** Loads the plugins (or takes `options.registry`), picks the platform and opens the store. */
  static async open(options: OpenOptions): Promise<Servin> {
    if (options.registry) return await Servin.#openWith(options.registry, options, false);
    const registry = await Registry.create(options.plugins ?? []);
    try {
      return await Servin.#openWith(registry, options, true);
    } catch (err) {
      await registry.dispose().catch(() => {});
      throw err;
    }
  }

  static async #openWith(
    registry: Registry,
    options: OpenOptions,
    owns: boolean,
  ): Promise<Servin> {
    const platform = await registry.first("platform:detect", { os: Deno.build.os });
    if (!platform) {
      throw new ServinError("unsupported", `No platform plugin supports "${Deno.build.os}"`);
    }
    const root = options.root || Deno.env.get("SERVIN_ROOT") || platform.defaultRoot();
    const backendName = options.storage ?? "local";
    const backend = registry.storages.get(backendName);
    if (!backend) {
      throw new ServinError("unsupported", `No storage backend named "${backendName}"`);
    }
    const seen = new Set<string>();
    const print = options.warn ?? ((m: string) => console.error(`servin: warning: ${m}`));
    const warn = (m: string) => {
      if (!seen.has(m)) seen.add(m), print(m);
    };
    const store = await backend.open({
      root,
      platform,
      limits: { ...DEFAULT_LIMITS, ...options.limits },
      warn,
    });
    return new Servin(registry, platform, root, store, owns, warn);
  }

  /** Where Servin keeps its data, the platform and the plugins. */
  info(): ServinInfo {
    return { root: this.root, platform: this.platform.name, plugins: [...this.registry.plugins] };
  }

  /**
   * The images, newest first, optionally filtered.
   *
   * @example
   * ```ts ignore
   * const recent = await servin.listImages({ reference: ["app*"], dangling: false });
   * ```
   */
  async listImages(filter: ListFilter = {}): Promise<ImageRecord[]> {
    const images = await this.#store.list();
    return images.filter((img) => matchesFilter(img, filter)).sort((a, b) =>
      b.created.localeCompare(a.created)
    );
  }

  /**
   * The image `name` refers to (tag, ID or unique ID prefix).
   *
   * @example
   * ```ts ignore
   * const image = await servin.getImage("alpine:3.20"); // or an ID prefix: "a1b2"
   * ```
   */
  async getImage(name: string): Promise<ImageRecord> {
    return resolveImage(await this.#store.list(), name);
  }

  /**
   * Imports a root-filesystem tarball (plain, gzip or zstd; `-` reads
   * `input` from the given stream) as a one-layer image tagged `reference`.
   *
   * @example
   * ```ts ignore
   * await servin.importImage("rootfs.tar.gz", "app:1", { config: { cmd: ["/bin/app"] } });
   * ```
   */
  async importImage(
    input: ImageInput,
    reference: string,
    options: ImportOptions = {},
  ): Promise<ImageRecord> {
    const tag = normalizeReference(reference);
    const { path, images } = await this.#read("import", input, options, tag);
    const config: ImageConfig = {
      ...DEFAULT_CONFIG,
      ...options.config,
      env: mergeEnv(DEFAULT_CONFIG.env, options.config?.env ?? []),
    };
    const [record] = await this.#commit(images, path, {
      tags: [tag],
      config,
      createdBy: `servin image import ${path} ${tag}`,
      comment: options.message,
    });
    return record!;
  }

  /**
   * Loads every image of an archive (docker-archive, or an OCI layout as a
   * tar or a directory), with the tags it holds.
   *
   * @example
   * ```ts ignore
   * for (const { image, tags } of await servin.loadImages("images.tar")) console.log(image.id, tags);
   * ```
   */
  async loadImages(input: ImageInput, options: LoadOptions = {}): Promise<LoadedImage[]> {
    const { path, images } = await this.#read("load", input, options, "");
    const records = await this.#commit(images, path, {});
    return records.map((image, i) => ({
      image,
      tags: (images[i]!.tags ?? []).filter((t) => image.repo_tags.includes(t)),
    }));
  }

  /**
   * Pulls `reference` (`alpine`, `host:port/path:tag`, `name@sha256:…`) from
   * its registry; it is tagged with its full name (`docker.io/library/alpine:latest`).
   *
   * @example
   * ```ts ignore
   * const image = await servin.pullImage("localhost:5000/team/app:1.4", { platform: "linux/arm64" });
   * ```
   */
  async pullImage(reference: string, options: PullOptions = {}): Promise<ImageRecord> {
    const ref = parseRegistryReference(reference);
    const full = formatRegistryReference(ref);
    const registry = { tlsVerify: options.tlsVerify, certDir: options.certDir };
    const { images } = await this.#read("pull", full, { ...options, registry }, full);
    const [record] = await this.#commit(images, full, { tags: ref.tag ? [full] : [] });
    return record!;
  }

  /**
   * Pushes image `name` to `destination` (default: `name`, which must then be a registry reference); returns the manifest digest.
   *
   * @example
   * ```ts ignore
   * const digest = await servin.pushImage("app:1", "registry.example.com/team/app:1");
   * ```
   */
  async pushImage(name: string, destination?: string, options: PushOptions = {}): Promise<string> {
    const image = await this.getImage(name);
    const ref = parseRegistryReference(destination ?? name);
    if (ref.digest && !ref.tag) {
      throw new ServinError(
        "invalid-argument",
        `Cannot push to a digest reference: ${destination ?? name}`,
      );
    }
    const digest = await this.registry.first("image:push", {
      image,
      reference: formatRegistryReference(ref),
      store: this.#store,
      root: this.root,
      registry: options,
      progress: options.onProgress,
    });
    if (!digest) {
      throw new ServinError("unsupported", "Cannot push: no registry plugin is installed");
    }
    return digest;
  }

  /**
   * Checks `credentials` against `registry` and stores them (mode 0600).
   *
   * @example
   * ```ts ignore
   * await servin.login("registry.example.com", { username: "ci", password: Deno.env.get("TOKEN")! });
   * ```
   */
  async login(
    registry: string,
    credentials: { username: string; password: string },
    options: RegistryOptions = {},
  ): Promise<void> {
    const done = await this.registry.first("registry:login", {
      registry,
      root: this.root,
      credentials,
      options,
    });
    if (!done) {
      throw new ServinError("unsupported", "Cannot log in: no registry plugin is installed");
    }
  }

  /**
   * Forgets the credentials for `registry`; false when there were none.
   *
   * @example
   * ```ts ignore
   * await servin.logout("registry.example.com");
   * ```
   */
  async logout(registry: string): Promise<boolean> {
    return await this.registry.first("registry:logout", {
      registry,
      root: this.root,
      options: {},
    }) ??
      false;
  }

  /** Finds the source for `input` and lets it stage what it holds. */
  async #read(
    purpose: "import" | "load" | "pull",
    input: ImageInput,
    options: ImportOptions & LoadOptions & { registry?: RegistryOptions },
    reference: string,
  ): Promise<{ path: string; images: SourceImage[] }> {
    const verb = purpose;
    const opened = typeof input !== "string"
      ? input
      : purpose === "pull"
      ? { path: input, stream: ReadableStream.from<Uint8Array>([]) }
      : (await this.registry.first("input:open", { path: input, purpose })) ??
        await openInput(input, verb);
    if (opened.directory && purpose === "import") {
      throw new ServinError(
        "invalid-argument",
        `Cannot import "${opened.path}": it is a directory`,
      );
    }
    const stream = countBytes(opened.stream, opened.size, options.onProgress);
    const [head, whole] = await peek(stream, 4096);
    const probe: SourceProbe = {
      purpose,
      path: opened.path,
      head,
      directory: opened.directory,
      registry: options.registry,
      platform: options.platform ?? `${this.platform.os}/${this.platform.architecture}`,
    };
    const source = await this.registry.first("source:detect", probe);
    if (!source) {
      await whole.cancel().catch(() => {});
      if (purpose === "pull") {
        throw new ServinError(
          "unsupported",
          `Cannot pull "${opened.path}": no registry source is installed (import a tarball with "servin image import")`,
        );
      }
      throw new ServinError(
        "invalid-archive",
        `Cannot ${verb} "${opened.path}": not a tar archive (plain, gzip or zstd)`,
      );
    }
    try {
      await this.registry.series("image:import:before", {
        reference,
        path: opened.path,
        source: source.name,
        options,
      });
    } catch (err) {
      await whole.cancel().catch(() => {});
      throw err;
    }
    try {
      return {
        path: opened.path,
        images: await source.read({
          probe,
          input: whole,
          store: this.#store,
          root: this.root,
          progress: options.onProgress,
          warn: this.#warn,
        }),
      };
    } catch (err) {
      await whole.cancel().catch(() => {});
      const code = err instanceof ServinError ? err.code : "internal";
      throw new ServinError(code, `Cannot ${verb} "${opened.path}": ${messageOf(err)}`, {
        cause: err,
      });
    }
  }

  /** Commits what a source staged: blobs, layers and one index record per image. */
  async #commit(
    images: SourceImage[],
    path: string,
    spec: { tags?: string[]; config?: ImageConfig; createdBy?: string; comment?: string },
  ): Promise<ImageRecord[]> {
    const staged = images.flatMap((img) => [
      ...img.layers.flatMap((l) => l.staged ? [l.staged, l.blob] : [l.blob]),
      ...(img.config ? [img.config] : []),
      ...(img.manifest ? [img.manifest] : []),
    ]);
    try {
      const records: ImageRecord[] = [];
      for (const image of images) {
        records.push(await this.#commitOne(image, path, spec));
      }
      for (const record of records) {
        const after = await this.registry.parallel("image:import:after", { image: record });
        for (const e of after.errors) this.#warn(e.message);
      }
      return records;
    } finally {
      for (const s of staged) await this.#store.discard(s);
    }
  }

  async #commitOne(
    image: SourceImage,
    path: string,
    spec: { tags?: string[]; config?: ImageConfig; createdBy?: string; comment?: string },
  ): Promise<ImageRecord> {
    let configBytes: Uint8Array;
    if (image.config) configBytes = await Deno.readFile(image.config.path);
    else {
      configBytes = buildOciConfig({
        config: spec.config ?? DEFAULT_CONFIG,
        diffIds: image.layers.map((l) => l.diffId),
        created: new Date(),
        architecture: this.platform.architecture,
        os: this.platform.os,
        createdBy: spec.createdBy ?? "servin",
        comment: spec.comment,
      });
    }
    const oci = JSON.parse(new TextDecoder().decode(configBytes));
    const configDigest = sha256Hex(configBytes);
    const manifestBytes = image.manifest ? undefined : buildOciManifest(
      { mediaType: MEDIA_TYPES.config, digest: `sha256:${configDigest}`, size: configBytes.length },
      image.layers.map((l) => ({
        mediaType: l.mediaType,
        digest: `sha256:${l.blob.digest}`,
        size: l.blob.size,
      })),
    );
    const tags = (spec.tags ?? image.tags ?? []).map(normalizeReference);
    return await this.#store.transaction(async (tx) => {
      const id = image.config ? await tx.commitBlob(image.config) : await tx.putBlob(configBytes);
      const manifest = image.manifest
        ? await tx.commitBlob(image.manifest)
        : await tx.putBlob(manifestBytes!);
      let rootfsPath = "";
      for (const layer of image.layers) {
        rootfsPath = layer.staged
          ? await tx.commitLayer(layer.staged)
          : this.#store.layerPath(layer.diffId);
        await tx.commitBlob(layer.blob);
      }
      for (const tag of tags) untagEverywhere(tx.images, tag);
      const existing = tx.images.find((img) => img.id === id);
      if (existing) {
        existing.repo_tags.push(...tags.filter((t) => !existing.repo_tags.includes(t)));
        return structuredClone(existing);
      }
      const created = typeof oci.created === "string" && !Number.isNaN(Date.parse(oci.created))
        ? new Date(oci.created).toISOString()
        : new Date().toISOString();
      const record: ImageRecord = {
        id,
        repo_tags: tags,
        created,
        size: image.layers.reduce((n, l) => n + l.size, 0),
        layers: image.layers.map((l) => l.diffId),
        layer_sizes: image.layers.map((l) => l.size),
        rootfs_type: image.rootfsType,
        rootfs_path: rootfsPath,
        config: spec.config ?? configSummary(oci),
        metadata: {
          ...image.metadata,
          original_path: path,
          ...(spec.comment ? { comment: spec.comment } : {}),
        },
        manifest,
        blobs: [id, manifest, ...image.layers.map((l) => l.blob.digest)],
      };
      tx.images.push(record);
      return structuredClone(record);
    });
  }

  /**
   * Writes the images named in `names` to `output` as an archive of
   * `format` (`docker+oci` by default, `docker-archive`, `oci-archive`). An
   * image named by tag is saved with that tag; one named by ID with all its
   * tags.
   *
   * @example
   * ```ts ignore
   * await servin.saveImages(["app:1", "app:2"], "/tmp/app.tar", { format: "oci-archive" });
   * ```
   */
  async saveImages(names: string[], output: WriteTarget, options: SaveOptions = {}): Promise<void> {
    const format = options.format ?? "docker+oci";
    const sink = this.registry.sinks.get(format);
    if (!sink || format.startsWith("rootfs")) {
      throw new ServinError(
        "invalid-argument",
        `Unknown format "${format}" (use docker+oci, docker-archive or oci-archive)`,
      );
    }
    const all = await this.#store.list();
    const images: SinkImage[] = [];
    for (const name of names) {
      const image = resolveImage(all, name);
      const tag = tryNormalizeReference(name);
      const tags = tag && image.repo_tags.includes(tag) ? [tag] : image.repo_tags;
      const same = images.find((i) => i.image.id === image.id);
      if (same) same.tags.push(...tags.filter((t) => !same.tags.includes(t)));
      else images.push({ image, tags: [...tags] });
    }
    await writeOutput(
      output,
      (write) => sink.write({ images, store: this.#store, platform: this.platform, write }),
    );
  }

  /**
   * Writes the flattened filesystem of image `name` to `output` as a tarball (gzip with `gzip`).
   *
   * @example
   * ```ts ignore
   * await servin.exportImage("app:1", "/tmp/app-rootfs.tar.gz", { gzip: true });
   * ```
   */
  async exportImage(
    name: string,
    output: WriteTarget,
    options: { gzip?: boolean } = {},
  ): Promise<void> {
    const image = await this.getImage(name);
    const sink = this.registry.sinks.get(options.gzip ? "rootfs+gzip" : "rootfs");
    if (!sink) throw new ServinError("unsupported", "No export format is installed");
    await writeOutput(output, (write) =>
      sink.write({
        images: [{ image, tags: image.repo_tags }],
        store: this.#store,
        platform: this.platform,
        write,
      }));
  }

  /**
   * The history of image `name`, newest first, with the size each step added.
   *
   * @example
   * ```ts ignore
   * for (const step of await servin.history("app:1")) console.log(step.created_by, step.size);
   * ```
   */
  async history(name: string): Promise<HistoryEntry[]> {
    const image = await this.getImage(name);
    const oci = JSON.parse(await Deno.readTextFile(this.#store.blobPath(image.id)));
    const steps = Array.isArray(oci.history) ? oci.history : [];
    let layer = 0;
    const out: HistoryEntry[] = steps.map((h: Record<string, unknown>) => {
      const empty = h.empty_layer === true;
      const size = empty ? 0 : image.layer_sizes?.[layer] ?? 0;
      if (!empty) layer++;
      return {
        created: typeof h.created === "string" ? h.created : "",
        created_by: typeof h.created_by === "string" ? h.created_by : "",
        comment: typeof h.comment === "string" ? h.comment : "",
        size,
        empty_layer: empty,
      };
    });
    return out.reverse();
  }

  /**
   * Removes dangling images (untagged), or with `all` every image no
   * container uses; their layers and blobs go with them when nothing else
   * uses them.
   *
   * @example
   * ```ts ignore
   * const { deleted, reclaimed } = await servin.pruneImages({ all: true });
   * ```
   */
  async pruneImages(
    options: { all?: boolean } = {},
  ): Promise<{ deleted: string[]; reclaimed: number }> {
    const before = await this.diskUsage();
    const deleted = await this.#store.transaction((tx) => {
      const used = new Set(tx.containers.map((c) => c.image_id));
      const doomed = tx.images.filter((img) =>
        !used.has(img.id) && (options.all || img.repo_tags.length === 0)
      );
      tx.images.splice(0, tx.images.length, ...tx.images.filter((img) => !doomed.includes(img)));
      return doomed.map((img) => img.id);
    });
    const after = await this.diskUsage();
    return { deleted, reclaimed: Math.max(0, before.layers - after.layers) };
  }

  /**
   * Bytes the images hold, shared (layers used by several images) and unique.
   *
   * @example
   * ```ts ignore
   * const { layers, images } = await servin.diskUsage();
   * ```
   */
  async diskUsage(): Promise<DiskUsage> {
    const images = await this.#store.list();
    const users = new Map<string, number>();
    const sizes = new Map<string, number>();
    for (const img of images) {
      img.layers.forEach((l, i) => {
        users.set(l, (users.get(l) ?? 0) + 1);
        sizes.set(l, img.layer_sizes?.[i] ?? (img.layers.length === 1 ? img.size : 0));
      });
    }
    const perImage = images.map((img) => {
      let shared = 0;
      let unique = 0;
      img.layers.forEach((l) => {
        if ((users.get(l) ?? 0) > 1) shared += sizes.get(l) ?? 0;
        else unique += sizes.get(l) ?? 0;
      });
      return {
        id: img.id,
        repo_tags: img.repo_tags,
        size: img.size,
        shared_size: shared,
        unique_size: unique,
      };
    });
    const containers = await this.#store.listContainers();
    return {
      images: perImage,
      layers: [...sizes.values()].reduce((a, b) => a + b, 0),
      containers: containers.length,
    };
  }

  /**
   * Removes `name`: a tag of an image with several tags is only untagged;
   * otherwise the image is deleted with the layers no other image uses.
   * Deleting by ID an image that has several tags needs `force`.
   *
   * @example
   * ```ts ignore
   * const { untagged, deleted } = await servin.removeImage("app:1", { force: true });
   * ```
   */
  async removeImage(name: string, options: { force?: boolean } = {}): Promise<RemoveResult> {
    let before: ImageRecord | undefined;
    let result: RemoveResult = { untagged: [] };
    await this.#store.transaction(async (tx) => {
      const image = resolveImage(tx.images, name);
      before = structuredClone(image);
      const tag = image.repo_tags.find((t) => t === tryNormalizeReference(name));
      if (tag && image.repo_tags.length > 1) {
        await this.registry.series("image:remove:before", { image, tag });
        image.repo_tags = image.repo_tags.filter((t) => t !== tag);
        result = { untagged: [tag] };
        return;
      }
      if (!tag && image.repo_tags.length > 1 && !options.force) {
        throw new ServinError(
          "conflict",
          `Cannot remove image ${shortId(image.id)}: it is tagged ${
            image.repo_tags.join(", ")
          } (use -f to remove all)`,
        );
      }
      const users = Containers.usersOf(tx.containers, image.id);
      if (users.length && !options.force) {
        throw new ServinError(
          "conflict",
          `Cannot remove image ${shortId(image.id)}: containers use it: ${
            users.join(", ")
          } (use -f to remove it anyway; they keep its layers)`,
        );
      }
      await this.registry.series("image:remove:before", { image });
      tx.images.splice(tx.images.indexOf(image), 1);
      result = { untagged: [...image.repo_tags], deleted: image.id };
    });
    if (before) {
      const after = await this.registry.parallel("image:remove:after", {
        image: before,
        untagged: result.untagged,
        deleted: result.deleted !== undefined,
      });
      for (const e of after.errors) this.#warn(e.message);
    }
    return result;
  }

  /**
   * Tags the image `source` refers to as `target` (`:latest` implied), moving the tag if another image has it.
   *
   * @example
   * ```ts ignore
   * await servin.tagImage("app:1", "app:stable");
   * ```
   */
  async tagImage(source: string, target: string): Promise<ImageRecord> {
    const tag = normalizeReference(target);
    return await this.#store.transaction((tx) => {
      const image = resolveImage(tx.images, source);
      if (!image.repo_tags.includes(tag)) {
        untagEverywhere(tx.images, tag);
        image.repo_tags.push(tag);
      }
      return structuredClone(image);
    });
  }

  /** Same as {@link Servin.close}, for `await using servin = await openServin()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Releases the store and disposes the plugins. */
  async close(): Promise<void> {
    try {
      await this.#store.close();
    } finally {
      if (this.#ownsRegistry) await this.registry.dispose();
    }
  }
}

function untagEverywhere(images: ImageRecord[], tag: string): void {
  for (const img of images) img.repo_tags = img.repo_tags.filter((t) => t !== tag);
}

/** Where `save` and `export` write: a file path (written to a temporary name, then renamed) or a stream. */
export type WriteTarget = string | WritableStream<Uint8Array>;

/** Options of {@link Servin.saveImages}. */
export interface SaveOptions {
  /** `docker+oci` (default), `docker-archive` or `oci-archive`. */
  format?: string;
}

/** Options of {@link Servin.pullImage}. */
export interface PullOptions extends RegistryOptions {
  /** Platform to pick from multi-platform images (`os/arch[/variant]`). */
  platform?: string;
  /** Called as bytes arrive. */
  onProgress?: ProgressFn;
}

/** Options of {@link Servin.pushImage}. */
export interface PushOptions extends RegistryOptions {
  /** Called as bytes are sent. */
  onProgress?: ProgressFn;
}

/** An image a load brought in, with the tags the archive gave it. */
export interface LoadedImage {
  /** The image's record (with all its tags). */
  image: ImageRecord;
  /** The tags from the archive. */
  tags: string[];
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

async function writeOutput(
  output: WriteTarget,
  fn: (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>,
): Promise<void> {
  if (typeof output !== "string") {
    const writer = output.getWriter();
    try {
      await fn((chunk) => writer.write(chunk));
      await writer.close();
    } finally {
      writer.releaseLock();
    }
    return;
  }
  const dir = output.includes("/") ? output.slice(0, output.lastIndexOf("/")) || "/" : ".";
  const tmp = await Deno.makeTempFile({ dir, prefix: ".servin-" }).catch((err) => {
    throw new ServinError("invalid-argument", `Cannot write "${output}": ${messageOf(err)}`);
  });
  const file = await Deno.open(tmp, { write: true, truncate: true });
  try {
    await fn(async (chunk) => {
      for (let off = 0; off < chunk.length;) off += await file.write(chunk.subarray(off));
    });
    file.close();
    await Deno.chmod(tmp, 0o644);
    await Deno.rename(tmp, output);
  } catch (err) {
    try {
      file.close();
    } catch { /* closed */ }
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

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

/** Opens a file or directory, or standard input for `-`. */
async function openInput(path: string, verb: string): Promise<StreamInput> {
  if (path === "-") return { path, stream: Deno.stdin.readable };
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(path);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound ? "no such file" : messageOf(err);
    throw new ServinError("not-found", `Cannot ${verb} "${path}": ${why}`);
  }
  if (stat.isDirectory) return { path, stream: ReadableStream.from([]), directory: true };
  if (!stat.isFile) {
    throw new ServinError("invalid-argument", `Cannot ${verb} "${path}": not a regular file`);
  }
  const file = await Deno.open(path, { read: true });
  return { path, stream: file.readable, size: stat.size };
}

function countBytes(
  stream: ReadableStream<Uint8Array>,
  total: number | undefined,
  onProgress: ImportOptions["onProgress"],
): ReadableStream<Uint8Array> {
  if (!onProgress) return stream;
  let read = 0;
  return stream.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        read += chunk.byteLength;
        onProgress(read, total);
        controller.enqueue(chunk);
      },
    }),
  );
}

/** Reads up to `n` bytes from the front of `stream` and returns them with a stream of the whole input. */
async function peek(
  stream: ReadableStream<Uint8Array>,
  n: number,
): Promise<[Uint8Array, ReadableStream<Uint8Array>]> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let have = 0;
  while (have < n) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    have += value.byteLength;
  }
  const head = new Uint8Array(Math.min(have, n));
  let off = 0;
  for (const c of chunks) {
    if (off >= head.length) break;
    const part = c.subarray(0, head.length - off);
    head.set(part, off);
    off += part.length;
  }
  const whole = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(c);
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return [head, whole];
}

function matchesFilter(img: ImageRecord, filter: ListFilter): boolean {
  if (filter.dangling !== undefined && (img.repo_tags.length === 0) !== filter.dangling) {
    return false;
  }
  for (const label of filter.label ?? []) {
    const eq = label.indexOf("=");
    const key = eq < 0 ? label : label.slice(0, eq);
    if (!(key in img.config.labels)) return false;
    if (eq >= 0 && img.config.labels[key] !== label.slice(eq + 1)) return false;
  }
  const refs = filter.reference ?? [];
  if (refs.length > 0) {
    return img.repo_tags.some((tag) => refs.some((pattern) => matchReference(tag, pattern)));
  }
  return true;
}

function matchReference(tag: string, pattern: string): boolean {
  const glob = new RegExp(
    "^" + pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(
      /\?/g,
      "[^/]",
    ) + "$",
  );
  const colon = tag.lastIndexOf(":");
  return glob.test(tag) || glob.test(tag.slice(0, colon));
}
