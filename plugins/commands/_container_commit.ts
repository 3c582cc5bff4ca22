/**
 * `servin commit`: a thin layer over `servin.commit`; prints the new image's ID.
 *
 * @module
 */

import type { CommandContext } from "../../core/api.ts";
import { strings } from "./_each.ts";
import { interruptible } from "./_interrupt.ts";

/** `servin commit [-a AUTHOR] [-m MESSAGE] [-c INSTRUCTION]… [-p] CONTAINER [REPOSITORY[:TAG]]`. */
export async function commitContainer(ctx: CommandContext): Promise<void> {
  const [container, reference] = ctx.args as [string, string | undefined];
  const servin = await ctx.servin();
  const pause = ctx.flags.pause !== false;
  // A signal while the commit holds the container paused must not leave it so.
  const running = pause && (await servin.containers.get(container)).status === "running";
  const unpause = async () => {
    if (running && (await servin.containers.get(container)).status === "paused") {
      await servin.containers.pause(container, false);
    }
  };
  const image = await interruptible(ctx, () =>
    servin.commit(container, {
      reference,
      author: ctx.flags.author as string | undefined,
      message: ctx.flags.message as string | undefined,
      changes: strings(ctx.flags.change),
      pause,
    }), unpause);
  ctx.out(`sha256:${image.id}`);
}
