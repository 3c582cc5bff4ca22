/**
 * The network commands: names, flags and usage as plain data; each `run`
 * imports the module that does the work when the command is the one that
 * runs.
 *
 * @module
 */

import type { CommandDef } from "../../core/api.ts";
import type { Plugin } from "../../core/registry.ts";
import {
  command,
  commandGroup,
  force,
  format,
  inspectFormat,
  lazy,
  noTrunc,
  opt,
  quiet,
} from "./_define.ts";

const work = lazy(() => import("./_network.ts"));

/** The network commands, in registration order. */
export const NETWORK_COMMANDS: readonly CommandDef[] = [
  command("network create", "[OPTIONS] NAME", { min: 1, max: 1 }, {
    summary: "Create a bridge network (containers on it find each other by name)",
    flags: {
      subnet: opt("CIDR", "Subnet (default: a free 10.89.N.0/24)"),
      gateway: opt("IP", "Gateway address in the subnet"),
    },
    run: work("createNetwork"),
  }),
  command("network ls|network list", "[OPTIONS]", { max: 0 }, {
    summary: "List networks",
    flags: {
      quiet: quiet("Only show IDs"),
      "no-trunc": noTrunc("Do not truncate IDs"),
      format: format("table, json or a Go template"),
    },
    run: work("listNetworks"),
  }),
  command("network rm|network remove", "NETWORK...", { min: 1 }, {
    summary: "Remove networks (refused while a container uses one)",
    run: work("removeNetworks"),
  }),
  command("network inspect", "[OPTIONS] NETWORK...", { min: 1 }, {
    summary: "Show networks (Docker's fields and Servin's) as a JSON array",
    flags: { format: inspectFormat },
    run: work("inspectNetworks"),
  }),
  command("network prune", "[OPTIONS]", { max: 0 }, {
    summary: "Remove every network no container uses",
    flags: { force: force("Do not ask for confirmation") },
    run: work("pruneNetworks"),
  }),
];

/** The built-in network commands. */
export function networkCommands(): Plugin {
  return commandGroup("commands-network", NETWORK_COMMANDS);
}
