/**
 * macOS (a stub for development): `~/.servin`; no ownership and no device
 * nodes.
 *
 * @module
 */

import { definePlugin } from "../../core/registry.ts";
import { dotServin, ociArchitecture } from "./_common.ts";

/** The built-in macOS platform plugin. */
export function darwin() {
  return definePlugin({
    name: "platform-darwin",
    setup(api) {
      api.platform({
        name: "darwin",
        // Images made here hold Linux root filesystems.
        os: "linux",
        architecture: ociArchitecture(),
        canChown: false,
        cannotRun: "running containers is not supported on macOS",
        defaultRoot: () => dotServin("HOME"),
      });
    },
  });
}
