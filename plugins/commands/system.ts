/**
 * The `system` commands, `plugin ls`, `version` and `completion`: names, flags and usage as plain
 * data; the work is imported when one of them runs.
 *
 * @module
 */

import type { CommandDef } from "../../core/api.ts";
import type { Plugin } from "../../core/registry.ts";
import {
  all,
  command,
  commandGroup,
  flag,
  force,
  format,
  inspectFormat,
  lazy,
  opt,
} from "./_define.ts";

const system = lazy(() => import("./_system.ts"));

/** The system commands, in registration order. */
export const SYSTEM_COMMANDS: readonly CommandDef[] = [
  command("system info|info", "[OPTIONS]", { max: 0 }, {
    summary: "Show the data root, platform, plugins and image count",
    flags: { format: format("text, json or a Go template") },
    run: system("systemInfo"),
  }),
  command("plugin ls|plugin list", "[OPTIONS]", { max: 0 }, {
    summary: "List loaded plugins, where they came from and what they registered",
    flags: { format: format("table, json or a Go template") },
    run: system("listPlugins"),
  }),
  command("system df", "[OPTIONS]", { max: 0 }, {
    summary: "Show the disk space images, containers and volumes use",
    flags: {
      verbose: flag("-v", "One row per image"),
      format: format("table, json or a Go template"),
    },
    run: system("diskUsage"),
  }),
  command("system prune", "[OPTIONS]", { max: 0 }, {
    summary: "Remove stopped containers and dangling images (-a: all unused images)",
    flags: {
      all: all("Remove all images no container uses, not only dangling ones"),
      force: force("Do not ask for confirmation"),
      volumes: flag("Also remove anonymous volumes no container uses"),
    },
    run: system("systemPrune"),
  }),
  command("system check", "[OPTIONS]", { max: 0 }, {
    summary: "Check every blob, layer, image, lease and container; exit 1 when something is broken",
    flags: {
      repair: flag("Remove what is broken and the images that need it"),
      format: format("text or json"),
    },
    run: system("check"),
  }),
  command("version", "[OPTIONS]", { max: 0 }, {
    summary: "Show the version of Servin, Deno, the platform and the runtime found",
    flags: { format: format("text or json") },
    run: system("version"),
  }),
  command("completion", "bash|zsh|fish", { min: 1, max: 1 }, {
    summary: "Print a shell completion script for bash, zsh or fish",
    run: lazy(() => import("./_completion.ts"))("completion"),
  }),
  command("inspect", "[OPTIONS] NAME...", { min: 1 }, {
    summary: "Show containers' or images' records (a container first, as Docker looks)",
    flags: {
      format: inspectFormat,
      type: opt("TYPE", "Only look for a container or an image"),
    },
    run: lazy(() => import("./_inspect.ts"))("inspectAny"),
  }),
];

/** The built-in `system` command group. */
export function systemCommands(): Plugin {
  return commandGroup("commands-system", SYSTEM_COMMANDS);
}
