/**
 * Changing names and removing images: `image rm`, `image tag` and
 * `image prune`.
 *
 * @module
 */

import type { CommandContext } from "../../core/api.ts";
import { eachArgument } from "./_each.ts";
import { humanSize } from "./_format.ts";
import { confirm } from "./_prompt.ts";

/** Docker's warning before `image prune` (`-a`: every image no container uses). */
export function imagePruneWarning(all: boolean): string {
  return all
    ? "WARNING! This will remove all images without at least one container associated to them."
    : "WARNING! This will remove all dangling images.";
}

/** `servin image rm`: each name in turn, going on after a failure. */
export async function removeImages(ctx: CommandContext): Promise<number> {
  const servin = await ctx.servin();
  return await eachArgument(ctx, async (name) => {
    const result = await servin.removeImage(name, { force: Boolean(ctx.flags.force) });
    for (const tag of result.untagged) ctx.out(`Untagged: ${tag}`);
    if (result.deleted) ctx.out(`Deleted: sha256:${result.deleted}`);
  });
}

/** `servin image tag SOURCE TARGET`. */
export async function tagImage(ctx: CommandContext): Promise<void> {
  const [source, target] = ctx.args as [string, string];
  await (await ctx.servin()).tagImage(source, target);
}

/** `servin image prune [-a] [-f]`: asks first, as Docker does. */
export async function pruneImages(ctx: CommandContext): Promise<void> {
  if (!await confirm(ctx, imagePruneWarning(Boolean(ctx.flags.all)))) return;
  const servin = await ctx.servin();
  const { deleted, reclaimed } = await servin.pruneImages({ all: Boolean(ctx.flags.all) });
  if (deleted.length) {
    ctx.out(["Deleted Images:", ...deleted.map((id) => `deleted: sha256:${id}`), ""].join("\n"));
  }
  ctx.out(`Total reclaimed space: ${humanSize(reclaimed)}`);
}
