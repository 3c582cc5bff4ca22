/**
 * The build cache: step key → the image that step made, in
 * `<root>/build/cache.json`. An entry is only a pointer: the image itself
 * is an ordinary (untagged) image of the store, so `image prune` collects
 * it when no tag keeps it, and an entry whose image is gone is a miss and is
 * dropped when the next build starts.
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

  /** Records `id` for `key`. */
  async set(key: string, id: string): Promise<void> {
    await this.#update((entries) => {
      entries[key] = id;
    });
  }

  /** Drops the entries whose image is not in `live` (collected by a prune since). */
  async retain(live: ReadonlySet<string>): Promise<void> {
    const entries = await this.#read();
    if (Object.values(entries).every((id) => live.has(id))) return;
    await this.#update((entries) => {
      for (const [k, id] of Object.entries(entries)) if (!live.has(id)) delete entries[k];
    });
  }

  async #update(change: (entries: Record<string, string>) => void): Promise<void> {
    await Deno.mkdir(this.#dir, { recursive: true });
    const lock = await lockExclusive(join(this.#dir, "cache.lock"));
    try {
      const entries = await this.#read();
      change(entries);
      await atomicWrite(this.#file, new TextEncoder().encode(JSON.stringify(entries)));
    } finally {
      lock.close();
    }
  }
}
