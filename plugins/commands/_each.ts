/**
 * What several commands share: going on after a failing argument, the
 * `inspect` commands' JSON array or template, repeatable flag values as a
 * list, the `--filter KEY=VALUE` split and the `--format` check.
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
 * argument, or with `-f TEMPLATE` the template's output for each, a line
 * each (as `docker inspect -f`); names not found are reported on stderr and
 * make the exit code 1. A bad template fails before anything is looked up.
 */
export async function inspectEach<T>(
  ctx: CommandContext,
  get: (name: string) => Promise<T>,
): Promise<number> {
  const format = ctx.flags.format as string | undefined;
  const template = format && format !== "json"
    ? (await import("./_template.ts")).parseTemplate(format)
    : undefined;
  const found: T[] = [];
  const code = await eachArgument(ctx, async (name) => void found.push(await get(name)), [
    "not-found",
  ]);
  if (!template) ctx.out(JSON.stringify(found, null, 2));
  else for (const item of found) ctx.out(template.render(item));
  return code;
}

/** A flag's values as a list (a repeatable flag gives an array, others one string). */
export function strings(value: unknown): string[] {
  return Array.isArray(value) ? value : typeof value === "string" ? [value] : [];
}

/**
 * One `--filter KEY=VALUE` split at its first `=`; a value without `=` or
 * with a key not in `keys` is an error that lists what to use (`usage`).
 */
export function splitFilter(
  item: string,
  keys: readonly string[],
  usage: string,
): [string, string] {
  const eq = item.indexOf("=");
  const key = item.slice(0, eq);
  if (eq < 0 || !keys.includes(key)) {
    throw new ServinError("invalid-argument", `Invalid filter "${item}": use ${usage}`);
  }
  return [key, item.slice(eq + 1)];
}

/**
 * The `--format` value, one of `allowed` (the first by default); with
 * `templates`, `"template"` for a Go template (text with `{{`, such as
 * `table {{.ID}}\t{{.Size}}`), which the command renders from the flag.
 */
export function formatFlag<T extends string>(
  ctx: CommandContext,
  allowed: readonly T[],
  templates = false,
): T | "template" {
  const format = (ctx.flags.format as string | undefined) ?? allowed[0]!;
  if (templates && format.includes("{{")) return "template";
  if (!allowed.includes(format as T)) {
    throw new ServinError(
      "invalid-argument",
      `Invalid --format ${JSON.stringify(format)}: use ${allowed.join(" or ")}${
        templates ? " or a Go template" : ""
      }`,
    );
  }
  return format as T;
}
