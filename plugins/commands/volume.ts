/**
 * The volume commands: names, flags and usage as plain data; the work is
 * imported when one of them runs.
 *
 * @module
 */

import type { CommandDef } from "../../core/api.ts";
import { command, lazy, many, opt, shared } from "./_define.ts";

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
      quiet: shared.quiet("Only show names"),
      format: shared.tableFormat,
      filter: many(
        "-f FILTER",
        "Filter: dangling=true|false, name=TEXT, label=KEY[=VALUE], driver=local",
      ),
    },
  }),
  command("volume inspect", "[OPTIONS] VOLUME...", work("inspectVolumes"), {
    summary: "Show volumes as a JSON array (Docker's fields)",
    flags: { format: shared.inspectFormat },
  }),
  command("volume rm|volume remove", "[OPTIONS] VOLUME...", work("removeVolumes"), {
    summary: "Remove volumes no container uses (-f: no error for a missing one)",
    flags: { force: shared.force("Do not fail on a volume that does not exist") },
  }),
  command("volume prune", "[OPTIONS]", work("pruneVolumes"), {
    summary: "Remove anonymous volumes no container uses (-a: named ones too)",
    flags: {
      all: shared.all("Remove every unused volume, not only anonymous ones"),
      force: shared.skipConfirm,
    },
  }),
];
