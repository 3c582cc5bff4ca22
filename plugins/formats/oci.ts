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
