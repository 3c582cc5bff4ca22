/**
 * `servin image import`: the runtime configuration from flags, then one
 * call of the facade.
 *
 * @module
 */

import type { CommandContext } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import { mergeEnv } from "../../core/image.ts";
import type { BuiltConfig } from "../ingest/config.ts";
import { strings } from "./_each.ts";
import { stagingWork } from "./_progress.ts";
import { applyChanges, keyValues, parseCommandLine } from "../ingest/changes.ts";

function configFromFlags(flags: CommandContext["flags"]): Partial<BuiltConfig> {
  const config: Partial<BuiltConfig> = {};
  applyChanges(config, strings(flags.change));
  if (typeof flags.cmd === "string") config.cmd = parseCommandLine(flags.cmd, "--cmd");
  if (typeof flags.entrypoint === "string") {
    config.entrypoint = parseCommandLine(flags.entrypoint, "--entrypoint");
  }
  const env = keyValues(strings(flags.env), "--env", true);
  if (env.length) config.env = mergeEnv(config.env ?? [], env.map(([k, v]) => `${k}=${v}`));
  if (typeof flags.workdir === "string") {
    if (!flags.workdir.startsWith("/")) {
      throw new ServinError(
        "invalid-argument",
        `Invalid --workdir "${flags.workdir}": must be absolute`,
      );
    }
    config.working_dir = flags.workdir;
  }
  if (typeof flags.user === "string") config.user = flags.user;
  const labels = keyValues(strings(flags.label), "--label", false);
  if (labels.length) config.labels = { ...config.labels, ...Object.fromEntries(labels) };
  return config;
}

/** `servin image import TARBALL|- NAME[:TAG]`. */
export async function importImage(ctx: CommandContext): Promise<void> {
  const [input, reference] = ctx.args as [string, string];
  const config = configFromFlags(ctx.flags);
  const image = await stagingWork(
    ctx,
    "Importing",
    (servin, onProgress) =>
      servin.importImage(input, reference, {
        config,
        message: ctx.flags.message as string | undefined,
        onProgress,
      }),
  );
  ctx.out(`sha256:${image.id}`);
}
