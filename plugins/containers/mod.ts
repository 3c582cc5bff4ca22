/**
 * The containers plugin: provides the `containers` service that Servin
 * opens as `servin.containers` (records, bundles, leases on image layers),
 * running containers through the registered snapshotters and runtimes.
 * Servin opens it on every start, so the service's code is imported only
 * when a container method is first called.
 *
 * @module
 */

import type {
  ContainerContext,
  Containers,
  ContainerService as ContainerServiceKind,
} from "../../core/api.ts";
import { definePlugin, type Plugin } from "../../core/registry.ts";
import { lazyMethods } from "../_lazy.ts";
import type { ContainerService } from "./service.ts";

/** Opens the containers API over `context`; the implementation loads on first use. */
export function openContainers(context: ContainerContext): Containers {
  let service: Promise<ContainerService> | undefined;
  const load = () =>
    service ??= import("./service.ts").then((m) => new m.ContainerService(context));
  const networks = async () => (await load()).networks;
  return {
    ...lazyMethods(load, [
      "create",
      "start",
      "list",
      "get",
      "logPath",
      "remove",
      "prune",
      "stop",
      "kill",
      "wait",
      "pause",
      "rename",
      "top",
      "exec",
      "diff",
      "commit",
      "cleanup",
      "check",
      "createVolume",
      "listVolumes",
      "getVolume",
      "removeVolume",
      "pruneVolumes",
      "withRootfs",
    ]),
    networks: lazyMethods(networks, ["list", "get", "create", "remove", "prune"]),
  };
}

/** The container service as a kind implementation, named `containers`. */
export const containerService: ContainerServiceKind = { name: "containers", open: openContainers };

/**
 * The built-in containers plugin.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { containersPlugin } from "./mod.ts";
 * assert(containersPlugin().name === "containers");
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
