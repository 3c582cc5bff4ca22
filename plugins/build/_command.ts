/**
 * The `build` command: flags read into {@link BuildOptions}; progress in
 * BuildKit's plain format on stderr, the image ID on stdout.
 *
 * @module
 */

import type { CommandContext } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import { SIGNAL_EXIT_CODES } from "../commands/_interrupt.ts";
import type { BuildOptions } from "../../core/api.ts";

function pairs(values: unknown, flag: string, fromEnv: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of (values as string[] | undefined) ?? []) {
    const i = v.indexOf("=");
    if (i === 0) throw new ServinError("usage", `--${flag} "${v}": the name is empty`);
    if (i < 0) {
      // `--build-arg NAME` takes the value from the environment, as Docker does.
      const env = fromEnv ? Deno.env.get(v) : "";
      if (env !== undefined) out[v] = env;
      continue;
    }
    out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

function oneOf<T extends string>(
  value: unknown,
  flag: string,
  allowed: readonly T[],
): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) {
    throw new ServinError(
      "usage",
      `--${flag} must be one of ${allowed.join(", ")}, not "${value}"`,
    );
  }
  return value as T;
}

/** Runs `servin build`. */
export async function buildCommand(ctx: CommandContext): Promise<number> {
  const f = ctx.flags;
  const progress = oneOf(f.progress, "progress", ["auto", "plain", "quiet", "tty"] as const);
  const quiet = f.quiet === true || progress === "quiet";
  // The library reads no environment: SOURCE_DATE_EPOCH is the command's default.
  const epoch = Deno.env.get("SOURCE_DATE_EPOCH") || undefined;
  const ts = (f.timestamp as string | undefined) ?? epoch;
  if (ts !== undefined && !/^\d+$/.test(ts)) {
    const what = f.timestamp === undefined ? "SOURCE_DATE_EPOCH" : "--timestamp";
    throw new ServinError("usage", `${what} must be whole seconds since the epoch, not "${ts}"`);
  }
  const options: BuildOptions = {
    context: ctx.args[0]!,
    file: f.file as string | undefined,
    tags: (f.tag as string[] | undefined) ?? [],
    buildArgs: pairs(f["build-arg"], "build-arg", true),
    labels: pairs(f.label, "label", false),
    target: f.target as string | undefined,
    noCache: f["no-cache"] === true,
    pull: oneOf(f.pull, "pull", ["missing", "always", "never"] as const),
    timestamp: ts === undefined ? undefined : Number(ts),
    // Docker's `default` is the containers' default network; any other name is run's.
    network: f.network === "default" ? undefined : f.network as string | undefined,
    log: quiet ? undefined : (line) => ctx.err(line),
  };
  const servin = await ctx.servin();
  // Not `interruptible`: closing the store under a RUN would leave its container. A signal
  // stops the build before its next step; SIGTERM reaches a RUN through the runtime, which
  // forwards it, and its container is removed as after any failed step.
  const controller = new AbortController();
  let code = 0;
  const signals = Deno.build.os === "windows"
    ? ["SIGINT"] as const
    : ["SIGINT", "SIGTERM"] as const;
  const listeners = signals.map((signal) => {
    const listener = () => {
      if (code) Deno.exit(code);
      code = SIGNAL_EXIT_CODES[signal];
      controller.abort();
    };
    Deno.addSignalListener(signal, listener);
    return [signal, listener] as const;
  });
  try {
    const image = await servin.build({ ...options, signal: controller.signal });
    if (code) return code;
    ctx.out(`sha256:${image.id}`);
    return 0;
  } catch (err) {
    if (code) {
      ctx.err("servin: the build was interrupted");
      return code;
    }
    throw err;
  } finally {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  }
}
