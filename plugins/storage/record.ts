/**
 * Checking index records as they are read and before they are written: a
 * damaged `index.json` is an error naming the file and the record, never a
 * reason for a command to act on half a record (or delete what it names);
 * and reading the JSON files state is kept in (`fs.ts` has the writing).
 *
 * @module
 */

import { ServinError } from "../../core/errors.ts";
import type { ImageRecord } from "../../core/image.ts";

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Starts the check of a record read from an index (an image record, a
 * container record): returns it once it is an object with a valid `id`,
 * with the maker of the errors that name `where`, the `noun` and the
 * record's short ID; throws such an error otherwise.
 */
export function beginRecordCheck<T>(
  value: unknown,
  where: string,
  noun: string,
): [Partial<T>, (what: string) => ServinError] {
  const r = value as { id?: unknown } | null;
  const bad = (what: string) =>
    new ServinError(
      "invalid-argument",
      `${where}: ${noun} ${typeof r?.id === "string" ? r.id.slice(0, 12) : "?"} ${what}`,
    );
  if (!r || typeof r !== "object") throw bad("is not an object");
  if (typeof r.id !== "string" || !HEX64.test(r.id)) throw bad("has no valid id");
  return [r as Partial<T>, bad];
}

/** Whether `value` is a list of layer diff_ids (64 hex digits each), as records name layers. */
export function isDiffIdList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((l) => typeof l === "string" && HEX64.test(l));
}

/**
 * Checks that `value` is an index record as Servin writes it; throws a clear
 * error naming `where` and the record otherwise, so that a damaged index
 * never makes a command act on half a record.
 */
export function checkRecord(value: unknown, where: string): ImageRecord {
  const [r, bad] = beginRecordCheck<ImageRecord>(value, where, "record");
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === "string");
  if (!strings(r.repo_tags)) throw bad("has a repo_tags that is not a list of strings");
  if (!isDiffIdList(r.layers)) throw bad("has a layers that is not a list of diff_ids");
  if (r.blobs !== undefined && !(Array.isArray(r.blobs) && r.blobs.every((b) => HEX64.test(b)))) {
    throw bad("has a blobs that is not a list of digests");
  }
  if (r.variants !== undefined && (typeof r.variants !== "object" || r.variants === null)) {
    throw bad("has a variants that is not an object");
  }
  if (typeof r.created !== "string" || typeof r.size !== "number") {
    throw bad("has no created time or size");
  }
  if (!r.config || typeof r.config !== "object" || !r.metadata || typeof r.metadata !== "object") {
    throw bad("has no config or metadata");
  }
  return r as ImageRecord;
}

/** Reads a JSON array file; a missing file is an empty array. */
export async function readJsonArray(path: string): Promise<unknown[]> {
  const data = await readJson(path, []);
  if (!Array.isArray(data)) {
    throw new ServinError("invalid-argument", `${path} is not a JSON array`);
  }
  return data;
}

/**
 * Reads a JSON file; `fallback` when it is missing. The read is synchronous: state files are
 * small, and on a busy machine the thread an asynchronous read is handed to can wait longer to
 * run than all of `image ls` takes (`bench/startup.ts`).
 */
export function readJson(path: string, fallback: unknown): Promise<unknown> {
  return Promise.try(() => readJsonNow(path, fallback));
}

function readJsonNow(path: string, fallback: unknown): unknown {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return fallback;
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ServinError("invalid-argument", `${path} is not valid JSON`);
  }
}
