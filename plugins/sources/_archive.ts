/**
 * Reading image archives for the `archive` source (`archive.ts`), imported
 * when a load starts: docker-archive and the OCI layout, as a tar or a
 * directory. It only describes the images; the ingest pipeline checks every
 * digest and diff_id and unpacks the layers.
 *
 * @module
 */

import { isServinError, ServinError } from "../../core/errors.ts";
import type { Descriptor } from "../../core/image.ts";
import type {
  Limits,
  SourceBlob,
  SourceContext,
  SourceImage,
  StagedBlob,
  Store,
} from "../../core/kinds.ts";
import { tryNormalizeReference } from "../../core/reference.ts";
import { decompress, detectCompression, isSupported } from "../formats/compression.ts";
import {
  cleanName,
  MAX_SYMLINKS,
  openConfined,
  resolveInRoot,
  resolveLexically,
} from "../formats/confine.ts";
import { sha256Hex } from "../formats/digest.ts";
import { invalidArchive as invalid, resolveManifest } from "../formats/oci.ts";
import { readTar } from "../formats/tar.ts";

/** Archive paths without `./`, refusing absolute paths and `..` (see confine.ts). */
function memberName(name: string): string {
  return cleanName(name, (why) => invalid(`archive member "${name}" ${why}`), {
    root: "the archive",
  });
}

/** The files of an archive or a layout directory. */
interface Members {
  /** True when `name` is a file. */
  has(name: string): Promise<boolean>;
  /** The blob at `name`, for the pipeline to read (staged when the archive was a stream). */
  blob(name: string): Promise<{ open(): Promise<ReadableStream<Uint8Array>>; staged?: StagedBlob }>;
  /** Throws away what no image used. */
  discard(): Promise<void>;
}

type Member =
  | { kind: "file"; blob: StagedBlob }
  | { kind: "symlink"; target: string }
  | { kind: "link"; target: string };

/** The members of a tar archive, each file staged as a blob as the archive streams. */
class TarMembers implements Members {
  #members = new Map<string, Member>();
  #used = new Set<StagedBlob>();

  /** Reads the archive, staging its files (only those `keep` names, when given). */
  static async read(
    input: ReadableStream<Uint8Array>,
    store: Store,
    limits: Limits,
    keep?: (name: string) => boolean,
  ) {
    const members = new TarMembers();
    try {
      for await (const { header, body } of readTar(input, limits)) {
        const name = memberName(header.name);
        if (header.type === "dir") continue;
        if (header.type === "file" && keep && !keep(name)) {
          for await (const _ of body) { /* nobody references it: read past, never staged */ }
          continue;
        }
        if (header.type === "symlink") {
          members.#members.set(name, { kind: "symlink", target: header.linkname });
        } else if (header.type === "link") {
          members.#members.set(name, { kind: "link", target: memberName(header.linkname) });
        } else if (header.type === "file") {
          const blob = await store.content.ingest(ReadableStream.from(body));
          const previous = members.#members.get(name);
          if (previous?.kind === "file") await previous.blob.discard();
          members.#members.set(name, { kind: "file", blob });
        } else {
          throw invalid(`archive member "${header.name}" is a ${header.type}, not a file`);
        }
      }
    } catch (err) {
      await members.discard(true);
      throw err;
    }
    return members;
  }

  /** Symlinks resolve inside the archive only, as if it were `/` (see confine.ts). */
  #resolve(name: string, depth: number): StagedBlob | undefined {
    const loop = () => invalid(`archive member "${name}" is a symlink loop`);
    if (depth > MAX_SYMLINKS) throw loop();
    const path = resolveLexically(memberName(name), (rel) => {
      const m = this.#members.get(rel);
      // Directories are not recorded: whatever is not a member may be one.
      if (!m) return { type: "dir" };
      return m.kind === "symlink" ? { type: "symlink", target: m.target } : { type: "other" };
    }, { loop });
    const m = path === undefined ? undefined : this.#members.get(path);
    if (m?.kind === "file") return m.blob;
    if (m?.kind === "link") return this.#resolve(m.target, depth + 1);
    return undefined;
  }

  has(name: string): Promise<boolean> {
    return Promise.resolve(this.#resolve(name, 0) !== undefined);
  }

  blob(name: string) {
    const staged = this.#resolve(name, 0);
    if (!staged) return Promise.reject(invalid(`the archive has no "${name}"`));
    this.#used.add(staged);
    return Promise.resolve({ open: () => staged.read(), staged });
  }

  async discard(all = false): Promise<void> {
    for (const m of this.#members.values()) {
      if (m.kind === "file" && (all || !this.#used.has(m.blob))) await m.blob.discard();
    }
  }
}

/**
 * The files of an OCI layout directory, opened only when they are regular
 * files reached without a symlink (see confine.ts): a layout can name nothing
 * outside itself, and a FIFO or a device in it is refused, not read.
 */
class DirMembers implements Members {
  #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** How confine.ts looks a file up: never through a symlink, named as the layout's. */
  #options(name: string) {
    return {
      symlinks: "refuse",
      label: `the layout's "${name}"`,
      code: "invalid-archive",
    } as const;
  }

  has(name: string): Promise<boolean> {
    // Present in any form: `blob` refuses, by name, what is not a regular file.
    return Promise.resolve(
      resolveInRoot(this.#dir, memberName(name), this.#options(name)) !== undefined,
    );
  }

  async blob(name: string) {
    // Checked now, so that a bad file is named before anything is read, and
    // again when opened: it must still be a regular file reached without a symlink.
    await (await this.#open(name)).close();
    return { open: async () => (await this.#open(name)).readable };
  }

  async #open(name: string) {
    try {
      return await openConfined(this.#dir, memberName(name), this.#options(name));
    } catch (err) {
      if (isServinError(err, "not-found")) throw invalid(`the layout has no "${name}"`);
      throw err;
    }
  }

  discard(): Promise<void> {
    return Promise.resolve();
  }
}

async function readSmall(members: Members, name: string, limits: Limits): Promise<Uint8Array> {
  const blob = await members.blob(name);
  let size = 0;
  const chunks: Uint8Array[] = [];
  for await (const chunk of await blob.open()) {
    size += chunk.length;
    if (size > limits.maxDocumentBytes) {
      throw new ServinError(
        "limit-exceeded",
        `"${name}" is larger than ${limits.maxDocumentBytes} bytes`,
      );
    }
    chunks.push(chunk);
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) out.set(c, (off += c.length) - c.length);
  return out;
}

/** A JSON member, checked to be JSON here, where its name is known. */
async function readDocument(members: Members, name: string, limits: Limits): Promise<Uint8Array> {
  const bytes = await readSmall(members, name, limits);
  parse(bytes, name);
  return bytes;
}

function parse(bytes: Uint8Array, name: string): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw invalid(`"${name}" is not valid JSON`);
  }
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

async function layerBlob(
  members: Members,
  name: string,
  descriptor: SourceBlob["descriptor"],
): Promise<SourceBlob> {
  const blob = await members.blob(name);
  return { descriptor, open: blob.open, staged: blob.staged };
}

interface DockerEntry {
  Config?: unknown;
  RepoTags?: unknown;
  Layers?: unknown;
}

async function readDocker(members: Members, ctx: SourceContext): Promise<SourceImage[]> {
  const manifest = parse(await readSmall(members, "manifest.json", ctx.limits), "manifest.json");
  if (!Array.isArray(manifest)) throw invalid("manifest.json is not a list of images");
  const images: SourceImage[] = [];
  for (const [i, entry] of (manifest as DockerEntry[]).entries()) {
    if (typeof entry?.Config !== "string" || !Array.isArray(entry.Layers)) {
      throw invalid(`manifest.json entry ${i} has no Config or Layers`);
    }
    const layers: SourceBlob[] = [];
    for (const path of entry.Layers) {
      if (typeof path !== "string") throw invalid(`manifest.json entry ${i} has a bad layer path`);
      layers.push(await layerBlob(members, path, { mediaType: "" }));
    }
    images.push({
      config: await readDocument(members, entry.Config, ctx.limits),
      layers,
      tags: tagsOf(Array.isArray(entry.RepoTags) ? entry.RepoTags : [], ctx.warn),
      metadata: { source: "docker-archive" },
    });
  }
  return images;
}

function blobName(digest: unknown, what: string): string {
  if (typeof digest !== "string" || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw invalid(`${what} has an unsupported digest "${digest}"`);
  }
  return `blobs/sha256/${digest.slice(7)}`;
}

async function readOci(members: Members, ctx: SourceContext): Promise<SourceImage[]> {
  const index = parse(await readSmall(members, "index.json", ctx.limits), "index.json") as {
    manifests?: Descriptor[];
  };
  if (!Array.isArray(index?.manifests)) throw invalid("index.json has no manifests");
  if (await members.has("oci-layout")) await readDocument(members, "oci-layout", ctx.limits);
  const source = ctx.directory ? "oci-layout" : "oci-archive";
  const seen = new Map<string, SourceImage>();
  for (const top of index.manifests) {
    const found = await resolveManifest(top, ctx.platform, async (desc) => {
      const name = blobName(desc.digest, "a manifest");
      const bytes = await readSmall(members, name, ctx.limits);
      if (`sha256:${sha256Hex(bytes)}` !== desc.digest) {
        throw invalid(`blob "${name}" does not have digest ${desc.digest}`);
      }
      parse(bytes, name);
      return bytes;
    });
    const name = top.annotations?.["io.containerd.image.name"] ??
      top.annotations?.["org.opencontainers.image.ref.name"];
    // A bare tag ("latest") names no repository: such an image loads untagged.
    const tags = name && /[:/]/.test(name) ? tagsOf([name], ctx.warn) : [];
    const known = seen.get(found.descriptor.digest);
    if (known) {
      known.tags.push(...tags.filter((t) => !known.tags.includes(t)));
      continue;
    }
    const manifest = parse(found.bytes, "the manifest") as {
      config?: Descriptor;
      layers?: Descriptor[];
    };
    if (!manifest.config || !Array.isArray(manifest.layers)) {
      throw invalid(`manifest ${found.descriptor.digest} has no config or layers`);
    }
    const layers: SourceBlob[] = [];
    for (const [n, l] of manifest.layers.entries()) {
      layers.push(await layerBlob(members, blobName(l?.digest, `layer ${n}`), l));
    }
    seen.set(found.descriptor.digest, {
      manifest: found.bytes,
      config: await readDocument(
        members,
        blobName(manifest.config.digest, "the config"),
        ctx.limits,
      ),
      layers,
      tags,
      metadata: { source },
    });
  }
  return [...seen.values()];
}

/** Describes the images of a docker-archive or OCI layout (`ctx.directory`) or archive. */
/**
 * The members an archive file can reference, from a first pass
 * over its headers and its `manifest.json` (docker-archive: that file and
 * each image's config and layers) or its
 * `index.json` (OCI: the layout files and `blobs/`): a member nobody
 * references is then never staged. Undefined (stage every file) for a
 * stream (its manifest may come last), a manifest that names a link, or one
 * that does not parse (the real read reports it).
 */
async function referenced(
  ctx: SourceContext,
  compression: "gzip" | "zstd" | "none",
): Promise<((name: string) => boolean) | undefined> {
  let file: Deno.FsFile;
  try {
    if (ctx.name === "-" || !(await Deno.stat(ctx.name)).isFile) return undefined;
    file = await Deno.open(ctx.name);
  } catch {
    return undefined;
  }
  const links = new Set<string>();
  let manifest: unknown;
  let index = false;
  try {
    for await (
      const { header, body } of readTar(decompress(file.readable, compression), ctx.limits)
    ) {
      const name = memberName(header.name);
      if (header.type === "symlink" || header.type === "link") links.add(name);
      else if (name === "index.json") index = true;
      else if (name === "manifest.json" && header.type === "file") {
        const chunks: Uint8Array[] = [];
        let size = 0;
        for await (const chunk of body) {
          size += chunk.length;
          if (size <= ctx.limits.maxDocumentBytes) chunks.push(chunk);
        }
        if (size <= ctx.limits.maxDocumentBytes) {
          manifest = JSON.parse(await new Blob(chunks as BlobPart[]).text());
        }
      }
    }
  } catch {
    return undefined;
  }
  if (Array.isArray(manifest)) {
    const names = new Set(["manifest.json"]);
    for (const entry of manifest as DockerEntry[]) {
      for (const n of [entry?.Config, ...(Array.isArray(entry?.Layers) ? entry.Layers : [])]) {
        // A link (shared layers) is resolved by the real read: then stage everything.
        if (typeof n !== "string" || links.has(memberName(n))) return undefined;
        names.add(memberName(n));
      }
    }
    return (name) => names.has(name);
  }
  if (manifest !== undefined) return undefined;
  if (index) {
    return (name) => name === "index.json" || name === "oci-layout" || name.startsWith("blobs/");
  }
  return () => false;
}

export async function readArchive(ctx: SourceContext): Promise<void> {
  let members: Members;
  if (ctx.directory) members = new DirMembers(ctx.name);
  else {
    const compression = detectCompression(ctx.head);
    if (!isSupported(compression)) {
      await ctx.input.cancel();
      throw new ServinError("unsupported", `${compression} compression is not supported`);
    }
    const keep = await referenced(ctx, compression);
    members = await TarMembers.read(
      decompress(ctx.input, compression),
      ctx.store,
      ctx.limits,
      keep,
    );
  }
  try {
    let images: SourceImage[];
    if (await members.has("manifest.json")) images = await readDocker(members, ctx);
    else if (await members.has("index.json")) images = await readOci(members, ctx);
    else {
      throw invalid(
        'not an image archive (no manifest.json or index.json): use "servin image import" for a root filesystem tarball',
      );
    }
    await Promise.all(images.map((image) => ctx.emit(image)));
  } finally {
    await members.discard();
  }
}
