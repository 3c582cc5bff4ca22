/**
 * The container model: fresh IDs, Docker-style names, the name rule, how a
 * name resolves to a container, and the check every record read from the
 * index goes through.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import type { ContainerRecord } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import { MIN_PREFIX_LENGTH, shortId } from "../../core/image.ts";
import { beginRecordCheck, isDiffIdList } from "../storage/record.ts";

/** A fresh random container ID (64 hex digits). */
export function newContainerId(): string {
  return randomBytes(32).toString("hex");
}

const ADJECTIVES = [
  "brave",
  "calm",
  "eager",
  "fond",
  "gentle",
  "happy",
  "keen",
  "lucid",
  "merry",
  "nimble",
  "proud",
  "quiet",
  "sharp",
  "tender",
  "vivid",
  "witty",
];
const NOUNS = [
  "babbage",
  "curie",
  "darwin",
  "euler",
  "fermat",
  "gauss",
  "hopper",
  "kepler",
  "lovelace",
  "noether",
  "pascal",
  "ritchie",
  "shannon",
  "thompson",
  "turing",
  "wozniak",
];

/**
 * A Docker-style random name (`eager_turing`) not in `taken`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { randomName } from "./model.ts";
 * assert(/^[a-z]+_[a-z]+\d*$/.test(randomName(new Set())));
 * ```
 */
export function randomName(taken: ReadonlySet<string>): string {
  for (let i = 0; i < 1000; i++) {
    const [a, n] = randomBytes(2);
    const name = `${ADJECTIVES[a! % ADJECTIVES.length]}_${NOUNS[n! % NOUNS.length]}`;
    const candidate = i < 100 ? name : `${name}${i}`;
    if (!taken.has(candidate)) return candidate;
  }
  throw new ServinError("internal", "Cannot find a free container name");
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * Checks a user-given container name (Docker's rule); returns it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkContainerName } from "./model.ts";
 * assert(checkContainerName("web-1") === "web-1");
 * ```
 */
export function checkContainerName(name: string): string {
  if (!NAME.test(name) || name.length > 128) {
    throw new ServinError(
      "invalid-argument",
      `Invalid container name "${name}": use letters, digits, "_", "." and "-", starting with a letter or digit`,
    );
  }
  return name;
}

/** Finds a container by name, full ID or unique ID prefix (at least 4 characters). */
export function resolveContainer(
  containers: readonly ContainerRecord[],
  name: string,
): ContainerRecord {
  const byName = containers.find((c) => c.name === name);
  if (byName) return byName;
  if (name.length >= MIN_PREFIX_LENGTH && /^[0-9a-f]+$/.test(name)) {
    const matches = containers.filter((c) => c.id.startsWith(name));
    if (matches.length > 1) {
      throw new ServinError(
        "ambiguous",
        `Container ID prefix "${name}" is ambiguous: it matches ${
          matches.map((c) => shortId(c.id)).join(", ")
        }`,
      );
    }
    if (matches[0]) return matches[0];
  }
  throw new ServinError("not-found", `No such container: ${name}`);
}

/**
 * Checks that `value` is a container record as Servin writes it, so that a
 * damaged index never makes a command act on half a record (or delete a
 * directory an ID that is not one would name).
 */
export function checkContainerRecord(value: unknown, where: string): ContainerRecord {
  const [r, bad] = beginRecordCheck<ContainerRecord>(value, where, "container");
  if (typeof r.name !== "string" || !NAME.test(r.name)) throw bad("has no valid name");
  if (!isDiffIdList(r.layers)) throw bad("has a layers that is not a list of diff_ids");
  for (const key of ["image", "image_id", "created", "status", "snapshotter", "runtime"] as const) {
    if (typeof r[key] !== "string") throw bad(`has no ${key}`);
  }
  const p = r.process;
  if (
    !p || typeof p !== "object" || !Array.isArray(p.args) || !Array.isArray(p.env) ||
    typeof p.cwd !== "string" || typeof p.uid !== "number" || typeof p.gid !== "number" ||
    !Array.isArray(p.additional_gids)
  ) {
    throw bad("has no valid process");
  }
  const e = r.entrypoint;
  if (e !== undefined && !(Array.isArray(e) && e.every((w, i) => p.args[i] === w))) {
    throw bad("has an entrypoint that does not begin its process's arguments");
  }
  return r as ContainerRecord;
}
