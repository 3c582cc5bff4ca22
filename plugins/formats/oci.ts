/**
 * OCI and Docker manifest media types, and choosing the platform's entry
 * from an image index (first match wins, as the image spec says).
 *
 * @module
 */

import { type Descriptor, MEDIA_TYPES } from "../../core/image.ts";
import { ServinError } from "../../core/errors.ts";

/** Docker's schema 2 manifest. */
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
/** Docker's manifest list. */
export const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
/** Media types of single-image manifests. */
export const MANIFESTS: ReadonlySet<string> = new Set([MEDIA_TYPES.manifest, DOCKER_MANIFEST]);
/** Media types of indexes (multi-platform). */
export const INDEXES: ReadonlySet<string> = new Set([MEDIA_TYPES.index, DOCKER_LIST]);

/** The error of an archive or image that is malformed (`invalid-archive`), saying what is wrong. */
export function invalidArchive(message: string): ServinError {
  return new ServinError("invalid-archive", message);
}

/** Parses `os/arch[/variant]`. */
export function parsePlatform(
  want: string,
): { os: string; architecture: string; variant?: string } {
  const [os = "", architecture = "", variant] = want.split("/");
  if (!os || !architecture) {
    throw new ServinError("invalid-argument", `Invalid platform "${want}": use os/arch[/variant]`);
  }
  return { os, architecture, variant };
}

/** The first entry of `manifests` for platform `want` (entries without a platform match anything). */
export function choosePlatform(manifests: Descriptor[], want: string): Descriptor {
  const p = parsePlatform(want);
  const match = manifests.find((m) =>
    !m.platform ||
    (m.platform.os === p.os && m.platform.architecture === p.architecture &&
      (!p.variant || m.platform.variant === p.variant))
  );
  if (!match) {
    const have = manifests.map((m) =>
      [m.platform?.os, m.platform?.architecture, m.platform?.variant].filter(Boolean).join("/")
    );
    throw new ServinError(
      "not-found",
      `no image for platform ${want} in the index (it has ${have.join(", ") || "none"})`,
    );
  }
  return match;
}

/** A manifest found by {@link resolveManifest}: its descriptor and bytes. */
export interface FoundManifest {
  /** Its descriptor (from the index, or made for the top document). */
  descriptor: Descriptor;
  /** Its bytes. */
  bytes: Uint8Array;
}

/**
 * Walks from a manifest or an index down to the manifest for `platform`
 * (first match wins; at most 4 nested indexes). `fetch` returns a
 * document's bytes, checked against its descriptor by the caller.
 */
export async function resolveManifest(
  top: Descriptor,
  platform: string,
  fetch: (descriptor: Descriptor) => Promise<Uint8Array>,
): Promise<FoundManifest> {
  let desc = top;
  for (let depth = 0; depth <= 4; depth++) {
    const bytes = await fetch(desc);
    const type = desc.mediaType || mediaTypeOf(bytes);
    if (MANIFESTS.has(type)) return { descriptor: { ...desc, mediaType: type }, bytes };
    if (!INDEXES.has(type)) {
      throw new ServinError("invalid-archive", `unsupported media type "${type}"`);
    }
    const index = parseDocument(bytes, "an index") as { manifests?: Descriptor[] };
    if (!Array.isArray(index.manifests)) {
      throw new ServinError("invalid-archive", "an index has no manifests");
    }
    desc = choosePlatform(index.manifests, platform);
  }
  throw new ServinError("invalid-archive", "indexes are nested more than 4 deep");
}

/** The `mediaType` a JSON document names for itself (empty when none). */
export function mediaTypeOf(bytes: Uint8Array): string {
  const doc = parseDocument(bytes, "a manifest") as { mediaType?: unknown; manifests?: unknown };
  if (typeof doc.mediaType === "string") return doc.mediaType;
  return Array.isArray(doc.manifests) ? MEDIA_TYPES.index : MEDIA_TYPES.manifest;
}

/** Parses a JSON object, or fails with `invalid-archive` naming `what`. */
export function parseDocument(bytes: Uint8Array, what: string): Record<string, unknown> {
  try {
    const value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    if (value && typeof value === "object" && !Array.isArray(value)) return value;
  } catch { /* below */ }
  throw new ServinError("invalid-archive", `${what} is not a JSON object`);
}
