/**
 * Windows (a stub for development): `~/.servin` from `USERPROFILE`; no
 * ownership, no device nodes, no containers.
 *
 * @module
 */

import type { Platform } from "../../core/kinds.ts";
import type { Plugin } from "../../core/registry.ts";
import { dotServin, platformPlugin, stubPlatform } from "./_common.ts";

/** The Windows platform. */
export function windowsPlatform(): Platform {
  return stubPlatform("windows", "Windows", () => dotServin("USERPROFILE"));
}

/** The built-in Windows platform plugin (registered as `windows`, `Deno.build.os`'s name). */
export function windows(): Plugin {
  return platformPlugin("windows", windowsPlatform);
}
