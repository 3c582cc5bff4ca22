/**
 * macOS (a stub for development): `~/.servin`; no ownership and no device
 * nodes.
 *
 * @module
 */

import type { Platform } from "../../core/kinds.ts";
import { definePlugin } from "../../core/registry.ts";
import { dotServin, ociArchitecture } from "./_common.ts";

/** The macOS platform. */
export function darwinPlatform(): Platform {
  return {
    name: "darwin",
    // Images made here hold Linux root filesystems.
    os: "linux",
    architecture: ociArchitecture(),
    canChown: false,
    cannotRun: "running containers is not supported on macOS",
    defaultRoot: () => dotServin("HOME"),
  };
}

/** The built-in macOS platform plugin. */
export function darwin() {
  return definePlugin({
    name: "platform-darwin",
    setup(api) {
      api.platform(darwinPlatform());
    },
  });
}
