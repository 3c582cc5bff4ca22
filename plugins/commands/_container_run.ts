/**
 * Running containers: `run`, `create`, `start` and the hidden
 * `container monitor` that a detached container runs under.
 *
 * @module
 */

import { resolve } from "node:path";
import type { CommandContext, CreateOptions, Servin } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import { strings } from "./_each.ts";

/** `--security-opt` values with a profile path made absolute: the record must name the same file. */
function securityOpts(values: string[]): string[] {
  return values.map((v) => {
    const m = /^seccomp=(.+)$/.exec(v);
    return m && m[1] !== "unconfined" ? `seccomp=${resolve(m[1]!)}` : v;
  });
}

function createOptions(ctx: CommandContext, detached: boolean): CreateOptions {
  const f = ctx.flags;
  const network = (f.network as string | undefined) ?? "none";
  if (network !== "none" && network !== "host") {
    throw new ServinError("invalid-argument", `Invalid --network "${network}": use none or host`);
  }
  for (const e of strings(f.env)) {
    if (e.indexOf("=") <= 0) {
      throw new ServinError("invalid-argument", `Invalid --env "${e}": expected KEY=VALUE`);
    }
  }
  return {
    name: f.name as string | undefined,
    command: ctx.args.slice(1),
    env: strings(f.env),
    workdir: f.workdir as string | undefined,
    user: f.user as string | undefined,
    snapshotter: f.snapshotter as string | undefined,
    runtime: f.runtime as string | undefined,
    tty: Boolean(f.tty),
    interactive: Boolean(f.interactive),
    autoRemove: Boolean(f.rm),
    detached,
    network,
    noFallback: Boolean(f["no-fallback"]),
    securityOpt: securityOpts(strings(f["security-opt"])),
  };
}

/**
 * The command line that runs this CLI again (for the detached monitor): the
 * compiled binary, or `deno run -A main.ts`.
 */
export function selfCommand(): string[] {
  if (Deno.build.standalone) return [Deno.execPath()];
  return [Deno.execPath(), "run", "-A", new URL(Deno.mainModule).pathname];
}

/** Starts `id` in a detached monitor process and waits until it is running (or already done). */
async function startDetached(servin: Servin, id: string): Promise<void> {
  const [cmd, ...args] = selfCommand();
  // setsid: the monitor must not die with the caller's terminal or process group.
  const child = new Deno.Command("setsid", {
    args: [cmd!, ...args, "--root", servin.root, "container", "monitor", id],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Bounded: 200 × 25 ms, then the monitor's own words.
  for (let i = 0; i < 200; i++) {
    const c = await servin.containers.get(id).catch(() => undefined);
    if (!c || c.status === "running" || c.status === "exited") return;
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill();
  const err = new TextDecoder().decode((await child.output()).stderr).trim();
  throw new ServinError("internal", `The container did not start${err ? `: ${err}` : ""}`);
}

/** `servin run IMAGE [COMMAND…]`: the process's exit code, or the ID when detached. */
export async function runContainer(ctx: CommandContext): Promise<number> {
  const detach = Boolean(ctx.flags.detach);
  if (detach && ctx.flags.interactive) {
    throw new ServinError("invalid-argument", "-d and -i cannot be combined");
  }
  const options = createOptions(ctx, detach);
  const servin = await ctx.servin();
  const c = await servin.containers.create(ctx.args[0]!, options);
  if (detach) {
    await startDetached(servin, c.id);
    ctx.out(c.id);
    return 0;
  }
  return await servin.containers.start(c.id, { stdin: c.process.interactive });
}

/** `servin create IMAGE [COMMAND…]`: prints the new container's ID. */
export async function createContainer(ctx: CommandContext): Promise<void> {
  const options = createOptions(ctx, false);
  const c = await (await ctx.servin()).containers.create(ctx.args[0]!, options);
  ctx.out(c.id);
}

/** `servin start [-a] [-i] CONTAINER`. */
export async function startContainer(ctx: CommandContext): Promise<number | void> {
  const servin = await ctx.servin();
  const c = await servin.containers.get(ctx.args[0]!);
  if (ctx.flags.attach || ctx.flags.interactive) {
    return await servin.containers.start(c.id, { stdin: Boolean(ctx.flags.interactive) });
  }
  await startDetached(servin, c.id);
  ctx.out(ctx.args[0]!);
}

/** `servin container monitor CONTAINER`: runs it with its output in its log. */
export async function monitorContainer(ctx: CommandContext): Promise<number> {
  return await (await ctx.servin()).containers.start(ctx.args[0]!, { log: true });
}
