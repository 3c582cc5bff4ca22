/**
 * What several commands share: going on after a failing argument, the
 * `inspect` commands' JSON array, repeatable flag values as a list, and the
 * `--format` check.
 *
 * @module
 */

import type { CommandContext } from "../../core/api.ts";
import { type ErrorCode, isServinError, messageOf, ServinError } from "../../core/errors.ts";

/**
 * Runs `fn` on each positional argument, going on after a failure: a
 * `ServinError` (of one of `codes`, when given) is reported as one line on
 * stderr; others propagate. Returns the exit code: 1 when any failed.
 */
export async function eachArgument(
  ctx: CommandContext,
  fn: (arg: string) => Promise<void>,
  codes?: ErrorCode[],
): Promise<number> {
  let failed = 0;
  for (const arg of ctx.args) {
    try {
      await fn(arg);
    } catch (err) {
      if (!isServinError(err) || (codes && !codes.includes(err.code))) throw err;
      failed++;
      ctx.err(`servin: ${messageOf(err)}`);
    }
  }
  return failed ? 1 : 0;
}

/**
 * The `inspect` commands: a JSON array of what `get` finds for each
 * argument; names not found are reported on stderr and make the exit code 1.
 */
export async function inspectEach<T>(
  ctx: CommandContext,
  get: (name: string) => Promise<T>,
): Promise<number> {
  const found: T[] = [];
  const code = await eachArgument(ctx, async (name) => void found.push(await get(name)), [
    "not-found",
  ]);
  ctx.out(JSON.stringify(found, null, 2));
  return code;
}

/** A flag's values as a list (a repeatable flag gives an array, others one string). */
export function strings(value: unknown): string[] {
  return Array.isArray(value) ? value : typeof value === "string" ? [value] : [];
}

/** The `--format` value, one of `allowed` (the first by default). */
export function formatFlag<T extends string>(ctx: CommandContext, allowed: readonly T[]): T {
  const format = (ctx.flags.format as string | undefined) ?? allowed[0]!;
  if (!allowed.includes(format as T)) {
    throw new ServinError(
      "invalid-argument",
      `Invalid --format "${format}": use ${allowed.join(" or ")}`,
    );
  }
  return format as T;
}
