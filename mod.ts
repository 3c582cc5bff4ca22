/**
 * Servin's library API: open a store with the built-in plugins (and your
 * own), then import, list, inspect, tag and remove images.
 *
 * @example
 * ```ts
 * import { openServin } from "./mod.ts";
 *
 * const root = await Deno.makeTempDir();
 * const servin = await openServin({ root });
 * try {
 *   console.log((await servin.listImages()).length); // 0
 * } finally {
 *   await servin.close();
 *   await Deno.remove(root, { recursive: true });
 * }
 * ```
 *
 * @module
 */

import type { OpenOptions, Servin } from "./core/api.ts";
import type { Plugin } from "./core/registry.ts";
import { ServinHandle } from "./core/servin.ts";
import { builtinPlugins } from "./plugins/mod.ts";

// Everything a plugin author gets, scripts get too.
export * from "./plugin.ts";
export { ServinError } from "./core/errors.ts";
export type { ServinErrorOptions } from "./core/errors.ts";
export { DEFAULT_LIMITS } from "./core/image.ts";
export { resolveImage, shortId } from "./core/image.ts";
export { normalizeReference, parseReference } from "./core/reference.ts";
export type { Reference } from "./core/reference.ts";
export { Registry, sortPlugins } from "./core/registry.ts";
export { DEFAULT_CONFIG } from "./plugins/ingest/config.ts";
export { builtinPlugins } from "./plugins/mod.ts";
export type { BuiltinOptions } from "./plugins/mod.ts";
export type { LocalStorageOptions } from "./plugins/storage/local.ts";
export type { RegistryPluginOptions } from "./plugins/registry/mod.ts";
export { memoryStorage } from "./plugins/storage/memory.ts";
export { generateKeyPair, trustPlugin } from "./plugins/trust/mod.ts";
export type { KeyPair } from "./plugins/trust/mod.ts";
export { dockerScopes, pathScopes, Policy } from "./plugins/trust/policy.ts";
export type { Requirement } from "./plugins/trust/policy.ts";

/** Options of {@link openServin}. */
export interface OpenServinOptions extends OpenOptions {
  /** Third-party plugins, loaded after the built-in ones. */
  plugins?: Plugin[];
}

/**
 * Opens Servin with the built-in plugins plus `options.plugins`.
 *
 * @example
 * ```ts
 * import { openServin } from "./mod.ts";
 * const root = await Deno.makeTempDir();
 * const servin = await openServin({ root });
 * console.log(servin.info().platform);
 * await servin.close();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function openServin(options: OpenServinOptions = {}): Promise<Servin> {
  const { plugins = [], ...rest } = options;
  return await ServinHandle.open({ ...rest, plugins: [...builtinPlugins(), ...plugins] });
}
