/**
 * SIGINT and SIGTERM during the commands that stage or write (import, load,
 * pull, push, save, export): the first signal closes the open Servin, which
 * throws away everything staged and the temporary file of a save or export,
 * then exits 130 (SIGINT) or 143 (SIGTERM), as a shell reports a process
 * killed by them; a second signal exits at once. Commands that run
 * containers install no handler: the container service forwards signals to
 * the container.
 *
 * @module
 */

import type { CommandContext } from "../../core/api.ts";
import { messageOf } from "../../core/errors.ts";

/** Exit codes of an interrupted command: 128 + the signal's number. */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

type Handled = keyof typeof SIGNAL_EXIT_CODES;

/**
 * Runs `work`; a SIGINT or SIGTERM meanwhile aborts it as described above
 * and never returns. `undo`, when given, runs first, for what the work
 * changed outside the store (a paused container).
 */
export async function interruptible<T>(
  ctx: CommandContext,
  work: () => Promise<T>,
  undo?: () => Promise<void>,
): Promise<T> {
  // Windows delivers only SIGINT (and SIGBREAK) to Deno.
  const signals: Handled[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  let aborting: Promise<never> | undefined;
  const listeners = signals.map((signal) => {
    const listener = () => {
      const code = SIGNAL_EXIT_CODES[signal];
      if (aborting) Deno.exit(code);
      aborting = abort(ctx, code, undo);
    };
    Deno.addSignalListener(signal, listener);
    return [signal, listener] as const;
  });
  try {
    const result = await work();
    // Finished while the cleanup ran: the signal still decides the exit code.
    if (aborting) await aborting;
    return result;
  } catch (err) {
    // The work fails because its staging went away: that is the abort, not an error to print.
    if (aborting) await aborting;
    throw err;
  } finally {
    if (!aborting) {
      for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
    }
  }
}

async function abort(
  ctx: CommandContext,
  code: number,
  undo?: () => Promise<void>,
): Promise<never> {
  if (ctx.errIsTerminal) ctx.errRaw("\r\x1b[K");
  try {
    await undo?.();
  } catch (err) {
    ctx.err(`servin: warning: cleaning up after the signal: ${messageOf(err)}`);
  }
  // A store that failed to open has nothing staged.
  const servin = await ctx.servin().catch(() => undefined);
  try {
    await servin?.close();
  } catch (err) {
    ctx.err(`servin: warning: cleaning up after the signal: ${messageOf(err)}`);
  }
  Deno.exit(code);
}
