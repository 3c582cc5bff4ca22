/**
 * What a container's mounts need before its process starts, with its root
 * filesystem in place: each target resolved inside the root filesystem by
 * the confinement module (a symlink is followed as if the root were `/`,
 * never out of it) and made when missing; a `-v` bind's missing host
 * directory made, as Docker makes it; an empty volume filled from the
 * image's content at its target (owners, modes, times, extended attributes
 * and symlinks kept), as Docker does unless `nocopy` is asked for.
 *
 * @module
 */

import { join } from "node:path";
import { ServinError } from "../../core/errors.ts";
import type { MountPoint, Platform } from "../../core/kinds.ts";
import { resolveInRoot } from "../formats/confine.ts";

function failure(m: MountPoint, why: string): ServinError {
  return new ServinError("invalid-argument", `Cannot mount on "${m.destination}": ${why}`);
}

/**
 * Where `target` is inside `rootfs`, made when missing: a directory, or an
 * empty file when `file` (a bind of a file).
 */
async function makeTarget(rootfs: string, m: MountPoint, file: boolean): Promise<string> {
  const parts = m.destination.split("/").filter(Boolean);
  let at = rootfs;
  for (let i = 0; i < parts.length; i++) {
    const last = i === parts.length - 1;
    const found = resolveInRoot(rootfs, `/${parts.slice(0, i + 1).join("/")}`, {
      label: `Mount target "${m.destination}"`,
    });
    if (found !== undefined) {
      const info = await Deno.stat(found);
      if (!last && !info.isDirectory) {
        throw failure(m, `${found.slice(rootfs.length)} is not a directory`);
      }
      if (last && !file && !info.isDirectory) throw failure(m, "it is not a directory");
      at = found;
      continue;
    }
    // Missing: made in the (resolved, real) parent, never through a symlink.
    const path = join(at, parts[i]!);
    if (last && file) {
      await Deno.writeFile(path, new Uint8Array(), { createNew: true, mode: 0o644 });
    } else {
      await Deno.mkdir(path, { mode: 0o755 });
    }
    at = path;
  }
  return at;
}

async function isEmpty(dir: string): Promise<boolean> {
  for await (const _ of Deno.readDir(dir)) return false;
  return true;
}

/** Readies `mounts` in `rootfs` (mounted) before the process starts. */
export async function prepareMounts(
  rootfs: string,
  mounts: readonly MountPoint[],
  platform: Platform,
): Promise<void> {
  for (const m of mounts) {
    let file = false;
    if (m.type === "bind") {
      let info = await Deno.stat(m.source).catch(() => undefined);
      if (!info && m.options.includes("create")) {
        await Deno.mkdir(m.source, { recursive: true, mode: 0o755 });
        info = await Deno.stat(m.source);
      }
      if (!info) throw failure(m, `bind source path does not exist: ${m.source}`);
      file = !info.isDirectory;
    }
    const target = await makeTarget(rootfs, m, file);
    if (m.type !== "volume" || m.options.includes("nocopy")) continue;
    // As Docker: an empty volume takes what the image has there (only then).
    if (!(await isEmpty(m.source)) || (await isEmpty(target))) continue;
    const { copyLayers } = await import("../snapshot/_copy.ts");
    await copyLayers([target], m.source, platform);
  }
}
