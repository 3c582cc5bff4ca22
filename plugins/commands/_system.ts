/**
 * `system info`, `system df` and `plugin ls`.
 *
 * @module
 */

import type { CommandContext } from "../../core/api.ts";
import { type PluginDescription, Registry } from "../../core/registry.ts";
import { formatFlag } from "./_each.ts";
import { humanSize, table } from "./_format.ts";

/** `servin system info`: the data root, platform, plugins and image count. */
export async function systemInfo(ctx: CommandContext): Promise<void> {
  const format = formatFlag(ctx, ["text", "json"]);
  const servin = await ctx.servin();
  const info = { ...servin.info(), images: (await servin.listImages()).length };
  if (format === "json") {
    ctx.out(JSON.stringify(info, null, 2));
    return;
  }
  ctx.out(`Root:      ${info.root}`);
  ctx.out(`Platform:  ${info.platform}`);
  ctx.out(`Images:    ${info.images}`);
  ctx.out(`Plugins:   ${info.plugins.join(", ")}`);
}

/** `servin plugin ls`: each plugin, where it came from and what it registered. */
export function listPlugins(ctx: CommandContext): void {
  const format = formatFlag(ctx, ["table", "json"]);
  // The CLI hands commands its Registry; another caller's lookup knows only names.
  const plugins: PluginDescription[] = ctx.kinds instanceof Registry
    ? ctx.kinds.describe()
    : ctx.kinds.plugins.map((name) => ({ name, source: "builtin", provides: [] }));
  if (format === "json") {
    ctx.out(JSON.stringify(plugins, null, 2));
    return;
  }
  ctx.out(table(
    ["NAME", "SOURCE", "PROVIDES"],
    plugins.map((p) => [p.name, p.source, p.provides.join(", ")]),
  ));
}

/** `servin system df [-v]`: bytes images hold, shared and unique, and what is reclaimable. */
export async function diskUsage(ctx: CommandContext): Promise<void> {
  const format = formatFlag(ctx, ["table", "json"]);
  const servin = await ctx.servin();
  const usage = await servin.diskUsage();
  if (format === "json") {
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
}
