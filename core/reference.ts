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
 * import { parseReference } from "./reference.ts";
 * const ref = parseReference("localhost:5000/app");
 * console.assert(ref.repository === "localhost:5000/app" && ref.tag === "latest");
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
