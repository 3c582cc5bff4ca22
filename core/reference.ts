/**
 * Image references (`name[:tag]`), parsed the way Docker parses them so that
 * registry names with a port (`localhost:5000/app:1`) split correctly.
 *
 * @module
 */

import { ServinError } from "./errors.ts";

/** A parsed `repository:tag` reference. */
export interface Reference {
  /** Repository, e.g. `alpine` or `localhost:5000/team/app`. */
  repository: string;
  /** Tag, `latest` when the input had none. */
  tag: string;
}

// Docker's reference grammar, without digests (they come with the registry source).
const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const DOMAIN_PART = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_PART}(?:\\.${DOMAIN_PART})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?`;
const REPOSITORY = new RegExp(`^(?:${DOMAIN}/)?${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;

/** Default tag when a reference names none. */
export const DEFAULT_TAG = "latest";

/**
 * Splits `name[:tag]` into repository and tag; the tag is what follows the last
 * `:` after the last `/`, so a registry port is never taken for a tag.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseReference } from "./reference.ts";
 * const ref = parseReference("localhost:5000/app");
 * assert(ref.repository === "localhost:5000/app" && ref.tag === "latest");
 * ```
 */
export function parseReference(input: string): Reference {
  if (input.includes("@")) {
    throw new ServinError(
      "invalid-argument",
      `Invalid reference "${input}": digest references need a registry source`,
    );
  }
  const slash = input.lastIndexOf("/");
  const colon = input.lastIndexOf(":");
  const hasTag = colon > slash;
  const repository = hasTag ? input.slice(0, colon) : input;
  const tag = hasTag ? input.slice(colon + 1) : DEFAULT_TAG;
  if (repository.length > 255 || !REPOSITORY.test(repository)) {
    throw new ServinError(
      "invalid-argument",
      `Invalid reference "${input}": repository names are lowercase letters, digits and separators`,
    );
  }
  if (!TAG.test(tag)) {
    throw new ServinError(
      "invalid-argument",
      `Invalid reference "${input}": a tag is up to 128 letters, digits, "_", "." or "-"`,
    );
  }
  return { repository, tag };
}

/** Formats a reference as `repository:tag`. */
export function formatReference(ref: Reference): string {
  return `${ref.repository}:${ref.tag}`;
}

/** Parses and normalises `name[:tag]` to `name:tag`. */
export function normalizeReference(input: string): string {
  return formatReference(parseReference(input));
}

/** Like {@link normalizeReference}, but undefined for what cannot be a reference. */
export function tryNormalizeReference(input: string): string | undefined {
  try {
    return normalizeReference(input);
  } catch {
    return undefined;
  }
}

/** A registry reference, normalised the way Docker does it. */
export interface RegistryReference {
  /** Registry host (and port) as named, `docker.io` for Docker Hub. */
  registry: string;
  /** Repository path in the registry (`library/alpine`). */
  path: string;
  /** Tag, `latest` unless a digest or another tag is given. */
  tag?: string;
  /** `sha256:<hex>` for a digest reference. */
  digest?: string;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * Parses `[registry/]path[:tag][@sha256:…]` with Docker's rules: a first
 * component with a `.` or `:`, or `localhost`, is a registry; otherwise the
 * image is on Docker Hub (`docker.io`), where one-component names live under
 * `library/`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRegistryReference } from "./reference.ts";
 * const ref = parseRegistryReference("alpine");
 * assert(ref.registry === "docker.io" && ref.path === "library/alpine" && ref.tag === "latest");
 * ```
 */
export function parseRegistryReference(input: string): RegistryReference {
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) {
      throw new ServinError(
        "invalid-argument",
        `Invalid reference "${input}": bad digest "${digest}"`,
      );
    }
  }
  const { repository, tag } = parseReference(rest);
  const slash = repository.indexOf("/");
  const first = slash < 0 ? "" : repository.slice(0, slash);
  const hasRegistry = first !== "" &&
    (first.includes(".") || first.includes(":") || first === "localhost");
  const registry = hasRegistry ? first : "docker.io";
  let path = hasRegistry ? repository.slice(slash + 1) : repository;
  if (registry === "docker.io" && !path.includes("/")) path = `library/${path}`;
  const explicitTag = rest.slice(rest.lastIndexOf("/") + 1).includes(":");
  return { registry, path, tag: digest && !explicitTag ? undefined : tag, digest };
}

/** The full form of a registry reference: `docker.io/library/alpine:latest`, `host/p@sha256:…`. */
export function formatRegistryReference(ref: RegistryReference): string {
  const base = `${ref.registry}/${ref.path}`;
  return ref.digest && !ref.tag ? `${base}@${ref.digest}` : `${base}:${ref.tag ?? DEFAULT_TAG}`;
}
