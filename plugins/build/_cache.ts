/**
 * The build cache: step key → the image that step made, in
 * `<root>/build/cache.json`. An entry is only a pointer: the image itself
 * is an ordinary (untagged) image of the store, so `image prune` collects
 * it when no tag keeps it, and an entry whose image is gone is a miss and is
 * dropped at the next write.
 *
 * @module
 */

import { join } from "node:path";
import { atomicWrite, HEX64, lockExclusive, readJson } from "../storage/fs.ts";

/** Step keys and the images they made. */
export class BuildCache {
  readonly #dir: string;
  readonly #file: string;

  /** The cache of the store at `root`. */
  constructor(root: string) {
    this.#dir = join(root, "build");
    this.#file = join(this.#dir, "cache.json");
  }

  async #read(): Promise<Record<string, string>> {
    const v = await readJson(this.#file, {}).catch(() => ({}));
    const out: Record<string, string> = {};
    if (v && typeof v === "object" && !Array.isArray(v)) {
      for (const [k, id] of Object.entries(v)) {
        if (HEX64.test(k) && typeof id === "string" && HEX64.test(id)) out[k] = id;
      }
    }
    return out;
  }

  /** The image ID recorded for `key`, if any (the caller checks it still exists). */
  async get(key: string): Promise<string | undefined> {
    return (await this.#read())[key];
  }

  /** Records `id` for `key`, dropping entries whose image is not in `live` when given. */
  async set(key: string, id: string, live?: ReadonlySet<string>): Promise<void> {
    await Deno.mkdir(this.#dir, { recursive: true });
    const lock = await lockExclusive(join(this.#dir, "cache.lock"));
    try {
      const entries = await this.#read();
      entries[key] = id;
      if (live) {
        for (const [k, v] of Object.entries(entries)) if (!live.has(v)) delete entries[k];
      }
      await atomicWrite(this.#file, new TextEncoder().encode(JSON.stringify(entries)));
    } finally {
      lock.close();
    }
  }
}
