/**
 * Archives and tarballs: `image load`, `image save` and `image export`.
 * None of them reads from or writes to a terminal.
 *
 * @module
 */

import type { CommandContext } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import { interruptible } from "./_interrupt.ts";
import { stagingWork } from "./_progress.ts";

/** `servin image load [-i FILE]`. */
export async function loadImages(ctx: CommandContext): Promise<void> {
  const input = (ctx.flags.input as string | undefined) ?? "-";
  if (input === "-" && Deno.stdin.isTerminal()) {
    throw new ServinError("invalid-argument", "Nothing to load: give -i FILE or redirect stdin");
  }
  const images = await stagingWork(
    ctx,
    "Loading",
    (servin, onProgress) =>
      servin.loadImages(input, { platform: ctx.flags.platform as string | undefined, onProgress }),
  );
  for (const { image, tags } of images) {
    if (tags.length === 0) ctx.out(`Loaded image ID: sha256:${image.id}`);
    for (const tag of tags) ctx.out(`Loaded image: ${tag}`);
  }
}

function outputOf(ctx: CommandContext, what: string): string | WritableStream<Uint8Array> {
  const output = ctx.flags.output as string | undefined;
  if (output) return output;
  if (Deno.stdout.isTerminal()) {
    throw new ServinError(
      "invalid-argument",
      `Refusing to write ${what} to a terminal: give -o FILE`,
    );
  }
  return Deno.stdout.writable;
}

/** `servin image save [-o FILE] IMAGE...`. */
export async function saveImages(ctx: CommandContext): Promise<void> {
  const output = outputOf(ctx, "an archive");
  const servin = await ctx.servin();
  await interruptible(
    ctx,
    () => servin.saveImages(ctx.args, output, { format: ctx.flags.format as string | undefined }),
  );
}

/** `servin image export [-o FILE] IMAGE` (gzip when FILE ends in `.gz` or `.tgz`). */
export async function exportImage(ctx: CommandContext): Promise<void> {
  const output = outputOf(ctx, "a tarball");
  const servin = await ctx.servin();
  await interruptible(ctx, () =>
    servin.exportImage(ctx.args[0]!, output, {
      gzip: typeof output === "string" && /\.t?gz$/.test(output),
    }));
}
