/**
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
