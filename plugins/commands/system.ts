/**
 * `servin system info`: where the data lives, the platform and the plugins.
 *
 * @module
 */

import { humanSize, table } from "../../core/format.ts";
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

      api.command({
        name: "plugin ls",
        aliases: ["plugin list"],
        summary: "List loaded plugins, where they came from and what they registered",
        usage: "[OPTIONS]",
        args: { max: 0 },
        flags: {
          format: { type: "string", description: "Output format: table or json", value: "FORMAT" },
        },
        run(ctx) {
          const plugins = ctx.registry.describe();
          if (ctx.flags.format === "json") {
            ctx.out(JSON.stringify(plugins, null, 2));
            return;
          }
          ctx.out(table(
            ["NAME", "SOURCE", "PROVIDES"],
            plugins.map((p) => [p.name, p.source, p.provides.join(", ")]),
          ));
        },
      });

      api.command({
        name: "system df",
        summary: "Show the disk space images and containers use, shared and unique",
        usage: "[OPTIONS]",
        args: { max: 0 },
        flags: {
          verbose: { type: "boolean", short: "v", description: "One row per image" },
          format: { type: "string", description: "Output format: table or json", value: "FORMAT" },
        },
        async run(ctx) {
          const servin = await ctx.servin();
          const usage = await servin.diskUsage();
          if (ctx.flags.format === "json") {
            ctx.out(JSON.stringify(usage, null, 2));
            return;
          }
          const used = new Set((await servin.containers.list()).map((c) => c.image_id));
          const active = usage.images.filter((i) => used.has(i.id));
          const reclaimable = usage.images.filter((i) => !used.has(i.id))
            .reduce((n, i) => n + i.unique_size, 0);
          ctx.out(table(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], [
            [
              "Images",
              `${usage.images.length}`,
              `${active.length}`,
              humanSize(usage.layers),
              humanSize(reclaimable),
            ],
            ["Containers", `${usage.containers}`, "", "", ""],
          ]));
          if (!ctx.flags.verbose) return;
          ctx.out("");
          ctx.out(table(
            ["REPOSITORY:TAG", "IMAGE ID", "SIZE", "SHARED SIZE", "UNIQUE SIZE"],
            usage.images.map((i) => [
              i.repo_tags.join(", ") || "<none>",
              i.id.slice(0, 12),
              humanSize(i.size),
              humanSize(i.shared_size),
              humanSize(i.unique_size),
            ]),
          ));
        },
      });
    },
  });
}
