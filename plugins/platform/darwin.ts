/**
 * macOS (a stub for development): `~/.servin`; no ownership, no device
 * nodes, no containers.
 *
 * @module
 */

import type { Platform } from "../../core/kinds.ts";
import type { Plugin } from "../../core/registry.ts";
import { dotServin, platformPlugin, stubPlatform } from "./_common.ts";

/** The macOS platform. */
export function darwinPlatform(): Platform {
  return stubPlatform("darwin", "macOS", () => dotServin("HOME"));
}

/** The built-in macOS platform plugin (registered as `darwin`, `Deno.build.os`'s name). */
export function darwin(): Plugin {
  return platformPlugin("darwin", darwinPlatform);
}
