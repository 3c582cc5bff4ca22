/**
 * The Containerfile builder (`builder` kind): `servin.build(options)` and
 * the CLI's `build` command hand it a Containerfile and a context. The
 * builder itself (`_build.ts`: parser, context, cache, RUN containers) is
 * imported when a build starts; the CLI's `build` command is defined with
 * the image commands.
 *
 * @module
 */

import { definePlugin, type Plugin } from "../../core/registry.ts";

/** The built-in Containerfile builder. */
export function buildPlugin(): Plugin {
  return definePlugin({
    name: "build",
    setup(api) {
      api.provide("builder", {
        name: "containerfile",
        build: async (servin, options) =>
          await (await import("./_build.ts")).build(servin, options),
      });
    },
  });
}
