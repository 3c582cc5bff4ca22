/**
 * The `inspect` commands: `image inspect`, `container inspect` and
 * `inspect` (a container, else an image, as `docker inspect` looks), each
 * object in Docker's shape beside the seed's fields, as a JSON array or
 * through `-f TEMPLATE`.
 *
 * @module
 */

import type { CommandContext } from "../../core/api.ts";
import { isServinError, ServinError } from "../../core/errors.ts";
import { inspectContainer, inspectImage } from "./_docker_view.ts";
import { inspectEach } from "./_each.ts";

/** `servin image inspect [-f TEMPLATE] IMAGE...`. */
export async function inspectImages(ctx: CommandContext): Promise<number> {
  const servin = await ctx.servin();
  return await inspectEach(
    ctx,
    async (name) => await inspectImage(servin, await servin.getImage(name)),
  );
}

/** `servin container inspect [-f TEMPLATE] CONTAINER...`. */
export async function inspectContainers(ctx: CommandContext): Promise<number> {
  const servin = await ctx.servin();
  return await inspectEach(
    ctx,
    async (name) => await inspectContainer(servin, await servin.containers.get(name)),
  );
}

/** `servin inspect [--type container|image] [-f TEMPLATE] NAME...`: a container first, then an image. */
export async function inspectAny(ctx: CommandContext): Promise<number> {
  const type = ctx.flags.type as string | undefined;
  if (type !== undefined && type !== "container" && type !== "image") {
    throw new ServinError(
      "invalid-argument",
      `Invalid --type ${JSON.stringify(type)}: use container or image`,
    );
  }
  const servin = await ctx.servin();
  return await inspectEach(ctx, async (name) => {
    if (type !== "image") {
      try {
        return await inspectContainer(servin, await servin.containers.get(name));
      } catch (err) {
        if (type === "container" || !isServinError(err) || err.code !== "not-found") throw err;
      }
    }
    try {
      return await inspectImage(servin, await servin.getImage(name));
    } catch (err) {
      if (type === "image" || !isServinError(err) || err.code !== "not-found") throw err;
      throw new ServinError("not-found", `No such object: ${name}`);
    }
  });
}
