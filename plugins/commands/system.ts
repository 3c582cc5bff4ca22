/**
 * The `system` commands, `plugin ls`, `version` and `completion`: names, flags and usage as plain
 * data; the work is imported when one of them runs.
 *
 * @module
 */

import type { CommandDef } from "../../core/api.ts";
import { command, flag, lazy, opt, shared } from "./_define.ts";

const system = lazy(() => import("./_system.ts"));

/** The system commands, in registration order. */
export const SYSTEM_COMMANDS: readonly CommandDef[] = [
  command("system info|info", "[OPTIONS]", system("systemInfo"), {
    summary: "Show the data root, platform, plugins and image count",
    flags: { format: shared.format("text, json or a Go template") },
  }),
  command("plugin ls|plugin list", "[OPTIONS]", system("listPlugins"), {
    summary: "List loaded plugins, where they came from and what they registered",
    flags: { format: shared.tableFormat },
  }),
  command("system df", "[OPTIONS]", system("diskUsage"), {
    summary: "Show the disk space images, containers and volumes use",
    flags: {
      verbose: flag("-v", "One row per image"),
      format: shared.tableFormat,
    },
  }),
  command("system prune", "[OPTIONS]", system("systemPrune"), {
    summary: "Remove stopped containers and dangling images (-a: all unused images)",
    flags: {
      all: shared.all("Remove all images no container uses, not only dangling ones"),
      force: shared.skipConfirm,
      volumes: flag("Also remove anonymous volumes no container uses"),
    },
  }),
  command("system check", "[OPTIONS]", system("check"), {
    summary: "Check every blob, layer, image, lease and container; exit 1 when something is broken",
    flags: {
      repair: flag("Remove what is broken and the images that need it"),
      format: shared.textFormat,
    },
  }),
  command("version", "[OPTIONS]", system("version"), {
    summary: "Show the version of Servin, Deno, the platform and the runtime found",
    flags: { format: shared.textFormat },
  }),
  command("completion", "bash|zsh|fish", lazy(() => import("./_completion.ts"))("completion"), {
    summary: "Print a shell completion script for bash, zsh or fish",
  }),
  command("inspect", "[OPTIONS] NAME...", lazy(() => import("./_inspect.ts"))("inspectAny"), {
    summary: "Show containers' or images' records (a container first, as Docker looks)",
    flags: {
      format: shared.inspectFormat,
      type: opt("TYPE", "Only look for a container or an image"),
    },
  }),
];
