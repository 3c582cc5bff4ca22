/**
 * Volumes on disk: `<root>/volumes/index.json` (the records, changed only
 * under `<root>/volumes/index.lock`) and `<root>/volumes/NAME/_data` (what
 * containers mount). A volume's directory is made before its record is
 * written and put out of sight (renamed into `<root>/tmp/`) after its record
 * is gone, so a crash leaves at worst a directory no record names, which the
 * next change clears. Which containers use a volume is the caller's to say:
 * the container service asks under its own lock.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { VolumeRecord } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import { doom, IndexFile, treeBytes } from "../storage/fs.ts";
import { ANONYMOUS_LABEL, checkVolumeName, VOLUME_NAME } from "./mounts.ts";

/** A volume as the index keeps it (the mountpoint follows from the name). */
interface StoredVolume {
  name: string;
  created: string;
  labels: Record<string, string>;
}

function checkStored(value: unknown, where: string): StoredVolume {
  const v = value as Partial<StoredVolume> | null;
  if (
    !v || typeof v !== "object" || typeof v.name !== "string" || !VOLUME_NAME.test(v.name) ||
    typeof v.created !== "string" || !v.labels || typeof v.labels !== "object"
  ) {
    throw new ServinError("invalid-argument", `${where}: a volume record is damaged`);
  }
  return { name: v.name, created: v.created, labels: { ...v.labels } };
}

/** A fresh anonymous volume's name: 64 hex digits, as Docker makes them. */
export function anonymousName(): string {
  return randomBytes(32).toString("hex");
}

/** True for a volume made for one container (`-v /path`, an image's `Volumes`). */
export function isAnonymous(v: { labels: Record<string, string> }): boolean {
  return ANONYMOUS_LABEL in v.labels;
}

/** The volumes under one root. */
export class VolumeStore {
  #dir: string;
  #tmp: string;
  #index: IndexFile<StoredVolume>;

  /** The store of `<root>/volumes`; nothing is made until a volume is. */
  constructor(root: string, notice?: (message: string) => void) {
    this.#dir = join(root, "volumes");
    this.#tmp = join(root, "tmp");
    this.#index = new IndexFile(
      join(this.#dir, "index.json"),
      join(this.#dir, "index.lock"),
      checkStored,
      { notice },
    );
  }

  /** The data directory of volume `name` (the name's rule keeps it inside `<root>/volumes`). */
  dataDir(name: string): string {
    return join(this.#dir, checkVolumeName(name), "_data");
  }

  #view(v: StoredVolume): VolumeRecord {
    return { name: v.name, mountpoint: this.dataDir(v.name), created: v.created, labels: v.labels };
  }

  async #transaction<R>(fn: (records: StoredVolume[]) => R | Promise<R>): Promise<R> {
    await Deno.mkdir(this.#dir, { recursive: true, mode: 0o701 });
    await Deno.mkdir(this.#tmp, { recursive: true, mode: 0o700 });
    return await this.#index.transaction(async (records) => {
      // What a crash between a directory's making and its record's writing left.
      const names = new Set(records.map((v) => v.name));
      for await (const e of Deno.readDir(this.#dir)) {
        if (e.isDirectory && !names.has(e.name)) await doom(join(this.#dir, e.name), this.#tmp);
      }
      return await fn(records);
    });
  }

  /** Makes each volume that does not exist yet (`anonymous`: with Docker's label). */
  async ensure(
    wanted: readonly { name: string; anonymous?: boolean; labels?: Record<string, string> }[],
  ): Promise<VolumeRecord[]> {
    if (wanted.length === 0) return [];
    return await this.#transaction(async (records) => {
      const out: VolumeRecord[] = [];
      for (const w of wanted) {
        let v = records.find((r) => r.name === w.name);
        if (!v) {
          const data = this.dataDir(w.name);
          await Deno.mkdir(join(this.#dir, w.name), { mode: 0o701 }).catch((err) => {
            if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
          });
          await Deno.mkdir(data, { recursive: true, mode: 0o755 });
          v = {
            name: w.name,
            created: new Date().toISOString(),
            labels: { ...w.labels, ...w.anonymous ? { [ANONYMOUS_LABEL]: "" } : {} },
          };
          records.push(v);
        }
        out.push(this.#view(v));
      }
      return out;
    });
  }

  /** Every volume, by name. */
  async list(): Promise<VolumeRecord[]> {
    const records = await this.#index.read();
    return records.map((v) => this.#view(v)).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0
    );
  }

  /** The volume `name`; `not-found` when there is none. */
  async get(name: string): Promise<VolumeRecord> {
    const v = (await this.#index.read()).find((r) => r.name === name);
    if (!v) throw new ServinError("not-found", `No such volume: ${name}`);
    return this.#view(v);
  }

  /**
   * Removes the volumes `pick` chooses among those `users` (volume name →
   * the containers using it) does not name; returns their names and bytes.
   */
  async remove(
    pick: (v: VolumeRecord) => boolean,
    users: ReadonlyMap<string, string[]>,
  ): Promise<{ deleted: string[]; reclaimed: number }> {
    const doomed: string[] = [];
    let reclaimed = 0;
    await this.#transaction(async (records) => {
      for (const v of [...records]) {
        if (!pick(this.#view(v)) || users.has(v.name)) continue;
        reclaimed += await treeBytes(join(this.#dir, v.name));
        records.splice(records.indexOf(v), 1);
        doomed.push(v.name);
      }
    });
    // After the record is gone: a crash here leaves a directory the next change clears.
    for (const name of doomed) await doom(join(this.#dir, name), this.#tmp);
    return { deleted: doomed, reclaimed };
  }
}
