/**
 * The image operations plugin: listing with Docker's filters, history,
 * prune, disk usage and copy, which the facade delegates to. The work is
 * imported when an operation first runs.
 *
 * @module
 */

import { definePlugin, type Plugin } from "../../core/registry.ts";

const work = () => import("./_operations.ts");

/** The built-in image operations. */
export function imagesPlugin(): Plugin {
  return definePlugin({
    name: "images",
    setup(api) {
      api.provide("images", {
        name: "images",
        list: async (servin, filter) => await (await work()).list(servin, filter),
        history: async (servin, name) => await (await work()).history(servin, name),
        prune: async (servin, options) => await (await work()).prune(servin, options),
        diskUsage: async (servin) => await (await work()).diskUsage(servin),
        copy: async (servin, from, to, options) =>
          await (await work()).copy(servin, from, to, options),
      });
    },
  });
}
