/**
 * The network commands: names, flags and usage as plain data; each `run`
 * imports the module that does the work when the command is the one that
 * runs.
 *
 * @module
 */

import type { CommandDef } from "../../core/api.ts";
import { command, lazy, opt, shared } from "./_define.ts";

const work = lazy(() => import("./_network.ts"));

/** The network commands, in registration order. */
export const NETWORK_COMMANDS: readonly CommandDef[] = [
  command("network create", "[OPTIONS] NAME", work("createNetwork"), {
    summary: "Create a bridge network (containers on it find each other by name)",
    flags: {
      subnet: opt("CIDR", "Subnet (default: a free 10.89.N.0/24)"),
      gateway: opt("IP", "Gateway address in the subnet"),
    },
  }),
  command("network ls|network list", "[OPTIONS]", work("listNetworks"), {
    summary: "List networks",
    flags: {
      quiet: shared.quiet("Only show IDs"),
      "no-trunc": shared.noTrunc("Do not truncate IDs"),
      format: shared.tableFormat,
    },
  }),
  command("network rm|network remove", "NETWORK...", work("removeNetworks"), {
    summary: "Remove networks (refused while a container uses one)",
  }),
  command("network inspect", "[OPTIONS] NETWORK...", work("inspectNetworks"), {
    summary: "Show networks (Docker's fields and Servin's) as a JSON array",
    flags: { format: shared.inspectFormat },
  }),
  command("network prune", "[OPTIONS]", work("pruneNetworks"), {
    summary: "Remove every network no container uses",
    flags: { force: shared.skipConfirm },
  }),
];
