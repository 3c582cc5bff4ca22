/**
 * What a plugin author needs: `definePlugin` and the types of the plugin
 * API, its hooks and the capabilities a plugin can register. A plugin module
 * that must also run inside the compiled `servin` binary imports this file
 * with `import type` only and builds its errors with `api.error`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Plugin } from "./plugin.ts";
 *
 * // In the plugin's own module: `export default audit;`
 * const audit = {
 *   name: "audit",
 *   setup(api) {
 *     api.on("image:commit:after", ({ image }) => console.error(`stored ${image.id}`));
 *   },
 * } satisfies Plugin;
 * assert(audit.name === "audit");
 * ```
 *
 * @module
 */

export { definePlugin } from "./core/registry.ts";
export type { HookOptions, Plugin, PluginApi, PluginDescription } from "./core/registry.ts";
export type * from "./core/api.ts";
export type * from "./core/hooks.ts";
export type * from "./core/kinds.ts";
export type { ErrorCode } from "./core/errors.ts";
export type { Descriptor, ImageConfig, ImageRecord } from "./core/image.ts";
