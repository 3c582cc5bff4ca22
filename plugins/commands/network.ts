/**
 * The network commands: names, flags and usage as plain data; each `run`
 * imports the module that does the work when the command is the one that
 * runs.
 *
 * @module
 */

import type { CommandDef } from "../../core/api.ts";
import type { Plugin } from "../../core/registry.ts";
import { commandGroup, force, format, inspectFormat, noTrunc, quiet } from "./_define.ts";

const work = () => import("./_network.ts");

const create: CommandDef = {
  name: "network create",
  summary: "Create a bridge network (containers on it find each other by name)",
  usage: "[OPTIONS] NAME",
  args: { min: 1, max: 1 },
  flags: {
    subnet: { type: "string", description: "Subnet (default: a free 10.89.N.0/24)", value: "CIDR" },
    gateway: { type: "string", description: "Gateway address in the subnet", value: "IP" },
  },
  run: async (ctx) => await (await work()).createNetwork(ctx),
};

const ls: CommandDef = {
  name: "network ls",
  aliases: ["network list"],
  summary: "List networks",
  usage: "[OPTIONS]",
  args: { max: 0 },
  flags: {
    quiet: quiet("Only show IDs"),
    "no-trunc": noTrunc("Do not truncate IDs"),
    format: format("table, json or a Go template"),
  },
  run: async (ctx) => await (await work()).listNetworks(ctx),
};

const rm: CommandDef = {
  name: "network rm",
  aliases: ["network remove"],
  summary: "Remove networks (refused while a container uses one)",
  usage: "NETWORK...",
  args: { min: 1 },
  run: async (ctx) => await (await work()).removeNetworks(ctx),
};

const inspect: CommandDef = {
  name: "network inspect",
  summary: "Show networks (Docker's fields and Servin's) as a JSON array",
  usage: "[OPTIONS] NETWORK...",
  args: { min: 1 },
  flags: { format: inspectFormat },
  run: async (ctx) => await (await work()).inspectNetworks(ctx),
};

const prune: CommandDef = {
  name: "network prune",
  summary: "Remove every network no container uses",
  usage: "[OPTIONS]",
  args: { max: 0 },
  flags: { force: force("Do not ask for confirmation") },
  run: async (ctx) => await (await work()).pruneNetworks(ctx),
};

/** The network commands, in registration order. */
export const NETWORK_COMMANDS: readonly CommandDef[] = [create, ls, rm, inspect, prune];

/** The built-in network commands. */
export function networkCommands(): Plugin {
  return commandGroup("commands-network", NETWORK_COMMANDS);
}
