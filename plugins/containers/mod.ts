/**
 * The containers plugin: provides the `containers` service that Servin
 * opens as `servin.containers` (records, bundles, leases on image layers),
 * running containers through the registered snapshotters and runtimes.
 *
 * @module
 */

import type { ContainerService as ContainerServiceKind } from "../../core/api.ts";
import { definePlugin, type Plugin } from "../../core/registry.ts";
import { ContainerService } from "./service.ts";

export { ContainerService } from "./service.ts";

/** The container service as a kind implementation, named `containers`. */
export const containerService: ContainerServiceKind = {
  name: "containers",
  open: (context) => new ContainerService(context),
};

/**
 * The built-in containers plugin.
 *
 * @example
 * ```ts
 * import { containersPlugin } from "./mod.ts";
 * console.assert(containersPlugin().name === "containers");
 * ```
 */
export function containersPlugin(): Plugin {
  return definePlugin({
    name: "containers",
    setup(api) {
      api.provide("containers", containerService);
    },
  });
}
