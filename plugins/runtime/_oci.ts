/**
 * The work behind the OCI runtimes (runc, crun): foreground runs with their
 * output logged, detached runs under conmon (the supervisor podman uses: a
 * small C process per container that holds the streams, writes the log and
 * the exit code, and runs an exit command), exec, state, pause and `ps`.
 * Every runtime call logs to a JSON file in the bundle, so that a failure
 * before the process starts is told apart from the process's own exit code
 * and reported as the runtime's message, on one line.
 *
 * @module
 */

import { join } from "node:path";
import { ServinError } from "../../core/errors.ts";
import type { ExecProcess, RunStdio, RuntimeContainer, RuntimeState } from "../../core/kinds.ts";
import { which } from "../platform/_common.ts";
import { openLog } from "./_log.ts";

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
/** The runtime's log of the last command run on a container's behalf. */
const RUNTIME_LOG = "runtime.json";
/** Where conmon writes the exit code (`exits/<id>`). */
const EXITS = "exits";

/**
 * A failure before the container's process ran, with Docker's exit code:
 * 125 (the runtime failed), 126 (the command cannot be invoked), 127 (not found).
 */
export class StartError extends ServinError {
  /** Docker's exit code for this failure. */
  readonly exitCode: number;

  /** A failure with `exitCode`. */
  constructor(message: string, exitCode: number) {
    super(exitCode === 125 ? "unsupported" : "not-found", message);
    this.exitCode = exitCode;
  }
}

/**
 * The runtime's error as one line, with Docker's exit code: the last
 * `error` entry of its JSON log, without the wrappers runc adds.
 */
export function startFailure(logText: string, fallback: string): StartError {
  let msg = "";
  for (const line of logText.split("\n")) {
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if (entry.level === "error" && entry.msg) msg = entry.msg;
    } catch { /* not JSON: a partial line */ }
  }
  msg = (msg || fallback).replace(/\s+/g, " ").trim()
    .replace(/^(runc|crun) (run|create|start|exec) failed: /, "")
    .replace(/^unable to start container process: /, "")
    .replace(/^(exec failed: )?unable to start container process: /, "");
  const code = /exec: .*(executable file not found|no such file or directory)/.test(msg)
    ? 127
    : /exec: .*(permission denied|exec format error|is a directory)/.test(msg)
    ? 126
    : 125;
  return new StartError(`Cannot start the container's process: ${msg}`, code);
}

async function readLog(bundle: string): Promise<string> {
  return await Deno.readTextFile(join(bundle, RUNTIME_LOG)).catch(() => "");
}

/** `runc --log <bundle>/runtime.json --log-format json`, the log emptied first. */
async function logged(bundle: string): Promise<string[]> {
  await Deno.writeTextFile(join(bundle, RUNTIME_LOG), "");
  return ["--log", join(bundle, RUNTIME_LOG), "--log-format", "json"];
}

function binary(name: string): string {
  const path = which(name);
  if (!path) throw new StartError(`${name} is not installed`, 125);
  return path;
}

async function output(bin: string, args: string[]) {
  const out = await new Deno.Command(bin, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** The message of a runtime's stderr (`time=… level=error msg="…"`) as one line. */
function cleanStderr(stderr: string): string {
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(stderr);
  return (m ? m[1]!.replace(/\\"/g, '"') : stderr).replace(/\s+/g, " ").trim();
}

function exitOf(status: Deno.CommandStatus): number {
  return status.signal ? 128 + (SIGNALS[status.signal] ?? 0) : status.code;
}

/** Forwards SIGTERM and SIGHUP to `child` (Ctrl-C reaches the runtime through the terminal). */
function forwardSignals(child: Deno.ChildProcess): () => void {
  const forward = (signal: Deno.Signal) => () => {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
  };
  const handlers: [Deno.Signal, () => void][] = [
    ["SIGTERM", forward("SIGTERM")],
    ["SIGHUP", forward("SIGHUP")],
    ["SIGINT", () => {}],
  ];
  for (const [sig, fn] of handlers) Deno.addSignalListener(sig, fn);
  return () => {
    for (const [sig, fn] of handlers) Deno.removeSignalListener(sig, fn);
  };
}

/** Waits for `child`, its output logged (and passed on with `tee`) unless inherited. */
async function supervised(
  child: Deno.ChildProcess,
  stdio: RunStdio,
  bundle: string,
): Promise<number> {
  const stop = forwardSignals(child);
  try {
    if (stdio.output !== "inherit") {
      const log = await openLog(stdio.output.log);
      const tee = stdio.output.tee;
      try {
        await Promise.all([
          log.copy("stdout", child.stdout!, tee ? Deno.stdout : undefined),
          log.copy("stderr", child.stderr!, tee ? Deno.stderr : undefined),
        ]);
      } finally {
        log.close();
      }
    }
    const code = exitOf(await child.status);
    const text = await readLog(bundle);
    // The process never ran: the runtime logged why (its own exit code is not the process's).
    if (code !== 0 && /"level":"error"/.test(text)) throw startFailure(text, `exit code ${code}`);
    return code;
  } finally {
    stop();
  }
}

/** Runs the bundle in the foreground until the process exits; its exit code. */
export async function run(name: string, c: RuntimeContainer, stdio: RunStdio): Promise<number> {
  const bin = binary(name);
  const toLog = stdio.output !== "inherit";
  const child = new Deno.Command(bin, {
    args: [...await logged(c.bundle), "run", "--bundle", c.bundle, c.id],
    stdin: stdio.stdin,
    stdout: toLog ? "piped" : "inherit",
    stderr: toLog ? "piped" : "inherit",
  }).spawn();
  return await supervised(child, stdio, c.bundle);
}

/** Runs a process in the running container `id` (bundle `bundle`); its exit code. */
export async function exec(
  name: string,
  bundle: string,
  id: string,
  p: ExecProcess,
  stdio: RunStdio,
): Promise<number> {
  const bin = binary(name);
  const args = [...await logged(bundle), "exec"];
  if (p.tty) args.push("--tty");
  if (p.detach) args.push("--detach");
  if (p.cwd) args.push("--cwd", p.cwd);
  for (const e of p.env ?? []) args.push("--env", e);
  if (p.uid !== undefined) args.push("--user", `${p.uid}:${p.gid ?? 0}`);
  for (const g of p.additional_gids ?? []) args.push("--additional-gids", String(g));
  const toLog = stdio.output !== "inherit";
  const child = new Deno.Command(bin, {
    args: [...args, id, ...p.args],
    stdin: stdio.stdin,
    stdout: toLog ? "piped" : "inherit",
    stderr: toLog ? "piped" : "inherit",
  }).spawn();
  return await supervised(child, stdio, bundle);
}

/** The runtime's state of `id`, or undefined when it has none. */
export async function state(name: string, id: string): Promise<RuntimeState | undefined> {
  const bin = which(name);
  if (!bin) return undefined;
  const out = await output(bin, ["state", id]);
  if (out.code !== 0) return undefined;
  const s = JSON.parse(out.stdout) as { status?: string; pid?: number };
  return { status: String(s.status ?? "unknown"), pid: Number(s.pid ?? 0) };
}

/** Runs a runtime command whose failure is a one-line error saying what was being done. */
export async function command(name: string, args: string[], doing: string): Promise<string> {
  const out = await output(binary(name), args);
  if (out.code !== 0) {
    throw new ServinError("unsupported", `Cannot ${doing}: ${cleanStderr(out.stderr)}`);
  }
  return out.stdout;
}

/** Paths of a supervised container's files in its bundle. */
function files(bundle: string, id: string) {
  return {
    pidfile: join(bundle, "pid"),
    conmonPid: join(bundle, "conmon.pid"),
    exit: join(bundle, EXITS, id),
    exits: join(bundle, EXITS),
  };
}

/** The exit code conmon recorded for the container, or undefined. */
export async function exitCode(c: RuntimeContainer): Promise<number | undefined> {
  const text = await Deno.readTextFile(files(c.bundle, c.id).exit).catch(() => undefined);
  const n = text === undefined ? NaN : Number(text.trim());
  return Number.isInteger(n) ? n : undefined;
}

/**
 * True while the conmon that supervises `c` is alive: its PID file names a
 * live process whose command is conmon's (a PID reused by another process is not it).
 */
export async function supervisorAlive(c: RuntimeContainer): Promise<boolean> {
  const text = await Deno.readTextFile(files(c.bundle, c.id).conmonPid).catch(() => "");
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
  return cmdline.split("\0")[0]?.endsWith("conmon") === true && cmdline.includes(c.id);
}

/**
 * Starts `c` under conmon, which creates it through the runtime, then starts
 * it; returns once the process runs (or has already exited).
 */
export async function supervise(
  name: string,
  c: RuntimeContainer,
  options: { log: string; onExit?: string[] },
): Promise<void> {
  const runtime = binary(name);
  const conmon = which("conmon");
  if (!conmon) {
    throw new StartError(
      "conmon is not installed: detached containers need it (Debian package conmon)",
      125,
    );
  }
  const f = files(c.bundle, c.id);
  for (const path of [f.pidfile, f.conmonPid, f.exit]) await Deno.remove(path).catch(() => {});
  await Deno.mkdir(f.exits, { recursive: true });
  const args = [
    "--api-version",
    "1",
    "-c",
    c.id,
    "-u",
    c.id.slice(0, 12),
    "-n",
    c.id,
    "-r",
    runtime,
    "-b",
    c.bundle,
    "-p",
    f.pidfile,
    "-P",
    f.conmonPid,
    "-l",
    `k8s-file:${options.log}`,
    "--exit-dir",
    f.exits,
    "--socket-dir-path",
    await socketDir(),
    "--log-level",
    "error",
  ];
  for (const a of await logged(c.bundle)) args.push("--runtime-arg", a);
  if (c.process.tty) args.push("-t");
  const [exitCommand, ...exitArgs] = options.onExit ?? [];
  if (exitCommand) {
    args.push("--exit-command", exitCommand);
    for (const a of exitArgs) args.push("--exit-command-arg", a);
  }
  const out = await output(conmon, args);
  // conmon forks and returns; the runtime's create is done when the pidfile appears.
  // Bounded: 400 × 25 ms.
  for (let i = 0; i < 400; i++) {
    if (await exists(f.pidfile) || await exists(f.exit)) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  if (!(await exists(f.pidfile))) {
    throw startFailure(
      await readLog(c.bundle),
      cleanStderr(out.stderr) || "conmon did not start it",
    );
  }
  const started = await output(runtime, [...await logged(c.bundle), "start", c.id]);
  if (started.code !== 0) {
    throw startFailure(await readLog(c.bundle), cleanStderr(started.stderr));
  }
}

/**
 * Where conmon links its attach sockets: a short path, since a socket's
 * path is limited to 108 bytes and bundles live under any root.
 */
async function socketDir(): Promise<string> {
  const dir = Deno.uid() === 0
    ? "/run/servin/conmon"
    : join(Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp", "servin-conmon");
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** Removes the link conmon made to the container's bundle in the socket directory. */
export async function forgetSockets(id: string): Promise<void> {
  await Deno.remove(join(await socketDir(), id.slice(0, 12))).catch(() => {});
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes the bundle's `config.json` and the files it mounts (`/etc/hosts`…). */
export async function writeBundle(c: RuntimeContainer): Promise<void> {
  const [{ capabilities, runtimeSpec, environmentFiles }, { seccompFor }] = await Promise.all([
    import("./spec.ts"),
    import("./seccomp.ts"),
  ]);
  // Written once, at create: the filter is the profile as it was then, as in Docker.
  const seccomp = c.host?.privileged
    ? undefined
    : await seccompFor(c.security_opt ?? [], capabilities(c.host));
  const mounts = await environmentFiles(c);
  if (c.host?.init) {
    const init = which("catatonit") ?? which("tini-static") ?? which("tini");
    if (!init) {
      throw new ServinError("unsupported", "--init needs catatonit or tini (Debian packages)");
    }
    mounts.push({
      destination: "/dev/init",
      type: "bind",
      source: init,
      options: ["bind", "ro", "nosuid", "nodev"],
    });
  }
  const text = JSON.stringify(
    runtimeSpec(c, {
      seccomp,
      mounts,
      ...(c.netns ? { namespacePaths: { network: c.netns } } : {}),
    }),
    null,
    2,
  );
  await Deno.writeTextFile(join(c.bundle, "config.json"), text);
}
