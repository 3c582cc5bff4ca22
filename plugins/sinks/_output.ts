/**
 * Where `save` and `export` write: a file, written to a temporary name
 * beside it and renamed into place only when whole (so a failed or
 * interrupted command leaves no partial file: a temporary file still being
 * written when the process exits is removed then), or a stream.
 *
 * @module
 */

import type { WriteTarget } from "../../core/api.ts";
import { messageOf, ServinError } from "../../core/errors.ts";
import type { SinkContext } from "../../core/kinds.ts";

/** What a sink that writes bytes works with: its context and a way to write them. */
export type StreamSinkContext = SinkContext & { write(chunk: Uint8Array): Promise<void> };

/** Temporary files being written now: removed if the process exits (a signal) before they are whole. */
const partial = new Set<string>();
globalThis.addEventListener("unload", () => {
  for (const tmp of partial) {
    try {
      Deno.removeSync(tmp);
    } catch { /* gone already */ }
  }
});

/** Runs `fn` with a writer to `ctx.output`; a file appears only once `fn` succeeded. */
export async function writeTo(
  ctx: SinkContext,
  fn: (ctx: StreamSinkContext) => Promise<unknown>,
): Promise<void> {
  const output: WriteTarget | undefined = ctx.output;
  if (output === undefined) {
    throw new ServinError("invalid-argument", "This format writes to a file or a stream");
  }
  if (typeof output !== "string") {
    const writer = output.getWriter();
    try {
      await fn({ ...ctx, write: (chunk) => writer.write(chunk) });
      await writer.close();
    } finally {
      writer.releaseLock();
    }
    return;
  }
  const dir = output.includes("/") ? output.slice(0, output.lastIndexOf("/")) || "/" : ".";
  const tmp = await Deno.makeTempFile({ dir, prefix: ".servin-" }).catch((err) => {
    throw new ServinError("invalid-argument", `Cannot write "${output}": ${messageOf(err)}`);
  });
  partial.add(tmp);
  const file = await Deno.open(tmp, { write: true, truncate: true });
  try {
    const writer = file.writable.getWriter();
    await fn({ ...ctx, write: (chunk) => writer.write(chunk) });
    await writer.close();
    await Deno.chmod(tmp, 0o644);
    await Deno.rename(tmp, output);
  } catch (err) {
    try {
      file.close();
    } catch { /* closed */ }
    await Deno.remove(tmp).catch(() => {});
    throw err;
  } finally {
    partial.delete(tmp);
  }
}
