/**
 * Looking at and removing containers: `ps`, `container inspect`, `logs`,
 * `rm` and `container prune`.
 *
 * @module
 */

import type { CommandContext, ContainerRecord } from "../../core/api.ts";
import { shortId } from "../../core/image.ts";
import { eachArgument, formatFlag, inspectEach } from "./_each.ts";
import { humanAgo, humanDuration, table } from "./_format.ts";

function quoteCommand(args: string[]): string {
  return args.map((a) => /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)
    .join(" ");
}

function statusText(c: ContainerRecord, now: Date): string {
  if (c.status === "running" && c.started_at) {
    return `Up ${humanDuration(now.getTime() - Date.parse(c.started_at))}`;
  }
  if (c.status === "exited") {
    return `Exited (${c.exit_code}) ${humanAgo(c.finished_at ?? c.created, now)}`;
  }
  return c.status === "dead" ? "Dead" : "Created";
}

function psRows(list: ContainerRecord[], noTrunc: boolean): string[][] {
  const now = new Date();
  return list.map((c) => {
    let command = quoteCommand(c.process.args);
    if (!noTrunc && command.length > 20) command = `${command.slice(0, 19)}…`;
    return [
      noTrunc ? c.id : shortId(c.id),
      c.image,
      `"${command}"`,
      humanAgo(c.created, now),
      statusText(c, now),
      c.name,
    ];
  });
}

/** `servin ps [-a]`. */
export async function listContainers(ctx: CommandContext): Promise<void> {
  const format = formatFlag(ctx, ["table", "json"]);
  const all = await (await ctx.servin()).containers.list();
  const shown = ctx.flags.all ? all : all.filter((c) => c.status === "running");
  const noTrunc = Boolean(ctx.flags["no-trunc"]);
  if (ctx.flags.quiet) {
    for (const c of shown) ctx.out(noTrunc ? c.id : shortId(c.id));
  } else if (format === "json") {
    ctx.out(JSON.stringify(shown, null, 2));
  } else {
    ctx.out(table(
      ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"],
      psRows(shown, noTrunc),
    ));
  }
}

/** `servin rm [-f] CONTAINER...`: each name in turn, going on after a failure. */
export async function removeContainers(ctx: CommandContext): Promise<number> {
  const servin = await ctx.servin();
  return await eachArgument(ctx, async (name) => {
    await servin.containers.remove(name, { force: Boolean(ctx.flags.force) });
    ctx.out(name);
  });
}

/** `servin container inspect CONTAINER...`. */
export async function inspectContainers(ctx: CommandContext): Promise<number> {
  const servin = await ctx.servin();
  return await inspectEach(ctx, (name) => servin.containers.get(name));
}

/** `servin logs CONTAINER`: a detached container's output (nothing before it wrote any). */
export async function containerLogs(ctx: CommandContext): Promise<void> {
  const path = await (await ctx.servin()).containers.logPath(ctx.args[0]!);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  await file.readable.pipeTo(Deno.stdout.writable, { preventClose: true });
}

/** `servin container prune`. */
export async function pruneContainers(ctx: CommandContext): Promise<void> {
  const removed = await (await ctx.servin()).containers.prune();
  if (removed.length) ctx.out(["Deleted Containers:", ...removed.map((c) => c.id)].join("\n"));
  ctx.out(`Total: ${removed.length} container${removed.length === 1 ? "" : "s"} removed`);
}
