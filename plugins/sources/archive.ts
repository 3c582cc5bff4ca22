/**
 * The `archive` source, for `servin image load`: docker-archive (what
 * `docker save` and `podman save --format docker-archive` write) and the OCI
 * image layout, as a tar (`oci-archive`) or a directory. Told apart by
 * content. Every blob's digest and every layer's diff_id is checked; layers
 * the store already has are only verified, not unpacked again.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join, posix } from "node:path";
import { ServinError } from "../../core/errors.ts";
import type { Descriptor } from "../../core/image.ts";
import {
  DEFAULT_LIMITS,
  type ImageStore,
  type SourceImage,
  type SourceLayer,
  type StagedBlob,
  type StagedLayer,
} from "../../core/kinds.ts";
import { tryNormalizeReference } from "../../core/reference.ts";
import { definePlugin } from "../../core/registry.ts";
import {
  decompress,
  detectCompression,
  isSupported,
  layerMediaType,
} from "../formats/compression.ts";
import { choosePlatform, INDEXES, MANIFESTS } from "../formats/oci.ts";
import { isTarHeader, readTar } from "../formats/tar.ts";

function invalid(message: string): ServinError {
  return new ServinError("invalid-archive", message);
}

type Member =
  | { kind: "file"; blob: StagedBlob }
  | { kind: "symlink"; target: string }
  | { kind: "link"; target: string };

/** Archive paths without `./`, refusing absolute paths and `..`. */
function memberName(name: string): string {
  if (name.startsWith("/")) throw invalid(`archive member "${name}" has an absolute path`);
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw invalid(`archive member "${name}" escapes the archive`);
  return parts.join("/");
}

/** The files of an archive (or an OCI layout directory), staged as blobs on demand. */
class Members {
  #members = new Map<string, Member>();
  #store: ImageStore;
  #dir?: string;
  #used = new Set<StagedBlob>();
  #onFile?: (blob: StagedBlob) => Promise<void>;

  constructor(store: ImageStore, dir?: string, onFile?: (blob: StagedBlob) => Promise<void>) {
    this.#store = store;
    this.#dir = dir;
    this.#onFile = onFile;
  }

  /** Stages every file of a tar archive. */
  async readTar(stream: ReadableStream<Uint8Array>): Promise<void> {
    for await (const { header, body } of readTar(stream, DEFAULT_LIMITS)) {
      const name = memberName(header.name);
      if (header.type === "dir") continue;
      if (header.type === "symlink") {
        this.#members.set(name, { kind: "symlink", target: header.linkname });
      } else if (header.type === "link") {
        this.#members.set(name, { kind: "link", target: memberName(header.linkname) });
      } else if (header.type === "file") {
        const tee = this.#store.stageBlob(ReadableStream.from(body));
        for await (const _ of tee.output) { /* written to staging */ }
        const previous = this.#members.get(name);
        if (previous?.kind === "file") await this.#store.discard(previous.blob);
        const blob = await tee.staged;
        this.#members.set(name, { kind: "file", blob });
        await this.#onFile?.(blob);
      } else {
        throw invalid(`archive member "${header.name}" is a ${header.type}, not a file`);
      }
    }
  }

  has(name: string): boolean {
    if (this.#dir) {
      try {
        return Deno.statSync(join(this.#dir, name)).isFile;
      } catch {
        return false;
      }
    }
    return this.#resolve(name, 0) !== undefined;
  }

  #resolve(name: string, depth: number): StagedBlob | undefined {
    if (depth > 40) throw invalid(`archive member "${name}" is a symlink loop`);
    const m = this.#members.get(memberName(name));
    if (!m) return undefined;
    if (m.kind === "file") return m.blob;
    if (m.kind === "link") return this.#resolve(m.target, depth + 1);
    // Symlinks resolve inside the archive only.
    const base = posix.dirname(memberName(name));
    const target = m.target.startsWith("/") ? m.target.slice(1) : posix.join(base, m.target);
    return this.#resolve(target, depth + 1);
  }

  /** The blob at `name`, checked against `digest` (hex) when given. */
  async blob(name: string, digest?: string, size?: number): Promise<StagedBlob> {
    let blob: StagedBlob | undefined;
    if (this.#dir) {
      const path = join(this.#dir, memberName(name));
      let file: Deno.FsFile;
      try {
        file = await Deno.open(path);
      } catch {
        throw invalid(`the layout has no "${name}"`);
      }
      const tee = this.#store.stageBlob(file.readable);
      for await (const _ of tee.output) { /* written to staging */ }
      blob = await tee.staged;
    } else {
      blob = this.#resolve(name, 0);
      if (!blob) throw invalid(`the archive has no "${name}"`);
    }
    const named = name.match(/(?:^|\/)blobs\/sha256\/([0-9a-f]{64})$/)?.[1];
    for (const want of [digest, named]) {
      if (want && blob.digest !== want) {
        throw invalid(`blob "${name}" has digest sha256:${blob.digest}, expected sha256:${want}`);
      }
    }
    if (size !== undefined && blob.size !== size) {
      throw invalid(`blob "${name}" has ${blob.size} bytes, expected ${size}`);
    }
    this.#used.add(blob);
    return blob;
  }

  async json(name: string, digest?: string, size?: number): Promise<unknown> {
    const blob = await this.blob(name, digest, size);
    try {
      return JSON.parse(await Deno.readTextFile(blob.path));
    } catch {
      throw invalid(`"${name}" is not valid JSON`);
    }
  }

  /** Throws away the staged files no image uses (all of them after a failure). */
  async discard(all: boolean): Promise<void> {
    for (const m of this.#members.values()) {
      if (m.kind === "file" && (all || !this.#used.has(m.blob))) await this.#store.discard(m.blob);
    }
    if (all) { for (const blob of this.#used) await this.#store.discard(blob); }
  }
}

function hexOf(digest: unknown, what: string): string {
  if (typeof digest !== "string" || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw invalid(`${what} has an invalid digest "${digest}"`);
  }
  return digest.slice(7);
}

async function sha256Of(stream: ReadableStream<Uint8Array>): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of stream) hash.update(chunk);
  return hash.digest("hex");
}

/** Reads layers, unpacking only those the store does not have; shared blobs are read once. */
/** Layers unpacked at once: file creation is kernel-bound, and there are two cores. */
const UNPACKERS = 2;

class Layers {
  #store: ImageStore;
  #done = new Map<string, SourceLayer>();
  #early = new Map<string, Promise<StagedLayer>>();
  #running = 0;
  #waiting: (() => void)[] = [];

  constructor(store: ImageStore) {
    this.#store = store;
  }

  async #slot<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#running >= UNPACKERS) await new Promise<void>((r) => this.#waiting.push(r));
    this.#running++;
    try {
      return await fn();
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }

  static async #compression(blob: StagedBlob): Promise<string> {
    const head = new Uint8Array(512);
    const file = await Deno.open(blob.path);
    const n = await file.read(head) ?? 0;
    file.close();
    const compression = detectCompression(head.subarray(0, n));
    return compression === "none" && !isTarHeader(head.subarray(0, n)) ? "not-tar" : compression;
  }

  /**
   * Starts unpacking a member that looks like a layer while the archive is
   * still being read; `read` picks the result up once the config says which
   * diff_id it must have. An uncompressed blob's digest is its diff_id, so
   * one the store has already is skipped.
   */
  async prefetch(blob: StagedBlob): Promise<void> {
    if (this.#early.has(blob.digest)) return;
    const compression = await Layers.#compression(blob);
    if (!isSupported(compression)) return;
    if (compression === "none" && await this.#store.hasLayer(blob.digest)) return;
    const staged = this.#slot(async () =>
      await this.#store.stageLayer(
        decompress((await Deno.open(blob.path)).readable, compression),
        // An uncompressed blob was hashed as it was staged: that digest is its diff_id.
        { label: blob.digest, knownDiffId: compression === "none" ? blob.digest : undefined },
      )
    );
    staged.catch(() => {}); // reported when `read` takes it
    this.#early.set(blob.digest, staged);
  }

  /** Throws away the layers unpacked so far (all after a failure, else those no image used). */
  async discard(all = true): Promise<void> {
    const used = new Set([...this.#done.values()].map((l) => l.staged));
    for (const early of this.#early.values()) {
      const staged = await early.catch(() => undefined);
      if (staged && (all || !used.has(staged))) await this.#store.discard(staged);
    }
    if (all) {
      for (const l of this.#done.values()) if (l.staged) await this.#store.discard(l.staged);
    }
  }

  async read(blob: StagedBlob, expected: string, label: string, mediaType?: string) {
    const key = `${blob.digest}:${expected}`;
    const done = this.#done.get(key);
    if (done) return done;
    const compression = await Layers.#compression(blob);
    if (!isSupported(compression)) {
      throw invalid(
        compression === "not-tar"
          ? `${label} is not a tar`
          : `${label} uses ${compression}, which is not supported`,
      );
    }
    const early = this.#early.get(blob.digest);
    let layer: SourceLayer;
    if (early || !(await this.#store.hasLayer(expected))) {
      const staged = early
        ? await early
        : await this.#slot(async () =>
          await this.#store.stageLayer(
            decompress((await Deno.open(blob.path)).readable, compression),
            { label, knownDiffId: compression === "none" ? blob.digest : undefined },
          )
        );
      if (staged.diffId !== expected) {
        await this.#store.discard(staged);
        throw mismatch(label, expected, staged.diffId);
      }
      layer = { diffId: staged.diffId, size: staged.size, staged, blob, mediaType: "" };
    } else {
      // Already unpacked: only check that this blob really is that layer.
      const diffId = compression === "none"
        ? blob.digest
        : await sha256Of(decompress((await Deno.open(blob.path)).readable, compression));
      if (diffId !== expected) throw mismatch(label, expected, diffId);
      layer = { diffId, size: await this.#store.layerSize(diffId), blob, mediaType: "" };
    }
    layer.mediaType = mediaType ?? layerMediaType(compression);
    this.#done.set(key, layer);
    return layer;
  }
}

function mismatch(label: string, expected: string, actual: string): ServinError {
  return invalid(`${label} has diff_id sha256:${actual}, but the config says sha256:${expected}`);
}

function diffIdsOf(config: unknown, what: string): string[] {
  const ids = (config as { rootfs?: { diff_ids?: unknown } })?.rootfs?.diff_ids;
  if (!Array.isArray(ids)) throw invalid(`${what} has no rootfs.diff_ids`);
  return ids.map((d) => hexOf(d, what));
}

interface DockerEntry {
  Config?: unknown;
  RepoTags?: unknown;
  Layers?: unknown;
}

async function readDocker(members: Members, layers: Layers, warn: (m: string) => void) {
  const manifest = await members.json("manifest.json");
  if (!Array.isArray(manifest)) throw invalid("manifest.json is not a list of images");
  const images: SourceImage[] = [];
  for (const [i, entry] of (manifest as DockerEntry[]).entries()) {
    if (typeof entry?.Config !== "string" || !Array.isArray(entry.Layers)) {
      throw invalid(`manifest.json entry ${i} has no Config or Layers`);
    }
    const config = await members.blob(entry.Config);
    const diffIds = diffIdsOf(JSON.parse(await Deno.readTextFile(config.path)), entry.Config);
    if (diffIds.length !== entry.Layers.length) {
      throw invalid(
        `image ${i} lists ${entry.Layers.length} layers but its config ${diffIds.length}`,
      );
    }
    const read: SourceLayer[] = [];
    for (const [n, path] of entry.Layers.entries()) {
      if (typeof path !== "string") throw invalid(`manifest.json entry ${i} has a bad layer path`);
      read.push(await layers.read(await members.blob(path), diffIds[n]!, `layer "${path}"`));
    }
    images.push({
      layers: read,
      config,
      tags: tagsOf(Array.isArray(entry.RepoTags) ? entry.RepoTags : [], warn),
      rootfsType: "layers",
      metadata: { source: "docker-archive" },
    });
  }
  return images;
}

function tagsOf(list: unknown[], warn: (m: string) => void): string[] {
  const tags: string[] = [];
  for (const t of list) {
    const tag = typeof t === "string" ? tryNormalizeReference(t) : undefined;
    if (tag) tags.push(tag);
    else warn(`ignoring the invalid tag ${JSON.stringify(t)} in the archive`);
  }
  return tags;
}

async function pickManifest(
  members: Members,
  desc: Descriptor,
  want: string,
  depth = 0,
): Promise<Descriptor> {
  if (MANIFESTS.has(desc.mediaType)) return desc;
  if (!INDEXES.has(desc.mediaType) || depth > 4) {
    throw invalid(`unsupported media type "${desc.mediaType}" in the index`);
  }
  const hex = hexOf(desc.digest, "an index");
  const index = await members.json(`blobs/sha256/${hex}`, hex, desc.size) as {
    manifests?: Descriptor[];
  };
  let match: Descriptor;
  try {
    match = choosePlatform(index.manifests ?? [], want);
  } catch (err) {
    throw invalid((err as Error).message);
  }
  return await pickManifest(members, match, want, depth + 1);
}

async function readOci(members: Members, layers: Layers, want: string, warn: (m: string) => void) {
  const index = await members.json("index.json") as { manifests?: Descriptor[] };
  if (!Array.isArray(index?.manifests)) throw invalid("index.json has no manifests");
  const images: SourceImage[] = [];
  const seen = new Map<string, SourceImage>();
  for (const top of index.manifests) {
    const desc = await pickManifest(members, top, want);
    const hex = hexOf(desc.digest, "a manifest");
    const name = top.annotations?.["io.containerd.image.name"] ??
      top.annotations?.["org.opencontainers.image.ref.name"];
    // A bare tag ("latest") names no repository: such an image loads untagged.
    const tags = name && /[:/]/.test(name) ? tagsOf([name], warn) : [];
    const known = seen.get(hex);
    if (known) {
      known.tags!.push(...tags.filter((t) => !known.tags!.includes(t)));
      continue;
    }
    const manifestBlob = await members.blob(`blobs/sha256/${hex}`, hex, desc.size);
    const manifest = JSON.parse(await Deno.readTextFile(manifestBlob.path)) as {
      config?: Descriptor;
      layers?: Descriptor[];
    };
    if (!manifest.config || !Array.isArray(manifest.layers)) {
      throw invalid(`manifest ${hex} has no config or layers`);
    }
    const cfgHex = hexOf(manifest.config.digest, "the config");
    const config = await members.blob(`blobs/sha256/${cfgHex}`, cfgHex, manifest.config.size);
    const diffIds = diffIdsOf(JSON.parse(await Deno.readTextFile(config.path)), "the config");
    if (diffIds.length !== manifest.layers.length) {
      throw invalid(
        `manifest ${hex} lists ${manifest.layers.length} layers but its config ${diffIds.length}`,
      );
    }
    const read: SourceLayer[] = [];
    for (const [n, l] of manifest.layers.entries()) {
      const lhex = hexOf(l.digest, `layer ${n}`);
      const blob = await members.blob(`blobs/sha256/${lhex}`, lhex, l.size);
      read.push(await layers.read(blob, diffIds[n]!, `layer sha256:${lhex}`, l.mediaType));
    }
    const image: SourceImage = {
      layers: read,
      config,
      manifest: manifestBlob,
      tags,
      rootfsType: "layers",
      metadata: { source: "oci" },
    };
    seen.set(hex, image);
    images.push(image);
  }
  return images;
}

/** The built-in archive source plugin. */
export function archiveSource() {
  return definePlugin({
    name: "source-archive",
    setup(api) {
      api.source({
        name: "archive",
        detect(probe) {
          if (probe.purpose !== "load") return false;
          return Boolean(probe.directory) || detectCompression(probe.head) !== "none" ||
            isTarHeader(probe.head);
        },
        async read({ probe, input, store, warn = () => {} }) {
          const layers = new Layers(store);
          const members = new Members(
            store,
            probe.directory ? probe.path : undefined,
            (blob) => layers.prefetch(blob),
          );
          try {
            if (!probe.directory) {
              const compression = detectCompression(probe.head);
              if (!isSupported(compression)) {
                throw new ServinError("unsupported", `${compression} compression is not supported`);
              }
              await members.readTar(decompress(input, compression));
            }
            let images: SourceImage[];
            if (members.has("manifest.json")) images = await readDocker(members, layers, warn);
            else if (members.has("index.json")) {
              images = await readOci(members, layers, probe.platform ?? "linux/amd64", warn);
              const kind = probe.directory ? "oci-layout" : "oci-archive";
              for (const img of images) img.metadata.source = kind;
            } else {
              throw invalid(
                'not an image archive (no manifest.json or index.json): use "servin image import" for a root filesystem tarball',
              );
            }
            await members.discard(false);
            await layers.discard(false);
            return images;
          } catch (err) {
            await members.discard(true);
            await layers.discard();
            throw err;
          }
        },
      });
    },
  });
}
