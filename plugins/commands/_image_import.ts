/**
 * `servin image import`: the runtime configuration from flags, then one
 * call of the facade.
 *
 * @module
 */

import type { CommandContext } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import type { ImageConfig } from "../../core/image.ts";
import { strings } from "./_each.ts";
import { interruptible } from "./_interrupt.ts";
import { withProgress } from "./_progress.ts";

/** Splits a command line into words: a JSON array, or words with shell-style quotes. */
export function parseCommandLine(text: string, flag: string): string[] {
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new ServinError("invalid-argument", `Invalid ${flag}: not a valid JSON array`);
    }
    if (!Array.isArray(parsed) || !parsed.every((w) => typeof w === "string")) {
      throw new ServinError(
        "invalid-argument",
        `Invalid ${flag}: expected a JSON array of strings`,
      );
    }
    return parsed;
  }
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < trimmed.length; i++) {
    const c = trimmed[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < trimmed.length) word += trimmed[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < trimmed.length) {
      word += trimmed[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new ServinError("invalid-argument", `Invalid ${flag}: unterminated quote`);
  if (inWord) words.push(word);
  return words;
}

function keyValues(list: string[], flag: string, requireValue: boolean): [string, string][] {
  return list.map((item) => {
    const eq = item.indexOf("=");
    if (eq === 0 || (requireValue && eq < 0)) {
      throw new ServinError("invalid-argument", `Invalid ${flag} "${item}": expected KEY=VALUE`);
    }
    return eq < 0 ? [item, ""] : [item.slice(0, eq), item.slice(eq + 1)];
  });
}

function configFromFlags(flags: CommandContext["flags"]): Partial<ImageConfig> {
  const config: Partial<ImageConfig> = {};
  if (typeof flags.cmd === "string") config.cmd = parseCommandLine(flags.cmd, "--cmd");
  if (typeof flags.entrypoint === "string") {
    config.entrypoint = parseCommandLine(flags.entrypoint, "--entrypoint");
  }
  const env = keyValues(strings(flags.env), "--env", true);
  if (env.length) config.env = env.map(([k, v]) => `${k}=${v}`);
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
  if (labels.length) config.labels = Object.fromEntries(labels);
  return config;
}

/** `servin image import TARBALL|- NAME[:TAG]`. */
export async function importImage(ctx: CommandContext): Promise<void> {
  const [input, reference] = ctx.args as [string, string];
  const config = configFromFlags(ctx.flags);
  const servin = await ctx.servin();
  const image = await interruptible(ctx, () =>
    withProgress(
      ctx,
      "Importing",
      (onProgress) =>
        servin.importImage(input, reference, {
          config,
          message: ctx.flags.message as string | undefined,
          onProgress,
        }),
    ));
  ctx.out(`sha256:${image.id}`);
}
