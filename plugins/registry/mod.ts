/**
 * The registry plugin over the OCI distribution API: a source (pull: copy
 * from a registry into the store), a sink (push: copy from the store into a
 * registry) and the credentials service (login, logout). This module only
 * registers them: the client and the transfers (`_transfer.ts`) are imported
 * when one is first used.
 *
 * @module
 */

import { definePlugin, type Plugin } from "../../core/registry.ts";

/** Options of {@link registryPlugin}. */
export interface RegistryPluginOptions {
  /** Blobs uploaded at once on push (default 3). */
  parallel?: number;
  /** Attempts of a request that fails on the network, stalls, or gets a 429 or 5xx (default 4). */
  retries?: number;
  /** Seconds without a byte after which a request is aborted and retried (default 30). */
  timeout?: number;
}

/** The built-in registry plugin: pull source, push sink, login and logout. */
export function registryPlugin(options: RegistryPluginOptions = {}): Plugin {
  const transfer = () => import("./_transfer.ts");
  return definePlugin({
    name: "registry",
    setup(api) {
      api.provide("source", {
        name: "registry",
        verbs: ["pull"],
        detect: () => true,
        read: async (ctx) => await (await transfer()).pull(ctx, options),
      });
      api.provide("sink", {
        name: "registry",
        write: async (ctx) => await (await transfer()).push(ctx, options),
      });
      api.provide("registry", {
        name: "registry",
        login: async (root, registry, credentials, connection) =>
          await (await transfer()).login(root, registry, credentials, connection, options),
        logout: async (root, registry) =>
          await (await import("./auth.ts")).storeCredentials(root, registry, undefined),
      });
    },
  });
}
