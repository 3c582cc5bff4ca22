/**
 * `servin image export`: an image's flattened filesystem (the merged view of
 * its layers, whiteouts applied) as a plain tarball, which `servin image
 * import` and `docker import` take back. This module only registers the
 * `rootfs` and `rootfs+gzip` formats: the writer (`_rootfs.ts`) is imported
 * when an export starts.
 *
 * @module
 */

import { definePlugin, type Plugin } from "../../core/registry.ts";

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
