/**
 * The built-in sinks: image archives (save) and root filesystems (export).
 * The registry sink is the registry plugin's (`../registry/mod.ts`).
 *
 * Image archives for `servin image save`:
 *
 * - `docker+oci` (default), as Docker 25+ writes: an OCI layout plus
 *   `manifest.json` and `repositories`, layers uncompressed;
 * - `docker-archive`: `manifest.json` and `repositories`, layers uncompressed;
 * - `oci-archive`: an OCI layout with every blob as it was received, so an
 *   image saved after a load keeps its manifest and layer digests.
 *
 * This module only registers them: the writer (`_archive.ts`) is imported
 * when a save starts.
 *
 * `servin image export`: an image's flattened filesystem (the merged view of
 * its layers, whiteouts applied) as a plain tarball, which `servin image
 * import` and `docker import` take back. This module only registers the
 * `rootfs` and `rootfs+gzip` formats: the writer (`_rootfs.ts`) is imported
 * when an export starts.
 *
 * @module
 */

import { definePlugin, type Plugin } from "../../core/registry.ts";

/** The built-in archive formats for `save`. */
export function archiveSinks(): Plugin {
  return definePlugin({
    name: "sink-archive",
    setup(api) {
      for (const name of ["docker+oci", "docker-archive", "oci-archive"]) {
        api.provide("sink", {
          name,
          async write(ctx) {
            const [{ writeArchive }, { writeTo }] = await Promise.all([
              import("./_archive.ts"),
              import("./_output.ts"),
            ]);
            await writeTo(ctx, (out) => writeArchive(out, name));
          },
        });
      }
    },
  });
}

/** The built-in `rootfs` format. */
export function rootfsSink(): Plugin {
  return definePlugin({
    name: "sink-rootfs",
    setup(api) {
      for (const name of ["rootfs", "rootfs+gzip"]) {
        api.provide("sink", {
          name,
          async write(ctx) {
            const [{ exportRootfs }, { writeTo }] = await Promise.all([
              import("./_rootfs.ts"),
              import("./_output.ts"),
            ]);
            await writeTo(ctx, (out) => exportRootfs(out, name === "rootfs+gzip"));
          },
        });
      }
    },
  });
}
