/**
 * Progress on stderr, on a terminal only: one line with the whole, then
 * each part (layer), redrawn at most ten times a second.
 *
 * @module
 */

import type { CommandContext, Servin } from "../../core/api.ts";
import type { ProgressFn } from "../../core/kinds.ts";
import { humanSize } from "./_format.ts";
import { interruptible } from "./_interrupt.ts";

/** A progress printer for `verb`, or undefined when stderr is not a terminal or `--quiet` was given. */
export function progressPrinter(ctx: CommandContext, verb: string): ProgressFn | undefined {
  if (!ctx.errIsTerminal || ctx.flags.quiet) return undefined;
  const start = performance.now();
  let last = 0;
  return (read, total, parts) => {
    const now = performance.now();
    if (now - last < 100 && read !== total) return;
    last = now;
    const rate = read / Math.max((now - start) / 1000, 0.001);
    const pct = (d: number, t: number) => `${t ? Math.floor((d / t) * 100) : 100}%`;
    const of = total ? ` / ${humanSize(total)} (${pct(read, total)})` : "";
    const each = (parts ?? []).map((p) => `${p.id} ${pct(p.done, p.total)}`).join("  ");
    const line = `${verb} ${humanSize(read)}${of}  ${humanSize(rate)}/s${each ? `  ${each}` : ""}`;
    let width = 0;
    try {
      width = Deno.consoleSize().columns;
    } catch { /* not a console */ }
    // A terminal that reports no width (0) gets the whole line.
    ctx.errRaw(`\r\x1b[K${width >= 40 ? line.slice(0, width - 1) : line}`);
  };
}

/**
 * Runs `fn` with a progress printer for `verb`, clearing the progress line
 * afterwards, whether it succeeded or not.
 */
export async function withProgress<T>(
  ctx: CommandContext,
  verb: string,
  fn: (onProgress: ProgressFn | undefined) => Promise<T>,
): Promise<T> {
  const onProgress = progressPrinter(ctx, verb);
  try {
    return await fn(onProgress);
  } finally {
    if (onProgress) ctx.errRaw("\r\x1b[K");
  }
}

/**
 * What import, load, pull and push share: runs `work` on the open Servin
 * with a progress printer for `verb`, interruptible by SIGINT and SIGTERM
 * (see _interrupt.ts).
 */
export async function stagingWork<T>(
  ctx: CommandContext,
  verb: string,
  work: (servin: Servin, onProgress: ProgressFn | undefined) => Promise<T>,
): Promise<T> {
  const servin = await ctx.servin();
  return await interruptible(ctx, () => withProgress(ctx, verb, (p) => work(servin, p)));
}
