/**
 * Image operations over the store that are not about bringing images in or
 * out: listing with Docker's filters, history, prune, disk usage, and copy
 * between locations (which wires the other verbs together).
 *
 * @module
 */

import type {
  CopyLocation,
  DiskUsage,
  HistoryEntry,
  ImageContext,
  ListFilter,
  LoadedImage,
  PullOptions,
  PushOptions,
  RemoveResult,
  SaveOptions,
  Servin,
  WriteTarget,
} from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import { type ImageRecord, resolveImage, shortId } from "../../core/image.ts";
import type { SinkContext, SinkImage } from "../../core/kinds.ts";
import {
  formatRegistryReference,
  parseRegistryReference,
  tryNormalizeReference,
} from "../../core/reference.ts";
import { intermediates, matchesFilter } from "./filter.ts";

/** The images, newest first, filtered. */
export async function listImages(
  { servin }: ImageContext,
  filter: ListFilter = {},
): Promise<ImageRecord[]> {
  const images = await servin.store.index.list();
  // RFC 3339 times compare as strings; localeCompare would set up ICU's collator (~8 ms).
  return images.filter((img) => matchesFilter(img, filter)).sort((a, b) =>
    a.created < b.created ? 1 : a.created > b.created ? -1 : 0
  );
}

/** The config's history, newest first, with the bytes each step added. */
export async function history({ servin }: ImageContext, name: string): Promise<HistoryEntry[]> {
  const image = await servin.getImage(name);
  const text = await new Response(await servin.store.content.read(image.id)).text();
  let oci: { history?: unknown };
  try {
    oci = JSON.parse(text);
  } catch {
    throw new ServinError(
      "invalid-archive",
      `The config of image ${shortId(image.id)} is not JSON`,
    );
  }
  const steps = Array.isArray(oci.history) ? oci.history as Record<string, unknown>[] : [];
  let layer = 0;
  return steps.map((h) => {
    const empty = h.empty_layer === true;
    const size = empty ? 0 : image.layer_sizes?.[layer] ?? 0;
    if (!empty) layer++;
    const text = (v: unknown) => typeof v === "string" ? v : "";
    return {
      created: text(h.created),
      created_by: text(h.created_by),
      comment: text(h.comment),
      size,
      empty_layer: empty,
    };
  }).reverse();
}

/** Removes dangling images, or with `all` every image no container uses. */
export async function pruneImages(
  context: ImageContext,
  options: { all?: boolean } = {},
): Promise<{ deleted: string[]; reclaimed: number }> {
  const before = await diskUsage(context);
  const deleted = await context.servin.store.index.transaction((tx) => {
    const used = new Set(Object.values(tx.leases).map((l) => l.image));
    const doomed: ImageRecord[] = [];
    // An intermediate image (another's parent) stays while its child does; once the child
    // goes, the parent is dangling in the next round: at most one round per image.
    for (let round = 0; round <= tx.images.length; round++) {
      const kept = intermediates(tx.images);
      const now = tx.images.filter((img) =>
        !used.has(img.id) && (options.all || (img.repo_tags.length === 0 && !kept.has(img.id)))
      );
      if (now.length === 0) break;
      doomed.push(...now);
      tx.images.splice(0, tx.images.length, ...tx.images.filter((img) => !now.includes(img)));
    }
    return doomed.map((img) => img.id);
  });
  const after = await diskUsage(context);
  return { deleted, reclaimed: Math.max(0, before.layers - after.layers) };
}

/** Bytes the images hold, shared (layers used by several images) and unique. */
export async function diskUsage({ servin }: ImageContext): Promise<DiskUsage> {
  const images = await servin.store.index.list();
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
    for (const l of img.layers) {
      if ((users.get(l) ?? 0) > 1) shared += sizes.get(l) ?? 0;
      else unique += sizes.get(l) ?? 0;
    }
    return {
      id: img.id,
      repo_tags: img.repo_tags,
      size: img.size,
      shared_size: shared,
      unique_size: unique,
    };
  });
  return {
    images: perImage,
    layers: [...sizes.values()].reduce((a, b) => a + b, 0),
    containers: (await servin.containers.list().catch(() => [])).length,
  };
}

const TRANSPORTS = ["docker", "docker-archive", "oci-archive", "oci", "servin"] as const;

/** Splits `transport:name` (`docker://` takes two slashes, as skopeo writes it). */
function splitLocation(location: string): { transport: typeof TRANSPORTS[number]; name: string } {
  const colon = location.indexOf(":");
  const transport = TRANSPORTS.find((t) => t === location.slice(0, colon));
  if (!transport) {
    throw new ServinError(
      "invalid-argument",
      `Invalid location "${location}": use ${TRANSPORTS.map((t) => `${t}:`).join(", ")}`,
    );
  }
  const name = location.slice(colon + 1);
  return { transport, name: transport === "docker" ? name.replace(/^\/\//, "") : name };
}

/** Copies images between locations, as skopeo names them; returns their IDs. */
export async function copy(
  { servin }: ImageContext,
  from: CopyLocation,
  to: CopyLocation,
  options: PullOptions = {},
): Promise<string[]> {
  const src = splitLocation(from);
  const dst = splitLocation(to);
  let images: LoadedImage[];
  if (src.transport === "servin") {
    const image = await servin.getImage(src.name);
    const tag = tryNormalizeReference(src.name);
    images = [{ image, tags: image.repo_tags.filter((t) => t === tag) }];
  } else if (src.transport === "docker") {
    images = [{ image: await servin.pullImage(src.name, options), tags: [] }];
  } else images = await servin.loadImages(src.name, options);
  const ids = images.map((i) => i.image.id);
  if (dst.transport === "servin") {
    if (dst.name) { for (const id of ids) await servin.tagImage(id, dst.name); }
  } else if (dst.transport === "docker") {
    for (const id of ids) await servin.pushImage(id, dst.name, options);
  } else {
    // Saved with the tags they came with (a name that is a tag saves that tag), else by ID.
    const names = images.flatMap((i) => i.tags.length ? i.tags : [i.image.id]);
    const format = dst.transport === "oci" ? "oci-archive" : dst.transport;
    await servin.saveImages(names, dst.name, { format });
  }
  return ids;
}

/**
 * Saves images to an archive. An image named by tag is saved with that tag,
 * one named by ID with all its tags; an image named twice is saved once.
 */
export async function saveImages(
  { servin, kinds }: ImageContext,
  names: string[],
  output: WriteTarget,
  options: SaveOptions = {},
): Promise<void> {
  const all = await servin.store.index.list();
  const images: SinkImage[] = [];
  for (const name of names) {
    const image = resolveImage(all, name);
    const tag = tryNormalizeReference(name);
    const tags = tag && image.repo_tags.includes(tag) ? [tag] : image.repo_tags;
    const same = images.find((i) => i.image.id === image.id);
    if (same) same.tags.push(...tags.filter((t) => !same.tags.includes(t)));
    else images.push({ image, tags: [...tags] });
  }
  const format = options.format ?? "docker+oci";
  const sink = kinds.all("sink").find((s) =>
    s.name === format && !/^(rootfs|registry)/.test(s.name)
  );
  if (!sink) {
    throw new ServinError(
      "invalid-argument",
      `Unknown format "${format}" (use docker+oci, docker-archive or oci-archive)`,
    );
  }
  await sink.write(sinkContext(servin, images, output));
}

/** Writes the flattened filesystem of image `name` as a tarball (gzip with `gzip`). */
export async function exportImage(
  { servin, kinds }: ImageContext,
  name: string,
  output: WriteTarget,
  options: { gzip?: boolean } = {},
): Promise<void> {
  const image = await servin.getImage(name);
  const sink = kinds.get("sink", options.gzip ? "rootfs+gzip" : "rootfs");
  await sink.write(sinkContext(servin, [{ image, tags: image.repo_tags }], output));
}

/** What a file sink gets: the images, the store and where to write. */
function sinkContext(servin: Servin, images: SinkImage[], output: WriteTarget): SinkContext {
  const { store, platform, root } = servin;
  return { images, store, platform, output, registry: {}, root };
}

/** Pushes image `name` to `destination` (default: `name`); returns the manifest digest. */
export async function pushImage(
  { servin, kinds }: ImageContext,
  name: string,
  destination?: string,
  options: PushOptions = {},
): Promise<string> {
  const image = await servin.getImage(name);
  const ref = parseRegistryReference(destination ?? name);
  if (ref.digest && !ref.tag) {
    throw new ServinError(
      "invalid-argument",
      `Cannot push to a digest reference: ${destination ?? name}`,
    );
  }
  const sink = kinds.get("sink", "registry");
  const digest = await sink.write({
    images: [{ image, tags: [] }],
    store: servin.store,
    platform: servin.platform,
    destination: formatRegistryReference(ref),
    registry: options,
    root: servin.root,
    progress: options.onProgress,
    compression: {
      format: options.compressionFormat ?? "gzip",
      force: options.forceCompression ?? options.compressionFormat !== undefined,
    },
  });
  return digest || `sha256:${image.manifest}`;
}

/**
 * Removes `name`: a tag of an image with several tags is only untagged;
 * otherwise the image is deleted. The veto hook runs before the store is
 * locked; the decision is checked again under the lock.
 */
export async function removeImage(
  { servin, kinds, warn }: ImageContext,
  name: string,
  options: { force?: boolean } = {},
): Promise<RemoveResult> {
  const force = options.force ?? false;
  const seen = await servin.getImage(name);
  const tag = seen.repo_tags.find((t) => t === tryNormalizeReference(name));
  const untagOnly = tag !== undefined && seen.repo_tags.length > 1;
  await kinds.series("image:remove:before", {
    image: structuredClone(seen),
    tag: untagOnly ? tag : undefined,
    force,
  });
  let result: RemoveResult = { untagged: [] };
  await servin.store.index.transaction(async (tx) => {
    const image = resolveImage(tx.images, seen.id);
    if (untagOnly && image.repo_tags.length > 1) {
      image.repo_tags = image.repo_tags.filter((t) => t !== tag);
      result = { untagged: [tag] };
      return;
    }
    if (!tag && image.repo_tags.length > 1 && !force) {
      throw new ServinError(
        "conflict",
        `Cannot remove image ${shortId(image.id)}: it is tagged ${
          image.repo_tags.join(", ")
        } (use -f to remove all)`,
      );
    }
    const users = Object.entries(tx.leases).filter(([, l]) => l.image === image.id);
    if (users.length && !force) {
      const names = new Map(
        (await servin.containers.list()).map((c) => [`container:${c.id}`, c.name]),
      );
      throw new ServinError(
        "conflict",
        `Cannot remove image ${shortId(image.id)}: containers use it: ${
          users.map(([owner]) => names.get(owner) ?? owner).join(", ")
        } (use -f to remove it anyway; they keep its layers)`,
      );
    }
    tx.images.splice(tx.images.indexOf(image), 1);
    result = { untagged: [...image.repo_tags], deleted: image.id };
  });
  const after = await kinds.parallel("image:remove:after", {
    image: seen,
    untagged: result.untagged,
    deleted: result.deleted !== undefined,
  });
  for (const e of after.errors) warn(e.message);
  return result;
}
