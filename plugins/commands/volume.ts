/**
 * The volume commands: names, flags and usage as plain data; the work is
 * imported when one of them runs.
 *
 * @module
 */

import type { CommandDef } from "../../core/api.ts";
import {
  all,
  command,
  force,
  inspectFormat,
  lazy,
  many,
  opt,
  quiet,
  skipConfirm,
  tableFormat,
} from "./_define.ts";

const work = lazy(() => import("./_volume.ts"));

/** The volume commands, in registration order. */
export const VOLUME_COMMANDS: readonly CommandDef[] = [
  command("volume create", "[OPTIONS] [VOLUME]", work("createVolume"), {
    summary: "Create a volume (a random name when none is given); print its name",
    flags: { driver: opt("-d NAME", "Volume driver: local"), label: many("K=V", "Label") },
  }),
  command("volume ls|volume list", "[OPTIONS]", work("listVolumes"), {
    summary: "List volumes",
    flags: {
      quiet: quiet("Only show names"),
      format: tableFormat,
      filter: many(
        "-f FILTER",
        "Filter: dangling=true|false, name=TEXT, label=KEY[=VALUE], driver=local",
      ),
    },
  }),
  command("volume inspect", "[OPTIONS] VOLUME...", work("inspectVolumes"), {
    summary: "Show volumes as a JSON array (Docker's fields)",
    flags: { format: inspectFormat },
  }),
  command("volume rm|volume remove", "[OPTIONS] VOLUME...", work("removeVolumes"), {
    summary: "Remove volumes no container uses (-f: no error for a missing one)",
    flags: { force: force("Do not fail on a volume that does not exist") },
  }),
  command("volume prune", "[OPTIONS]", work("pruneVolumes"), {
    summary: "Remove anonymous volumes no container uses (-a: named ones too)",
    flags: {
      all: all("Remove every unused volume, not only anonymous ones"),
      force: skipConfirm,
    },
  }),
];
