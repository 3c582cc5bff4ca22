/**
 * The built-in snapshotters, `overlay` (the default where it works) and `copy`;
 * a container's diff to its image is `diff.ts`.
 *
 * The `overlay` snapshotter (Linux, root): the image's layer directories
 * become the read-only lower dirs of an overlay mount, with a per-container
 * upper and work dir. Creating a container writes three empty directories,
 * whatever the image's size; the mount is made when the process starts and
 * undone when it exits, so no mount outlives a run. Linux only: paths are
 * joined with `/`, and nothing is imported that start-up would pay for.
 *
 * The `copy` snapshotter: materialises the image into `<bundle>/rootfs` by
 * copying the merged view of its layers (`_copy.ts`). Works everywhere;
 * mounting is a no-op. This module is set up on every start, so the copy
 * code is imported only when a container is created.
 *
 * @module
 */

import { ServinError } from "../../core/errors.ts";
import type { Snapshotter } from "../../core/kinds.ts";
import { definePlugin, type Plugin } from "../../core/registry.ts";

function overlayAvailable(): boolean {
  try {
    return /\toverlay$/m.test(Deno.readTextFileSync("/proc/filesystems"));
  } catch {
    return false;
  }
}

/** The overlay snapshotter. */
export const overlay: Snapshotter = {
  name: "overlay",
  unavailable(platform) {
    if (Deno.uid() !== 0) return "it needs root";
    // Layers stored with `.wh.` files instead would show their whiteouts as files.
    if (!platform.overlayWhiteouts) return `${platform.name} has no overlay mounts`;
    if (!overlayAvailable()) return "the kernel has no overlay filesystem";
    return undefined;
  },
  async prepare(bundle) {
    for (const dir of ["rootfs", "upper", "work"]) {
      await Deno.mkdir(`${bundle}/${dir}`, { mode: 0o755 });
    }
  },
  mount(bundle, layers, platform) {
    if (layers.length === 0) {
      return Promise.reject(
        new ServinError("invalid-argument", "An overlay needs at least one layer"),
      );
    }
    const bad = [...layers, bundle].find((p) => /[:,]/.test(p));
    if (bad) {
      return Promise.reject(
        new ServinError("unsupported", `An overlay cannot use "${bad}": it holds ":" or ","`),
      );
    }
    // overlayfs lists lower dirs topmost first.
    const lower = [...layers].reverse().join(":");
    const options = `lowerdir=${lower},upperdir=${bundle}/upper,workdir=${bundle}/work`;
    try {
      platform.mount("overlay", `${bundle}/rootfs`, "overlay", options);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return Promise.reject(
        new ServinError("unsupported", `Cannot mount the container's overlay: ${why}`),
      );
    }
    return Promise.resolve();
  },
  async diff(bundle, layers, platform, options) {
    const { diffLayer } = await import("./diff.ts");
    const dir = `${bundle}/upper`;
    return diffLayer({ kind: "overlay", dir, bundle, layers, platform }, options);
  },
  unmount(bundle, platform) {
    try {
      platform.unmount(`${bundle}/rootfs`);
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve();
  },
};

/** The built-in overlay snapshotter plugin. */
export function overlaySnapshotter(): Plugin {
  return definePlugin({
    name: "snapshot-overlay",
    setup(api) {
      api.provide("snapshotter", overlay);
    },
  });
}

/** The copy snapshotter: a plain directory holding the merged layers; mounting is a no-op. */
export const copy: Snapshotter = {
  name: "copy",
  unavailable: () => undefined,
  async prepare(bundle, layers, platform) {
    const { copyLayers } = await import("./_copy.ts");
    const rootfs = `${bundle}/rootfs`;
    await Deno.mkdir(rootfs, { mode: 0o700 });
    await copyLayers(layers, rootfs, platform);
  },
  async diff(bundle, layers, platform, options) {
    const { diffLayer } = await import("./diff.ts");
    const dir = `${bundle}/rootfs`;
    return diffLayer({ kind: "copy", dir, bundle, layers, platform }, options);
  },
  mount: async () => {},
  unmount: async () => {},
};

/** The built-in copy snapshotter plugin. */
export function copySnapshotter(): Plugin {
  return definePlugin({
    name: "snapshot-copy",
    setup(api) {
      api.provide("snapshotter", copy);
    },
  });
}
