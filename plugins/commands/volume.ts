/**
 * The volume commands: names, flags and usage as plain data; the work is
 * imported when one of them runs.
 *
 * @module
 */

import type { CommandDef } from "../../core/api.ts";
import type { Plugin } from "../../core/registry.ts";
import { all, commandGroup, force, format, inspectFormat, quiet } from "./_define.ts";

const work = () => import("./_volume.ts");

const create: CommandDef = {
  name: "volume create",
  summary: "Create a volume (a random name when none is given); print its name",
  usage: "[OPTIONS] [VOLUME]",
  args: { max: 1 },
  flags: {
    driver: { type: "string", short: "d", description: "Volume driver: local", value: "NAME" },
    label: { type: "string", multiple: true, description: "Label", value: "K=V" },
  },
  run: async (ctx) => await (await work()).createVolume(ctx),
};

const ls: CommandDef = {
  name: "volume ls",
  aliases: ["volume list"],
  summary: "List volumes",
  usage: "[OPTIONS]",
  args: { max: 0 },
  flags: {
    quiet: quiet("Only show names"),
    format: format("table, json or a Go template"),
    filter: {
      type: "string",
      short: "f",
      multiple: true,
      description: "Filter: dangling=true|false, name=TEXT, label=KEY[=VALUE], driver=local",
      value: "FILTER",
    },
  },
  run: async (ctx) => await (await work()).listVolumes(ctx),
};

const inspect: CommandDef = {
  name: "volume inspect",
  summary: "Show volumes as a JSON array (Docker's fields)",
  usage: "[OPTIONS] VOLUME...",
  args: { min: 1 },
  flags: { format: inspectFormat },
  run: async (ctx) => await (await work()).inspectVolumes(ctx),
};

const rm: CommandDef = {
  name: "volume rm",
  aliases: ["volume remove"],
  summary: "Remove volumes no container uses (-f: no error for a missing one)",
  usage: "[OPTIONS] VOLUME...",
  args: { min: 1 },
  flags: { force: force("Do not fail on a volume that does not exist") },
  run: async (ctx) => await (await work()).removeVolumes(ctx),
};

const prune: CommandDef = {
  name: "volume prune",
  summary: "Remove anonymous volumes no container uses (-a: named ones too)",
  usage: "[OPTIONS]",
  args: { max: 0 },
  flags: {
    all: all("Remove every unused volume, not only anonymous ones"),
    force: force("Do not ask for confirmation"),
  },
  run: async (ctx) => await (await work()).pruneVolumes(ctx),
};

/** The volume commands, in registration order. */
export const VOLUME_COMMANDS: readonly CommandDef[] = [create, ls, inspect, rm, prune];

/** The built-in volume commands. */
export function volumeCommands(): Plugin {
  return commandGroup("commands-volume", VOLUME_COMMANDS);
}
