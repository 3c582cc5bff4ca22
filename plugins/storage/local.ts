/**
 * The `local` storage backend, the only code that knows the store's paths:
 * `images/index.json` (the seed's format; validated when read, written
 * atomically under an exclusive lock), `images/leases.json`, a content
 * store under `images/blobs/sha256/` and a layer store under
 * `images/layers/<diff_id>/`, each layer complete only once its marker
 * `images/layers/<diff_id>.json` exists (written last at commit, removed
 * first at deletion). Work happens in `<root>/tmp/`; a rename makes it
 * visible, deletion renames out of place first, so a crash at any point
 * leaves every layer and blob complete or absent, and the next command
 * sweeps what was left. `check` (in `_check.ts`, imported when a check
 * starts) verifies a layer against the blob it was unpacked from, kept as
 * received, never against anything import computed.
 *
 * This module registers the backend, makes the store's directories and
 * lists the index; the rest of the store (`_local_store.ts`: blobs, layers,
 * staging, transactions, garbage collection) is imported when a command
 * first uses it, so that `servin image ls` loads none of it.
 *
 * @module
 */

import { ServinError } from "../../core/errors.ts";
import type { ImageRecord } from "../../core/image.ts";
import type { StorageContext, Store } from "../../core/kinds.ts";
import { definePlugin, type Plugin } from "../../core/registry.ts";
import { hasEntry, joinPath as join } from "../platform/_common.ts";
import type { LocalStore } from "./_local_store.ts";
import { checkRecord, readJsonArray } from "./record.ts";

/** Options of {@link localStorage}. */
export interface LocalStorageOptions {
  /** Gives up waiting for the store lock after this long (default 5 minutes). */
  lockTimeoutMs?: number;
}

/** The built-in local storage plugin. */
export function localStorage(options: LocalStorageOptions = {}): Plugin {
  return definePlugin({
    name: "storage-local",
    setup(api) {
      api.provide("storage", {
        name: "local",
        open: (ctx) => Promise.try(() => openLocal(ctx, options)),
      });
    },
  });
}

/** The image records of the index at `path`, each checked; none when it does not exist. */
export async function readIndex(path: string): Promise<ImageRecord[]> {
  const records = await readJsonArray(path);
  return records.map((r) => checkRecord(r, path));
}

/**
 * Makes the store's directories and returns the store: the index is listed here, everything
 * else is the store of `_local_store.ts`, imported and made at its first use.
 */
function openLocal(ctx: StorageContext, options: LocalStorageOptions): Store {
  try {
    // Synchronous, one system call each: on a busy machine, the thread an asynchronous call is
    // handed to can wait longer to run than all of `image ls` takes (`bench/startup.ts`).
    Deno.mkdirSync(ctx.root, { recursive: true, mode: 0o711 });
    for (const dir of [join("images", "blobs", "sha256"), join("images", "layers"), "tmp"]) {
      Deno.mkdirSync(join(ctx.root, dir), { recursive: true, mode: 0o700 });
    }
  } catch (err) {
    throw new ServinError(
      "invalid-argument",
      `Cannot use "${ctx.root}" as the Servin root: ${err instanceof Error ? err.message : err}`,
    );
  }
  let full: Promise<LocalStore> | undefined;
  let closed = false;
  const store = () =>
    full ??= import("./_local_store.ts").then(async ({ LocalStore }) => {
      const made = LocalStore.create(ctx, options);
      // Closed before its first use (a signal ended the command): it stages nothing, as ever.
      if (closed) await made.close();
      return made;
    });
  async function* walk<T>(of: (s: LocalStore) => AsyncIterable<T>): AsyncIterable<T> {
    yield* of(await store());
  }
  const indexPath = join(ctx.root, "images", "index.json");
  // A store with no image yet has no index: listing `images/` says so without the failed read
  // (Deno makes an error, with its stack, for it), on the path of every listing.
  const list = () =>
    hasEntry(join(ctx.root, "images"), "index.json") === false
      ? Promise.resolve([])
      : readIndex(indexPath);
  return {
    content: {
      info: async (digest) => await (await store()).content.info(digest),
      read: async (digest) => await (await store()).content.read(digest),
      ingest: async (stream, expected) => await (await store()).content.ingest(stream, expected),
      walk: () => walk((s) => s.content.walk()),
    },
    layers: {
      info: async (diffId) => await (await store()).layers.info(diffId),
      apply: async (tar, opts) => await (await store()).layers.apply(tar, opts),
      mounts: async (diffIds) => await (await store()).layers.mounts(diffIds),
      walk: () => walk((s) => s.layers.walk()),
    },
    index: {
      list,
      transaction: async (fn) => await (await store()).index.transaction(fn),
    },
    check: async (opts) => await (await store()).check(opts),
    close: async () => {
      closed = true;
      await (await full?.catch(() => undefined))?.close();
    },
  };
}
