/**
 * Docker's listing filters (`reference=` globs, `dangling=`, `label=`).
 *
 * @module
 */

import type { ImageRecord } from "../../core/image.ts";

/** Filters of a listing, as `docker image ls --filter` takes them. */
export interface ImageFilter {
  /** Glob on `repository` or `repository:tag` (`*` within a path component). */
  reference?: string[];
  /** Only images without tags (true) or only tagged ones (false). */
  dangling?: boolean;
  /** `key` or `key=value` labels all of which must match. */
  label?: string[];
}

/**
 * IDs of the intermediate images of `images`: untagged ones another image
 * was made on (its `metadata.parent`), as build and commit record it. Docker
 * hides them from `image ls` without `-a`, and `image prune` keeps them
 * while that image lives: they are its build cache.
 */
export function intermediates(images: readonly ImageRecord[]): Set<string> {
  const untagged = new Set(images.filter((i) => i.repo_tags.length === 0).map((i) => i.id));
  const out = new Set<string>();
  for (const img of images) {
    const parent = img.metadata.parent;
    if (parent !== undefined && untagged.has(parent)) out.add(parent);
  }
  return out;
}

/** True when `img` passes every filter. */
export function matchesFilter(img: ImageRecord, filter: ImageFilter): boolean {
  if (filter.dangling !== undefined && (img.repo_tags.length === 0) !== filter.dangling) {
    return false;
  }
  if (!hasLabels(img.config.labels, filter.label ?? [])) return false;
  const refs = filter.reference ?? [];
  if (refs.length === 0) return true;
  return img.repo_tags.some((tag) => refs.some((pattern) => matchReference(tag, pattern)));
}

/** True when `labels` has every `key` or `key=value` of `wanted` (Docker's `label=` filter). */
export function hasLabels(labels: Record<string, string>, wanted: readonly string[]): boolean {
  return wanted.every((label) => {
    const eq = label.indexOf("=");
    const key = eq < 0 ? label : label.slice(0, eq);
    return key in labels && (eq < 0 || labels[key] === label.slice(eq + 1));
  });
}

function matchReference(tag: string, pattern: string): boolean {
  const glob = new RegExp(
    "^" + pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")
      .replace(/\?/g, "[^/]") +
      "$",
  );
  const colon = tag.lastIndexOf(":");
  return glob.test(tag) || glob.test(tag.slice(0, colon));
}
