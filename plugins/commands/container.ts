/**
 * Container commands: run, create, start, ps, rm, logs, container inspect
 * and container prune, each a few lines over `servin.containers`.
 *
 * @module
 */

import {
  type CommandContext,
  eachArgument,
  type FlagSpec,
  inspectEach,
  selfCommand,
} from "../../core/cli.ts";
import type { ContainerRecord } from "../../core/container.ts";
import type { CreateOptions } from "../../core/containers.ts";
import { ServinError } from "../../core/errors.ts";
import { humanAgo, humanDuration, table } from "../../core/format.ts";
import { shortId } from "../../core/image.ts";
import { definePlugin } from "../../core/registry.ts";
import type { Servin } from "../../core/servin.ts";

const CREATE_FLAGS: Record<string, FlagSpec> = {
  name: { type: "string", description: "Container name (unique)", value: "NAME" },
  rm: { type: "boolean", description: "Remove the container when it exits" },
  interactive: { type: "boolean", short: "i", description: "Keep stdin open" },
  tty: { type: "boolean", short: "t", description: "Allocate a terminal" },
  env: {
    type: "string",
    short: "e",
    multiple: true,
    description: "Environment variable",
    value: "K=V",
  },
  workdir: { type: "string", short: "w", description: "Working directory", value: "DIR" },
  user: {
    type: "string",
    short: "u",
    description: "User: name, uid, name:group or uid:gid",
    value: "USER",
  },
  snapshotter: {
    type: "string",
    description: "overlay or copy (default: SERVIN_SNAPSHOTTER, then overlay where it works)",
    value: "NAME",
  },
  runtime: {
    type: "string",
    description: "OCI runtime: runc or crun (default: SERVIN_RUNTIME, then the first installed)",
    value: "NAME",
  },
  network: { type: "string", description: "none (default) or host", value: "MODE" },
  "no-fallback": {
    type: "boolean",
    description: "Fail instead of using a basic rootfs when the image is missing",
  },
};

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value : typeof value === "string" ? [value] : [];
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
  };
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
  for (let i = 0; i < 200; i++) {
    const c = await servin.containers.get(id).catch(() => undefined);
    if (!c || c.status === "running" || c.status === "exited") return;
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill();
  const err = new TextDecoder().decode((await child.output()).stderr).trim();
  throw new ServinError("internal", `The container did not start${err ? `: ${err}` : ""}`);
}

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

/** The built-in container commands. */
export function containerCommands() {
  return definePlugin({
    name: "commands-container",
    setup(api) {
      api.command({
        name: "run",
        aliases: ["container run"],
        summary: "Create a container from an image and run a command in it",
        usage: "[OPTIONS] IMAGE [COMMAND [ARG...]]",
        args: { min: 1 },
        stopAfter: 1,
        flags: {
          ...CREATE_FLAGS,
          detach: {
            type: "boolean",
            short: "d",
            description: "Run in the background; print the ID",
          },
        },
        async run(ctx) {
          const servin = await ctx.servin();
          const detach = Boolean(ctx.flags.detach);
          if (detach && ctx.flags.interactive) {
            throw new ServinError("invalid-argument", "-d and -i cannot be combined");
          }
          const c = await servin.containers.create(ctx.args[0]!, createOptions(ctx, detach));
          if (detach) {
            await startDetached(servin, c.id);
            ctx.out(c.id);
            return 0;
          }
          return await servin.containers.start(c.id, { stdin: c.process.interactive });
        },
      });

      api.command({
        name: "create",
        aliases: ["container create"],
        summary: "Create a container from an image without starting it",
        usage: "[OPTIONS] IMAGE [COMMAND [ARG...]]",
        args: { min: 1 },
        stopAfter: 1,
        flags: CREATE_FLAGS,
        async run(ctx) {
          const servin = await ctx.servin();
          const c = await servin.containers.create(ctx.args[0]!, createOptions(ctx, false));
          ctx.out(c.id);
        },
      });

      api.command({
        name: "start",
        aliases: ["container start"],
        summary: "Start a container in the background (-a: in the foreground, with its exit code)",
        usage: "[OPTIONS] CONTAINER",
        args: { min: 1, max: 1 },
        flags: {
          attach: {
            type: "boolean",
            short: "a",
            description: "Attach output and wait for the exit code",
          },
          interactive: { type: "boolean", short: "i", description: "Attach stdin" },
        },
        async run(ctx) {
          const servin = await ctx.servin();
          const c = await servin.containers.get(ctx.args[0]!);
          if (ctx.flags.attach || ctx.flags.interactive) {
            return await servin.containers.start(c.id, { stdin: Boolean(ctx.flags.interactive) });
          }
          await startDetached(servin, c.id);
          ctx.out(ctx.args[0]!);
        },
      });

      api.command({
        name: "container monitor",
        hidden: true,
        summary: "Run a container with its output in its log (used by run -d and start)",
        usage: "CONTAINER",
        args: { min: 1, max: 1 },
        async run(ctx) {
          const servin = await ctx.servin();
          return await servin.containers.start(ctx.args[0]!, { log: true });
        },
      });

      api.command({
        name: "ps",
        aliases: ["container ls", "container list"],
        summary: "List containers (running ones; -a for all)",
        usage: "[OPTIONS]",
        args: { max: 0 },
        flags: {
          all: { type: "boolean", short: "a", description: "Show all containers" },
          quiet: { type: "boolean", short: "q", description: "Only show IDs" },
          "no-trunc": { type: "boolean", description: "Do not truncate IDs and commands" },
          format: { type: "string", description: "Output format: table or json", value: "FORMAT" },
        },
        async run(ctx) {
          const format = (ctx.flags.format as string | undefined) ?? "table";
          if (format !== "table" && format !== "json") {
            throw new ServinError(
              "invalid-argument",
              `Invalid --format "${format}": use table or json`,
            );
          }
          const all = await (await ctx.servin()).containers.list();
          const shown = ctx.flags.all ? all : all.filter((c) => c.status === "running");
          const noTrunc = Boolean(ctx.flags["no-trunc"]);
          if (ctx.flags.quiet) { for (const c of shown) ctx.out(noTrunc ? c.id : shortId(c.id)); }
          else if (format === "json") ctx.out(JSON.stringify(shown, null, 2));
          else {
            ctx.out(table(
              ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"],
              psRows(shown, noTrunc),
            ));
          }
        },
      });

      api.command({
        name: "rm",
        aliases: ["container rm", "container remove"],
        summary: "Remove containers (-f: also running ones)",
        usage: "[OPTIONS] CONTAINER...",
        args: { min: 1 },
        flags: {
          force: { type: "boolean", short: "f", description: "Kill and remove running containers" },
        },
        async run(ctx) {
          const servin = await ctx.servin();
          return await eachArgument(ctx, async (name) => {
            await servin.containers.remove(name, { force: Boolean(ctx.flags.force) });
            ctx.out(name);
          });
        },
      });

      api.command({
        name: "container inspect",
        summary: "Show containers' records as a JSON array",
        usage: "CONTAINER...",
        args: { min: 1 },
        async run(ctx) {
          const servin = await ctx.servin();
          return await inspectEach(ctx, (name) => servin.containers.get(name));
        },
      });

      api.command({
        name: "logs",
        aliases: ["container logs"],
        summary: "Print the output of a detached container",
        usage: "CONTAINER",
        args: { min: 1, max: 1 },
        async run(ctx) {
          const path = await (await ctx.servin()).containers.logPath(ctx.args[0]!);
          try {
            const file = await Deno.open(path);
            await file.readable.pipeTo(Deno.stdout.writable, { preventClose: true });
          } catch (err) {
            if (!(err instanceof Deno.errors.NotFound)) throw err;
          }
        },
      });

      api.command({
        name: "container prune",
        summary: "Remove every container that is not running",
        usage: "[OPTIONS]",
        args: { max: 0 },
        flags: {
          force: { type: "boolean", short: "f", description: "Do not ask (Servin never asks)" },
        },
        async run(ctx) {
          const removed = await (await ctx.servin()).containers.prune();
          if (removed.length) {
            ctx.out(["Deleted Containers:", ...removed.map((c) => c.id)].join("\n"));
          }
          ctx.out(`Total: ${removed.length} container${removed.length === 1 ? "" : "s"} removed`);
        },
      });
    },
  });
}
