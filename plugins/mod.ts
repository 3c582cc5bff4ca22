/**
 * The built-in plugins, in the order they are registered (the first of a
 * kind is its default). They use the same plugin API as third-party
 * plugins, and every module imported here is a light registration module:
 * the code that does the work is imported when a capability is first used,
 * so that start-up stays near bare Deno's.
 *
 * @module
 */

import type { Plugin } from "../core/registry.ts";
import { buildPlugin } from "./build/mod.ts";
import { builtinCommands } from "./commands/_define.ts";
import { containersPlugin } from "./containers/mod.ts";
import { imagesPlugin } from "./images/mod.ts";
import { ingestPlugin } from "./ingest/mod.ts";
import { darwin, linux, windows } from "./platform/mod.ts";
import { registryPlugin, type RegistryPluginOptions } from "./registry/mod.ts";
import { ociRuntimes } from "./runtime/mod.ts";
import { archiveSinks, rootfsSink } from "./sinks/mod.ts";
import { copySnapshotter, overlaySnapshotter } from "./snapshot/mod.ts";
import { archiveSource, tarballSource } from "./sources/mod.ts";
import { localStorage, type LocalStorageOptions } from "./storage/local.ts";
import { trustPlugin } from "./trust/mod.ts";

/** Options of {@link builtinPlugins}: the options of the plugin factories that take some. */
export interface BuiltinOptions {
  /** Options of the registry plugin (timeouts, retries, parallel uploads). */
  registry?: RegistryPluginOptions;
  /** Options of the local storage plugin (how long to wait for the store lock). */
  storage?: LocalStorageOptions;
}

/** Fresh instances of every built-in plugin. */
export function builtinPlugins(options: BuiltinOptions = {}): Plugin[] {
  return [
    linux(),
    windows(),
    darwin(),
    localStorage(options.storage),
    ingestPlugin(),
    imagesPlugin(),
    tarballSource(),
    archiveSource(),
    archiveSinks(),
    registryPlugin(options.registry),
    rootfsSink(),
    containersPlugin(),
    overlaySnapshotter(),
    copySnapshotter(),
    ociRuntimes(),
    builtinCommands("commands-image"),
    builtinCommands("commands-container"),
    builtinCommands("commands-network"),
    builtinCommands("commands-system"),
    builtinCommands("commands-volume"),
    trustPlugin(),
    buildPlugin(),
    builtinCommands("commands-trust"),
  ];
}
