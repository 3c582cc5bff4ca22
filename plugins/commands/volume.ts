/**
 * The volume commands: names, flags and usage as plain data; the work is
 * imported when one of them runs.
 *
 * @module
 */

import type { CommandDef } from "../../core/api.ts";
import type { Plugin } from "../../core/registry.ts";
import {
  all,
  command,
  commandGroup,
  force,
  format,
  inspectFormat,
  lazy,
  many,
  opt,
  quiet,
} from "./_define.ts";

const work = lazy(() => import("./_volume.ts"));

/** The volume commands, in registration order. */
export const VOLUME_COMMANDS: readonly CommandDef[] = [
  command("volume create", "[OPTIONS] [VOLUME]", { max: 1 }, {
    summary: "Create a volume (a random name when none is given); print its name",
    flags: { driver: opt("-d NAME", "Volume driver: local"), label: many("K=V", "Label") },
    run: work("createVolume"),
  }),
  command("volume ls|volume list", "[OPTIONS]", { max: 0 }, {
    summary: "List volumes",
    flags: {
      quiet: quiet("Only show names"),
      format: format("table, json or a Go template"),
      filter: many(
        "-f FILTER",
        "Filter: dangling=true|false, name=TEXT, label=KEY[=VALUE], driver=local",
      ),
    },
    run: work("listVolumes"),
  }),
  command("volume inspect", "[OPTIONS] VOLUME...", { min: 1 }, {
    summary: "Show volumes as a JSON array (Docker's fields)",
    flags: { format: inspectFormat },
    run: work("inspectVolumes"),
  }),
  command("volume rm|volume remove", "[OPTIONS] VOLUME...", { min: 1 }, {
    summary: "Remove volumes no container uses (-f: no error for a missing one)",
    flags: { force: force("Do not fail on a volume that does not exist") },
    run: work("removeVolumes"),
  }),
  command("volume prune", "[OPTIONS]", { max: 0 }, {
    summary: "Remove anonymous volumes no container uses (-a: named ones too)",
    flags: {
      all: all("Remove every unused volume, not only anonymous ones"),
      force: force("Do not ask for confirmation"),
    },
    run: work("pruneVolumes"),
  }),
];

/** The built-in volume commands. */
export function volumeCommands(): Plugin {
  return commandGroup("commands-volume", VOLUME_COMMANDS);
}
