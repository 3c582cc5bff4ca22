/**
 * Windows (a stub for development): `~/.servin` from `USERPROFILE`; no
 * ownership and no device nodes.
 *
 * @module
 */

import type { Platform } from "../../core/kinds.ts";
import { definePlugin } from "../../core/registry.ts";
import { dotServin, ociArchitecture } from "./_common.ts";

/** The Windows platform. */
export function windowsPlatform(): Platform {
  return {
    name: "windows",
    // Images made here hold Linux root filesystems.
    os: "linux",
    architecture: ociArchitecture(),
    canChown: false,
    cannotRun: "running containers is not supported on Windows",
    defaultRoot: () => dotServin("USERPROFILE"),
  };
}

/** The built-in Windows platform plugin. */
export function windows() {
  return definePlugin({
    name: "platform-windows",
    setup(api) {
      api.platform(windowsPlatform());
    },
  });
}
