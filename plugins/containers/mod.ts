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

/** Opens the containers API over `context`; the implementation loads on first use. */
export function openContainers(context: ContainerContext): Containers {
  let service: Promise<Containers> | undefined;
  const load = () =>
    service ??= import("./service.ts").then((m) => new m.ContainerService(context));
  const networks = async () => (await load()).networks!;
  return {
    create: async (image, options) => await (await load()).create(image, options),
    start: async (name, options) => await (await load()).start(name, options),
    list: async () => await (await load()).list(),
    get: async (name) => await (await load()).get(name),
    logPath: async (name) => await (await load()).logPath(name),
    remove: async (name, options) => await (await load()).remove(name, options),
    prune: async () => await (await load()).prune(),
    stop: async (name, options) => await (await load()).stop(name, options),
    kill: async (name, signal) => await (await load()).kill(name, signal),
    wait: async (name) => await (await load()).wait(name),
    pause: async (name, paused) => await (await load()).pause(name, paused),
    rename: async (name, newName) => await (await load()).rename(name, newName),
    top: async (name, psArgs) => await (await load()).top(name, psArgs),
    exec: async (name, args, options) => await (await load()).exec(name, args, options),
    diff: async (name, options) => await (await load()).diff(name, options),
    commit: async (name, options) => await (await load()).commit(name, options),
    cleanup: async (name, options) => await (await load()).cleanup(name, options),
    check: async (options) => await (await load()).check?.(options) ?? [],
    createVolume: async (name, labels) => await (await load()).createVolume(name, labels),
    listVolumes: async () => await (await load()).listVolumes(),
    getVolume: async (name) => await (await load()).getVolume(name),
    removeVolume: async (name) => await (await load()).removeVolume(name),
    pruneVolumes: async (options) => await (await load()).pruneVolumes(options),
    withRootfs: async (name, fn) => await (await load()).withRootfs!(name, fn),
    networks: {
      list: async () => await (await networks()).list(),
      create: async (name, options) => await (await networks()).create(name, options),
      remove: async (name) => await (await networks()).remove(name),
      prune: async () => await (await networks()).prune(),
    },
  };
}

/** The container service as a kind implementation, named `containers`. */
export const containerService: ContainerServiceKind = { name: "containers", open: openContainers };

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
