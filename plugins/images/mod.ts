/**
 * The image operations plugin: listing with Docker's filters, history,
 * prune, disk usage, copy, save, push, export and remove, which the facade
 * delegates to. The work is
 * imported when an operation first runs.
 *
 * @module
 */

import type { Plugin } from "../../core/registry.ts";
import { lazyMethods, servicePlugin } from "../_lazy.ts";

const work = () => import("./_operations.ts");

/** The built-in image operations. */
export function imagesPlugin(): Plugin {
  return servicePlugin("images", {
    name: "images",
    ...lazyMethods(work, [
      "listImages",
      "history",
      "pruneImages",
      "diskUsage",
      "copy",
      "saveImages",
      "pushImage",
      "exportImage",
      "removeImage",
    ]),
  });
}
