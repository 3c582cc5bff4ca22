/**
 * The `overlay` snapshotter (Linux, root): the image's layer directories
 * become the read-only lower dirs of an overlay mount, with a per-container
 * upper and work dir. Creating a container writes three empty directories,
 * whatever the image's size; the mount is made when the process starts and
 * undone when it exits, so no mount outlives a run.
 *
 * @module
 */

import { join } from "node:path";
import { definePlugin } from "../../core/registry.ts";
import { ServinError } from "../../core/errors.ts";

function overlayAvailable(): boolean {
  try {
    return /\toverlay$/m.test(Deno.readTextFileSync("/proc/filesystems"));
  } catch {
    return false;
  }
}

/** The built-in overlay snapshotter plugin. */
export function overlaySnapshotter() {
  return definePlugin({
    name: "snapshot-overlay",
    setup(api) {
      api.snapshotter({
        name: "overlay",
        unavailable(platform) {
          if (!platform.mount) return `${platform.name} has no overlay mounts`;
          if (Deno.uid() !== 0) return "it needs root";
          if (!overlayAvailable()) return "the kernel has no overlay filesystem";
          return undefined;
        },
        async prepare(bundle) {
          for (const dir of ["rootfs", "upper", "work"]) {
            await Deno.mkdir(join(bundle, dir), { mode: 0o755 });
          }
        },
        mount(bundle, layers, platform) {
          if (layers.length === 0) {
            return Promise.reject(
              new ServinError("invalid-argument", "An overlay needs at least one layer"),
            );
          }
          // overlayfs lists lower dirs topmost first.
          const lower = [...layers].reverse().join(":");
          const options = `lowerdir=${lower},upperdir=${join(bundle, "upper")},workdir=${
            join(bundle, "work")
          }`;
          try {
            platform.mount!("overlay", join(bundle, "rootfs"), "overlay", options);
          } catch (err) {
            const why = err instanceof Error ? err.message : String(err);
            return Promise.reject(
              new ServinError("internal", `Cannot mount the container's overlay: ${why}`),
            );
          }
          return Promise.resolve();
        },
        unmount(bundle, platform) {
          platform.unmount?.(join(bundle, "rootfs"));
          return Promise.resolve();
        },
      });
    },
  });
}
