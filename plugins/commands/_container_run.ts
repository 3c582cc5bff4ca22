/**
 * Running containers: `run`, `create`, `start` and the hidden
 * `container cleanup` a detached container's supervisor runs when its
 * process exits. Image resolution is Docker's: `--pull missing` pulls what
 * the store lacks, with `pull`'s progress; the basic rootfs only with
 * `--fallback`. Failures before the process runs exit 125 (126, 127 when
 * the command cannot be run or is not found), as Docker's do.
 *
 * @module
 */

import { join, resolve } from "node:path";
import type { CommandContext, CreateOptions, Servin } from "../../core/api.ts";
import type { HostConfig } from "../../core/kinds.ts";
import { isServinError, messageOf, osError, ServinError } from "../../core/errors.ts";
import {
  checkDistinct,
  parseMountFlag,
  parseTmpfsFlag,
  parseVolumeFlag,
} from "../volumes/mounts.ts";
import { strings } from "./_each.ts";
import { withProgress } from "./_progress.ts";

/** `--security-opt` values with a profile path made absolute: the record must name the same file. */
function securityOpts(values: string[]): string[] {
  return values.map((v) => {
    const m = /^seccomp=(.+)$/.exec(v);
    return m && m[1] !== "unconfined" ? `seccomp=${resolve(m[1]!)}` : v;
  });
}

function invalid(flag: string, value: string, expected: string): ServinError {
  return new ServinError("invalid-argument", `Invalid ${flag} "${value}": ${expected}`);
}

/** Docker's byte sizes: `512`, `64k`, `128m`, `1g` (`b`, and a trailing `b`, allowed). */
function bytes(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(value);
  if (!m) throw invalid("--memory", value, "expected a size such as 64m or 1g");
  const unit = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase()]!;
  return Math.floor(Number(m[1]) * unit);
}

/** The environment of `-e` and `--env-file`: `K=V`, or `K` alone taking the caller's value. */
export async function environment(ctx: CommandContext): Promise<string[]> {
  const out: string[] = [];
  const add = (entry: string, where: string) => {
    const i = entry.indexOf("=");
    if (i === 0 || entry === "") throw invalid(where, entry, "expected KEY=VALUE or KEY");
    if (i > 0) return out.push(entry);
    // As Docker: a bare name takes the caller's value, and is left out when unset.
    const value = Deno.env.get(entry);
    if (value !== undefined) out.push(`${entry}=${value}`);
  };
  for (const file of strings(ctx.flags["env-file"])) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (err) {
      throw new ServinError(
        "invalid-argument",
        `Cannot read --env-file "${file}": ${messageOf(err)}`,
      );
    }
    for (const line of text.split("\n")) {
      const t = line.replace(/\r$/, "");
      if (t.trim() && !t.trimStart().startsWith("#")) add(t, "--env-file line");
    }
  }
  for (const e of strings(ctx.flags.env)) add(e, "--env");
  return out;
}

function keyValues(values: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf("=");
    if (i === 0) throw invalid(flag, v, "expected KEY=VALUE");
    if (i < 0) out[v] = "";
    else out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

function hostConfig(ctx: CommandContext): HostConfig {
  const f = ctx.flags;
  const host: HostConfig = {};
  if (f.init) host.init = true;
  if (f.privileged) host.privileged = true;
  const lists = [
    ["cap-add", "cap_add"],
    ["cap-drop", "cap_drop"],
    ["ulimit", "ulimits"],
    ["dns", "dns"],
  ] as const;
  for (const [flag, key] of lists) {
    const values = strings(f[flag]);
    if (values.length) host[key] = values;
  }
  const hosts = strings(f["add-host"]);
  for (const h of hosts) {
    if (!/^[^:\s]+:[0-9a-fA-F.:]+$/.test(h)) throw invalid("--add-host", h, "expected HOST:IP");
  }
  if (hosts.length) host.extra_hosts = hosts;
  const publish = strings(f.publish);
  if (publish.length) host.publish = publish;
  if (f["publish-all"]) host.publish_all = true;
  for (const d of host.dns ?? []) {
    if (!/^[0-9a-fA-F.:]+$/.test(d)) throw invalid("--dns", d, "expected an IP address");
  }
  if (typeof f.memory === "string") host.memory = bytes(f.memory);
  if (typeof f.cpus === "string") {
    const cpus = Number(f.cpus);
    if (!(cpus > 0)) throw invalid("--cpus", f.cpus, "expected a positive number");
    host.nano_cpus = Math.round(cpus * 1e9);
  }
  if (typeof f["pids-limit"] === "string") {
    const n = Number(f["pids-limit"]);
    if (!Number.isInteger(n) || n <= 0) {
      throw invalid("--pids-limit", f["pids-limit"], "expected a positive whole number");
    }
    host.pids_limit = n;
  }
  const mounts = [
    ...strings(f.volume).map(parseVolumeFlag),
    ...strings(f.mount).map(parseMountFlag),
    ...strings(f.tmpfs).map(parseTmpfsFlag),
  ];
  checkDistinct(mounts);
  if (mounts.length) host.mounts = mounts;
  if (f["read-only"]) host.readonly_rootfs = true;
  if (typeof f.restart === "string") {
    if (!/^(no|always|unless-stopped|on-failure(:\d+)?)$/.test(f.restart)) {
      throw invalid("--restart", f.restart, "use no, on-failure[:N], always or unless-stopped");
    }
    if (f.restart !== "no" && f.rm) {
      throw new ServinError("invalid-argument", "--restart and --rm cannot be combined");
    }
    host.restart = f.restart;
  }
  return host;
}

async function createOptions(ctx: CommandContext, detached: boolean): Promise<CreateOptions> {
  const f = ctx.flags;
  const network = f.network as string | undefined;
  let tty = Boolean(f.tty);
  if (tty && !detached && !Deno.stdin.isTerminal()) {
    // Docker's words; the process runs without a terminal rather than not at all.
    ctx.err("the input device is not a TTY");
    tty = false;
  }
  return {
    name: f.name as string | undefined,
    command: ctx.args.slice(1),
    // Asked for a terminal it cannot have, the process still gets TERM, as with one.
    env: [...f.tty && !tty ? ["TERM=xterm"] : [], ...await environment(ctx)],
    workdir: f.workdir as string | undefined,
    user: f.user as string | undefined,
    snapshotter: f.snapshotter as string | undefined,
    runtime: f.runtime as string | undefined,
    tty,
    interactive: Boolean(f.interactive),
    autoRemove: Boolean(f.rm),
    detached,
    network,
    securityOpt: securityOpts(strings(f["security-opt"])),
    entrypoint: typeof f.entrypoint === "string"
      ? (f.entrypoint === "" ? [] : [f.entrypoint])
      : undefined,
    hostname: f.hostname as string | undefined,
    labels: keyValues(strings(f.label), "--label"),
    platform: f.platform as string | undefined,
    host: hostConfig(ctx),
  };
}

/** `fallback_rootfs` of `<root>/config.json`: whether a missing image runs the basic rootfs. */
async function fallbackConfigured(root: string): Promise<boolean> {
  try {
    const config = JSON.parse(await Deno.readTextFile(join(root, "config.json")));
    return config?.fallback_rootfs === true;
  } catch {
    return false;
  }
}

/**
 * Creates the container, resolving the image as Docker does: `--pull
 * always` pulls first; `missing` pulls when the store lacks it; `never`
 * does not. A missing image is an error unless the basic rootfs is asked for.
 */
async function createResolved(
  ctx: CommandContext,
  servin: Servin,
  options: CreateOptions,
) {
  const image = ctx.args[0]!;
  const policy = (ctx.flags.pull as string | undefined) ?? "missing";
  if (!["missing", "always", "never"].includes(policy)) {
    throw invalid("--pull", policy, "use missing, always or never");
  }
  const fallback = Boolean(ctx.flags.fallback) || await fallbackConfigured(servin.root);
  const pull = () =>
    withProgress(
      ctx,
      "Pulling",
      (onProgress) => servin.pullImage(image, { platform: options.platform, onProgress }),
    );
  if (policy === "always") await pull();
  try {
    return await servin.containers.create(image, { ...options, noFallback: true });
  } catch (err) {
    // The service's MissingImage: the image, not something else, is not there.
    if (!isServinError(err, "not-found") || !("image" in err)) throw err;
    let reason = "";
    if (policy === "missing") {
      ctx.err(`Unable to find image '${image}' locally`);
      try {
        await pull();
        return await servin.containers.create(image, { ...options, noFallback: true });
      } catch (pullErr) {
        if (!fallback) throw pullErr;
        reason = messageOf(pullErr);
      }
    } else if (!fallback) {
      throw err;
    }
    if (reason) ctx.err(`servin: pull failed: ${reason}`);
    return await servin.containers.create(image, { ...options, noFallback: false });
  }
}

/**
 * Runs `fn` with Docker's exit codes for failures before the process runs:
 * the one-line message, then 125 (or the failure's own 126 / 127).
 */
export async function dockerExit(ctx: CommandContext, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (caught) {
    const err = osError(caught) ?? caught;
    if (!isServinError(err) || err.code === "internal" || err.code === "usage") throw caught;
    ctx.err(`servin: ${messageOf(err)}`);
    const code = (err as { exitCode?: unknown }).exitCode;
    return typeof code === "number" ? code : 125;
  }
}

/**
 * The command line that runs this CLI again (for the supervisor's exit
 * command): the compiled binary, or `deno run -A main.ts`.
 */
export function selfCommand(): string[] {
  if (Deno.build.standalone) return [Deno.execPath()];
  return [Deno.execPath(), "run", "-A", new URL(Deno.mainModule).pathname];
}

/** What a detached container's supervisor runs when its process exits. */
export function onExit(servin: Servin, id: string): string[] {
  return [...selfCommand(), "--root", servin.root, "container", "cleanup", id];
}

/** `servin run IMAGE [COMMAND…]`: the process's exit code, or the ID when detached. */
export async function runContainer(ctx: CommandContext): Promise<number> {
  const detach = Boolean(ctx.flags.detach);
  if (detach && ctx.flags.interactive) {
    throw new ServinError("invalid-argument", "-d and -i cannot be combined");
  }
  return await dockerExit(ctx, async () => {
    const options = await createOptions(ctx, detach);
    const servin = await ctx.servin();
    const c = await createResolved(ctx, servin, options);
    if (detach) {
      await servin.containers.start(c.id, { detach: true, onExit: onExit(servin, c.id) });
      ctx.out(c.id);
      return 0;
    }
    return await servin.containers.start(c.id, { stdin: c.process.interactive });
  });
}

/** `servin create IMAGE [COMMAND…]`: prints the new container's ID. */
export async function createContainer(ctx: CommandContext): Promise<number> {
  return await dockerExit(ctx, async () => {
    const options = await createOptions(ctx, false);
    const c = await createResolved(ctx, await ctx.servin(), options);
    ctx.out(c.id);
    return 0;
  });
}

/** `servin start [-a] [-i] CONTAINER`. */
export async function startContainer(ctx: CommandContext): Promise<number> {
  return await dockerExit(ctx, async () => {
    const servin = await ctx.servin();
    const c = await servin.containers.get(ctx.args[0]!);
    if (ctx.flags.attach || ctx.flags.interactive) {
      return await servin.containers.start(c.id, { stdin: Boolean(ctx.flags.interactive) });
    }
    await servin.containers.start(c.id, { detach: true, onExit: onExit(servin, c.id) });
    ctx.out(ctx.args[0]!);
    return 0;
  });
}

/** `servin container cleanup CONTAINER`: what a supervisor runs at exit. */
export async function cleanupContainer(ctx: CommandContext): Promise<void> {
  const servin = await ctx.servin();
  await servin.containers.cleanup(ctx.args[0]!, { onExit: onExit(servin, ctx.args[0]!) });
}
