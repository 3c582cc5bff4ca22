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
import { MAX_SYMLINKS, resolveInRoot } from "../formats/confine.ts";

function failure(m: MountPoint, why: string): ServinError {
  return new ServinError("invalid-argument", `Cannot mount on "${m.destination}": ${why}`);
}

/** `path` made absolute and clean, `..` stopping at the root (as the kernel walks `/..`). */
function clamp(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "..") out.pop();
    else if (part !== "" && part !== ".") out.push(part);
  }
  return `/${out.join("/")}`;
}

/**
 * Where `path` (absolute in the container) is inside `rootfs`, made when
 * missing: a directory, or an empty file when `file`. Symlinks are followed
 * inside the root only (the confinement module resolves what exists); a
 * dangling one has its target made, inside the root too.
 */
async function makeTarget(
  rootfs: string,
  m: MountPoint,
  path: string,
  file: boolean,
  links = 0,
): Promise<string> {
  const label = `Mount target "${m.destination}"`;
  const found = resolveInRoot(rootfs, path, { label });
  if (found !== undefined) {
    if (!file && !(await Deno.stat(found)).isDirectory) throw failure(m, "it is not a directory");
    return found;
  }
  const clean = clamp(path);
  const cut = clean.lastIndexOf("/");
  const parent = await makeTarget(rootfs, m, clean.slice(0, cut) || "/", false, links);
  const here = join(parent, clean.slice(cut + 1));
  const info = await Deno.lstat(here).catch(() => undefined);
  if (info?.isSymlink) {
    if (links >= MAX_SYMLINKS) throw failure(m, "too many levels of symlinks");
    const target = await Deno.readLink(here);
    const base = parent === rootfs ? "/" : parent.slice(rootfs.length);
    return await makeTarget(
      rootfs,
      m,
      target.startsWith("/") ? target : `${base}/${target}`,
      file,
      links + 1,
    );
  }
  if (info) throw failure(m, `${clean} is not a directory`);
  if (file) await Deno.writeFile(here, new Uint8Array(), { createNew: true, mode: 0o644 });
  else await Deno.mkdir(here, { mode: 0o755 });
  return here;
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
    if (m.type === "tmpfs") {
      // Only checked: runc keeps the mode of a directory that is there before a tmpfs.
      resolveInRoot(rootfs, m.destination, { label: `Mount target "${m.destination}"` });
      continue;
    }
    const target = await makeTarget(rootfs, m, m.destination, file);
    if (m.type !== "volume" || m.options.includes("nocopy")) continue;
    // As Docker: an empty volume takes what the image has there (only then).
    if (!(await isEmpty(m.source)) || (await isEmpty(target))) continue;
    const { copyLayers } = await import("../snapshot/_copy.ts");
    await copyLayers([target], m.source, platform);
  }
}
