/**
 * The Servin facade: loads the plugins, picks the platform, opens the store
 * and the container service, and wires the kinds together for each verb.
 * Feature logic lives in the plugins it asks.
 *
 * @module
 */

import type {
  AppendOptions,
  BuildOptions,
  CommitOptions,
  Containers,
  CopyLocation,
  DiskUsage,
  HistoryEntry,
  ImageContext,
  ImageInput,
  ImportOptions,
  IngestContext,
  IngestRequest,
  ListFilter,
  LoadedImage,
  LoadOptions,
  OpenOptions,
  PullOptions,
  PushOptions,
  RemoveResult,
  SaveOptions,
  Servin,
  ServinInfo,
  WriteTarget,
} from "./api.ts";
import { ServinError } from "./errors.ts";
import type { IngestVerb } from "./hooks.ts";
import { DEFAULT_LIMITS, type ImageConfig, type ImageRecord, resolveImage } from "./image.ts";
import type {
  CheckOptions,
  Limits,
  Platform,
  Problem,
  RegistryOptions,
  Store,
  TrustContext,
  TrustOptions,
  VerifiedSignature,
  WarnFn,
} from "./kinds.ts";
import {
  formatRegistryReference,
  normalizeReference,
  parseRegistryReference,
} from "./reference.ts";
import { type Plugin, Registry } from "./registry.ts";

/** What {@link ServinHandle.open} made, for the constructor. */
type Opened = Omit<ServinOpenOptions, "platform"> & Pick<ServinHandle, Parts> & {
  owns: boolean;
  warn: WarnFn;
  limits: Limits;
};
type Parts = "registry" | "platform" | "root" | "store";

/** Options of {@link ServinHandle.open}. */
export interface ServinOpenOptions extends OpenOptions {
  /** Plugins to load (built-in and third-party), unless `registry` is given. */
  plugins?: readonly Plugin[];
  /** An already loaded registry; the caller keeps disposing it. */
  registry?: Registry;
}

/**
 * An open Servin: a registry of plugins, the host platform and the store.
 *
 * @example
 * ```ts ignore
 * import { openServin } from "../mod.ts";
 * await using servin = await openServin({ root: "/tmp/servin-example" });
 * for (const image of await servin.listImages()) console.log(image.repo_tags);
 * ```
 */
export class ServinHandle implements Servin {
  /** The loaded plugins and what they registered. */
  readonly registry: Registry;
  /** The host platform. */
  readonly platform: Platform;
  /** Data root. */
  readonly root: string;
  /** The store. */
  readonly store: Store;
  /** Containers, as the container plugin provides them. */
  readonly containers: Containers;
  /** What `open` made: whether the registry is ours to dispose, the warning sink, the limits. */
  #o: Opened;
  #trust: TrustContext;
  /** What the `images` kind's operations get. */
  #ctx: ImageContext;
  #images = () => this.registry.get("images");

  private constructor(o: Opened) {
    ({ registry: this.registry, platform: this.platform, root: this.root, store: this.store } = o);
    this.#o = o;
    const { registry: kinds, root, warn } = o, requirements = () => kinds.all("requirement");
    this.#trust = { root, signaturePolicy: o.signaturePolicy, requirements };
    this.#ctx = { servin: this, kinds, warn };
    const [found, defaults] = [kinds.all("containers")[0], o.defaults ?? {}];
    this.containers = found?.open({ servin: this, kinds, root, defaults, warn }) ?? noContainers();
  }

  /** Loads the plugins (or takes `options.registry`), picks the platform and opens the store. */
  static async open(options: ServinOpenOptions): Promise<ServinHandle> {
    const owns = !options.registry;
    const registry = options.registry ?? await Registry.create(options.plugins ?? []);
    try {
      const os = options.platform ?? Deno.build.os;
      const platform = registry.all("platform").find((p) => p.name === os);
      if (!platform) throw new ServinError("unsupported", `No platform plugin supports "${os}"`);
      const root = options.root || platform.defaultRoot();
      const seen = new Set<string>();
      const print = options.warn ?? ((m: string) => console.error(`servin: warning: ${m}`));
      const warn = (m: string) => {
        if (!seen.has(m)) seen.add(m), print(m);
      };
      const limits = { ...DEFAULT_LIMITS, ...options.limits };
      const backend = registry.get("storage", options.storage);
      const store = await backend.open({ root, platform, limits, warn });
      return new ServinHandle({ ...options, registry, platform, root, store, owns, warn, limits });
    } catch (err) {
      if (owns) await registry.dispose().catch(() => {});
      throw err;
    }
  }

  /** Where Servin keeps its data, the platform and the plugins. */
  info(): ServinInfo {
    const { root, signaturePolicy } = this.#trust, plugins = [...this.registry.plugins];
    return { root, platform: this.platform.name, plugins, signaturePolicy };
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
    return await this.#images().listImages(this.#ctx, filter);
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
    return resolveImage(await this.store.index.list(), name);
  }

  /**
   * Imports a root-filesystem tarball (plain, gzip or zstd; `-` reads
   * stdin) as a one-layer image tagged `reference`.
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
    const [loaded] = await this.#ingest("import", input, options, {
      tags: [tag],
      config: { ...options.config } as ImageConfig,
      history: { createdBy: "", comment: options.message },
    });
    return loaded!.image;
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
    return await this.#ingest("load", input, options, {});
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
    const [loaded] = await this.#ingest("pull", full, options, { tags: ref.tag ? [full] : [] });
    return loaded!.image;
  }

  /**
   * Pushes image `name` to `destination` (default: `name`, which must then
   * be a registry reference); returns the manifest digest.
   *
   * @example
   * ```ts ignore
   * const digest = await servin.pushImage("app:1", "registry.example.com/team/app:1");
   * ```
   */
  async pushImage(name: string, destination?: string, options: PushOptions = {}): Promise<string> {
    return await this.#images().pushImage(this.#ctx, name, destination, options);
  }

  /**
   * Copies images between locations, as skopeo does: `docker://REF`,
   * `docker-archive:PATH`, `oci-archive:PATH`, `oci:DIR` and `servin:NAME`
   * (this store). Returns the IDs of the images copied.
   *
   * @example
   * ```ts ignore
   * await servin.copy("docker://localhost:5000/app:1", "oci-archive:/tmp/app.tar");
   * ```
   */
  async copy(from: CopyLocation, to: CopyLocation, options: PullOptions = {}): Promise<string[]> {
    return await this.#images().copy(this.#ctx, from, to, options);
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
    await this.registry.get("registry").login(this.root, registry, credentials, options);
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
    return await this.registry.get("registry").logout(this.root, registry);
  }

  /**
   * Signs the manifest `reference` names in its registry with cosign's key
   * format and attaches the signature as sigstore does; returns the digest.
   *
   * @example
   * ```ts ignore
   * await servin.sign("localhost:5000/app:1", { key: pem, passphrase: "secret" });
   * ```
   */
  async sign(reference: string, options: TrustOptions): Promise<string> {
    return await this.registry.get("trust").sign(reference, options, this.#trust);
  }

  /**
   * The signatures of `reference` valid for the public key in `options.key`
   * and the identity; throws `untrusted` naming the reason when none is.
   *
   * @example
   * ```ts ignore
   * const [signature] = await servin.verify("localhost:5000/app:1", { key: publicPem });
   * ```
   */
  async verify(reference: string, options: TrustOptions): Promise<VerifiedSignature[]> {
    return await this.registry.get("trust").verify(reference, options, this.#trust);
  }

  /**
   * Stores `base` plus one step (a layer tar stream, or none) with the given
   * config and history entry, as `commit` and `build` do; canonical, so the
   * same inputs give the same image ID.
   *
   * @example
   * ```ts ignore
   * const image = await servin.append({ base: "app:1", config: { Cmd: ["/app"] }, history: {}, created: new Date(0) });
   * ```
   */
  async append(options: AppendOptions): Promise<ImageRecord> {
    const image = await this.registry.get("ingest").append(options, this.#ingestContext());
    await this.#committed(options.verb ?? "commit", [{ image, tags: [] }]);
    return image;
  }

  /**
   * Builds the image a Containerfile describes and tags it with `options.tags`;
   * progress lines (BuildKit's plain format) go to `options.log`.
   *
   * @example
   * ```ts ignore
   * const image = await servin.build({ context: ".", tags: ["app:latest"], timestamp: 0 });
   * ```
   */
  async build(options: BuildOptions): Promise<ImageRecord> {
    return await this.registry.get("builder").build(this, options);
  }

  /**
   * Stores a container's changes to its image as a new image, as `docker
   * commit` does: the container's command, environment and labels in its
   * config, `changes` applied; running, it is paused meanwhile unless `pause` is false.
   *
   * @example
   * ```ts ignore
   * const image = await servin.commit("web", { reference: "web:snapshot", changes: ["CMD /start"] });
   * ```
   */
  async commit(container: string, options: CommitOptions = {}): Promise<ImageRecord> {
    return await this.containers.commit(container, options);
  }

  /** Hands the input to the ingest pipeline, then tells the plugins what was stored. */
  async #ingest(
    verb: IngestVerb,
    input: ImageInput,
    options: ImportOptions & PullOptions,
    spec: Pick<IngestRequest, "tags" | "config" | "history">,
  ): Promise<LoadedImage[]> {
    const loaded = await this.registry.get("ingest").ingest({
      verb,
      input,
      platform: options.platform ?? `${this.platform.os}/${this.platform.architecture}`,
      ...spec,
      options,
    }, this.#ingestContext());
    return await this.#committed(verb, loaded);
  }

  #ingestContext(): IngestContext {
    const { store, platform, root, registry: kinds } = this, trust = this.#trust;
    return {
      ...{ store, platform, root, kinds, limits: this.#o.limits, warn: this.#o.warn },
      beforeCommit: (p) => kinds.series("image:commit:before", { ...p, trust }),
    };
  }

  async #committed(verb: IngestVerb, loaded: LoadedImage[]): Promise<LoadedImage[]> {
    for (const { image } of loaded) {
      const after = await this.registry.parallel("image:commit:after", { verb, image });
      for (const e of after.errors) this.#o.warn(e.message);
    }
    return loaded;
  }

  /**
   * Saves images to an archive: `docker+oci` (default), `docker-archive` or
   * `oci-archive`. An image named by tag is saved with that tag, one named
   * by ID with all its tags.
   *
   * @example
   * ```ts ignore
   * await servin.saveImages(["app:1"], "/tmp/app.tar", { format: "oci-archive" });
   * ```
   */
  async saveImages(names: string[], output: WriteTarget, options: SaveOptions = {}): Promise<void> {
    await this.#images().saveImages(this.#ctx, names, output, options);
  }

  /**
   * Writes the flattened filesystem of image `name` to `output` as a tarball (gzip with `gzip`).
   *
   * @example
   * ```ts ignore
   * await servin.exportImage("app:1", "/tmp/app-rootfs.tar.gz", { gzip: true });
   * ```
   */
  async exportImage(name: string, output: WriteTarget, o: { gzip?: boolean } = {}): Promise<void> {
    await this.#images().exportImage(this.#ctx, name, output, o);
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
    return await this.#images().history(this.#ctx, name);
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
    return await this.#images().pruneImages(this.#ctx, options);
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
    return await this.#images().diskUsage(this.#ctx);
  }

  /**
   * Removes `name`: a tag of an image with several tags is only untagged;
   * otherwise the image is deleted with the layers no other image uses.
   * Deleting by ID an image that has several tags, or one a container
   * uses, needs `force`. The veto hook runs before the store is locked; the
   * decision is checked again under the lock.
   *
   * @example
   * ```ts ignore
   * const { untagged, deleted } = await servin.removeImage("app:1", { force: true });
   * ```
   */
  async removeImage(name: string, options: { force?: boolean } = {}): Promise<RemoveResult> {
    return await this.#images().removeImage(this.#ctx, name, options);
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
    return await this.store.index.transaction((tx) => {
      const image = resolveImage(tx.images, source);
      if (!image.repo_tags.includes(tag)) {
        for (const img of tx.images) img.repo_tags = img.repo_tags.filter((t) => t !== tag);
        image.repo_tags.push(tag);
      }
      return structuredClone(image);
    });
  }

  /** Checks the store, then the containers; with `repair`, removes what is broken. */
  async check(options: CheckOptions = {}): Promise<Problem[]> {
    if (!this.store.check) throw new ServinError("unsupported", "This store cannot be checked");
    return [...await this.store.check(options), ...await this.containers.check?.(options) ?? []];
  }

  /** Same as {@link ServinHandle.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Releases the store (throwing away what is staged) and disposes the
   * plugins. The CLI calls it when a signal interrupts a command.
   */
  async close(): Promise<void> {
    try {
      await this.store.close();
    } finally {
      if (this.#o.owns) await this.registry.dispose();
    }
  }
}

/** The containers API when no container plugin is loaded. */
function noContainers(): Containers {
  const none = () => Promise.resolve([]), why = "No container plugin is loaded";
  const fail = () => Promise.reject(new ServinError("unsupported", why));
  // Every method fails but the listings, which are empty; not a thenable.
  return new Proxy({} as Containers, {
    get: (_, key) => key === "then" ? undefined : key === "list" || key === "prune" ? none : fail,
  });
}
