/**
 * A container's life after `run`: `stop`, `kill`, `restart`, `wait`,
 * `pause`/`unpause`, `rename`, `top` and `exec`, each a thin layer over the
 * containers API.
 *
 * @module
 */

import type { CommandContext } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import { eachArgument } from "./_each.ts";
import { dockerExit, environment, onExit } from "./_container_run.ts";

function seconds(ctx: CommandContext): number | undefined {
  const t = ctx.flags.time;
  if (typeof t !== "string") return undefined;
  const n = Number(t);
  if (!Number.isInteger(n) || n < 0) {
    throw new ServinError("invalid-argument", `Invalid --time "${t}": expected whole seconds`);
  }
  return n;
}

/** `servin stop [-t SECONDS] CONTAINER...`. */
export async function stopContainers(ctx: CommandContext): Promise<number> {
  const timeout = seconds(ctx);
  const servin = await ctx.servin();
  return await eachArgument(ctx, async (name) => {
    await servin.containers.stop(name, { timeout });
    ctx.out(name);
  });
}

/** `servin kill [-s SIGNAL] CONTAINER...`. */
export async function killContainers(ctx: CommandContext): Promise<number> {
  const servin = await ctx.servin();
  return await eachArgument(ctx, async (name) => {
    await servin.containers.kill(name, (ctx.flags.signal as string | undefined) ?? "SIGKILL");
    ctx.out(name);
  });
}

/** `servin restart [-t SECONDS] CONTAINER...`: stop, then start detached. */
export async function restartContainers(ctx: CommandContext): Promise<number> {
  const timeout = seconds(ctx);
  const servin = await ctx.servin();
  return await eachArgument(ctx, async (name) => {
    const c = await servin.containers.stop(name, { timeout });
    await servin.containers.start(c.id, { detach: true, onExit: onExit(servin, c.id) });
    ctx.out(name);
  });
}

/** `servin wait CONTAINER...`: each exit code on its own line. */
export async function waitContainers(ctx: CommandContext): Promise<number> {
  const servin = await ctx.servin();
  return await eachArgument(ctx, async (name) => {
    ctx.out(String(await servin.containers.wait(name)));
  });
}

/** `servin pause|unpause CONTAINER...`. */
export async function pauseContainers(ctx: CommandContext, paused: boolean): Promise<number> {
  const servin = await ctx.servin();
  return await eachArgument(ctx, async (name) => {
    await servin.containers.pause(name, paused);
    ctx.out(name);
  });
}

/** `servin rename CONTAINER NEW_NAME`. */
export async function renameContainer(ctx: CommandContext): Promise<void> {
  await (await ctx.servin()).containers.rename(ctx.args[0]!, ctx.args[1]!);
}

/** `servin top CONTAINER [ps OPTIONS]`. */
export async function topContainer(ctx: CommandContext): Promise<void> {
  const text = await (await ctx.servin()).containers.top(ctx.args[0]!, ctx.args.slice(1));
  ctx.out(text.replace(/\n$/, ""));
}

/**
 * `servin exec [-i] [-t] [-d] [-e K=V] [-w DIR] [-u USER] CONTAINER CMD…`:
 * the process's exit code; 125 when Servin or the runtime fails before it
 * runs, 126 / 127 when the command cannot be run or is not found.
 */
export async function execContainer(ctx: CommandContext): Promise<number> {
  const f = ctx.flags;
  let tty = Boolean(f.tty);
  if (tty && !f.detach && !Deno.stdin.isTerminal()) {
    ctx.err("the input device is not a TTY");
    tty = false;
  }
  const workdir = f.workdir as string | undefined;
  if (workdir !== undefined && !workdir.startsWith("/")) {
    throw new ServinError("invalid-argument", `Invalid --workdir "${workdir}": must be absolute`);
  }
  return await dockerExit(ctx, async () => {
    const env = await environment(ctx);
    return await (await ctx.servin()).containers.exec(ctx.args[0]!, ctx.args.slice(1), {
      env: [...tty ? ["TERM=xterm"] : [], ...env],
      cwd: workdir,
      user: f.user as string | undefined,
      tty,
      interactive: Boolean(f.interactive),
      detach: Boolean(f.detach),
    });
  });
}
