/**
 * `servin system info`: where the data lives, the platform and the plugins.
 *
 * @module
 */

import { definePlugin } from "../../core/registry.ts";

/** The built-in `system` command group. */
export function systemCommands() {
  return definePlugin({
    name: "commands-system",
    setup(api) {
      api.command({
        name: "system info",
        aliases: ["info"],
        summary: "Show the data root, platform, plugins and image count",
        usage: "[OPTIONS]",
        args: { max: 0 },
        flags: {
          format: { type: "string", description: "Output format: text or json", value: "FORMAT" },
        },
        async run(ctx) {
          const servin = await ctx.servin();
          const info = { ...servin.info(), images: (await servin.listImages()).length };
          if (ctx.flags.format === "json") {
            ctx.out(JSON.stringify(info, null, 2));
            return;
          }
          ctx.out(`Root:      ${info.root}`);
          ctx.out(`Platform:  ${info.platform}`);
          ctx.out(`Images:    ${info.images}`);
          ctx.out(`Plugins:   ${info.plugins.join(", ")}`);
        },
      });
    },
  });
}
