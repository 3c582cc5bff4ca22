/**
 * The `system` commands, `plugin ls`, `version` and `completion`: names, flags and usage as plain
 * data; the work is imported when one of them runs.
 *
 * @module
 */

import type { CommandDef } from "../../core/api.ts";
import type { Plugin } from "../../core/registry.ts";
import { all, commandGroup, force, format, inspectFormat } from "./_define.ts";

const info: CommandDef = {
  name: "system info",
  aliases: ["info"],
  summary: "Show the data root, platform, plugins and image count",
  usage: "[OPTIONS]",
  args: { max: 0 },
  flags: { format: format("text, json or a Go template") },
  run: async (ctx) => await (await import("./_system.ts")).systemInfo(ctx),
};

const pluginLs: CommandDef = {
  name: "plugin ls",
  aliases: ["plugin list"],
  summary: "List loaded plugins, where they came from and what they registered",
  usage: "[OPTIONS]",
  args: { max: 0 },
  flags: { format: format("table, json or a Go template") },
  run: async (ctx) => (await import("./_system.ts")).listPlugins(ctx),
};

const df: CommandDef = {
  name: "system df",
  summary: "Show the disk space images, containers and volumes use",
  usage: "[OPTIONS]",
  args: { max: 0 },
  flags: {
    verbose: { type: "boolean", short: "v", description: "One row per image" },
    format: format("table, json or a Go template"),
  },
  run: async (ctx) => await (await import("./_system.ts")).diskUsage(ctx),
};

const prune: CommandDef = {
  name: "system prune",
  summary: "Remove stopped containers and dangling images (-a: all unused images)",
  usage: "[OPTIONS]",
  args: { max: 0 },
  flags: {
    all: all("Remove all images no container uses, not only dangling ones"),
    force: force("Do not ask for confirmation"),
    volumes: { type: "boolean", description: "Also remove anonymous volumes no container uses" },
  },
  run: async (ctx) => await (await import("./_system.ts")).systemPrune(ctx),
};

const version: CommandDef = {
  name: "version",
  summary: "Show the version of Servin, Deno, the platform and the runtime found",
  usage: "[OPTIONS]",
  args: { max: 0 },
  flags: { format: format("text or json") },
  run: async (ctx) => await (await import("./_system.ts")).version(ctx),
};

const completion: CommandDef = {
  name: "completion",
  summary: "Print a shell completion script for bash, zsh or fish",
  usage: "bash|zsh|fish",
  args: { min: 1, max: 1 },
  run: async (ctx) => (await import("./_completion.ts")).completion(ctx),
};

const inspect: CommandDef = {
  name: "inspect",
  summary: "Show containers' or images' records (a container first, as Docker looks)",
  usage: "[OPTIONS] NAME...",
  args: { min: 1 },
  flags: {
    format: inspectFormat,
    type: { type: "string", description: "Only look for a container or an image", value: "TYPE" },
  },
  run: async (ctx) => await (await import("./_inspect.ts")).inspectAny(ctx),
};

const check: CommandDef = {
  name: "system check",
  summary: "Check every blob, layer, image, lease and container; exit 1 when something is broken",
  usage: "[OPTIONS]",
  args: { max: 0 },
  flags: {
    repair: { type: "boolean", description: "Remove what is broken and the images that need it" },
    format: format("text or json"),
  },
  run: async (ctx) => await (await import("./_system.ts")).check(ctx),
};

/** The system commands, in registration order. */
export const SYSTEM_COMMANDS: readonly CommandDef[] = [
  info,
  pluginLs,
  df,
  prune,
  check,
  version,
  completion,
  inspect,
];

/** The built-in `system` command group. */
export function systemCommands(): Plugin {
  return commandGroup("commands-system", SYSTEM_COMMANDS);
}
