/**
 * The container commands: names, flags and usage as plain data; each `run`
 * imports the module that does the work when the command is the one that
 * runs.
 *
 * @module
 */

import type { CommandContext, CommandDef, FlagSpec } from "../../core/api.ts";
import { command, flag, lazy, many, opt, shared } from "./_define.ts";

const CREATE_FLAGS: Record<string, FlagSpec> = {
  name: opt("NAME", "Container name (unique)"),
  rm: flag("Remove the container when it exits"),
  interactive: flag("-i", "Keep stdin open"),
  tty: flag("-t", "Allocate a terminal"),
  env: shared.env,
  workdir: shared.workdir,
  user: shared.user("User: name, uid, name:group or uid:gid"),
  snapshotter: opt(
    "NAME",
    "overlay or copy (default: SERVIN_SNAPSHOTTER, then overlay where it works)",
  ),
  runtime: opt(
    "NAME",
    "OCI runtime: runc or crun (default: SERVIN_RUNTIME, then the first installed)",
  ),
  network: opt("NETWORK", "bridge (default as root), none, host, or a network's name"),
  publish: many("-p [IP:][HOST:]PORT[/PROTO]", "Publish a port to the host"),
  "publish-all": flag("-P", "Publish the image's exposed ports to free host ports"),
  pull: opt("POLICY", "missing (default: pull when not in the store), always or never"),
  fallback: flag(
    "Use a basic rootfs when the image is missing (also: fallback_rootfs in config.json)",
  ),
  platform: opt("OS/ARCH", "The platform the image must be for"),
  entrypoint: opt("CMD", "Entrypoint replacing the image's"),
  hostname: opt("NAME", "Hostname (default: the name)"),
  "env-file": many("FILE", "Read K=V lines"),
  label: many("-l K=V", "Label"),
  init: flag("Run an init (catatonit or tini) as PID 1"),
  "cap-add": many("CAP", "Add a capability"),
  "cap-drop": many("CAP", "Drop a capability"),
  privileged: flag("Every capability, no seccomp, no masked paths"),
  ulimit: many("T=SOFT[:HARD]", "Resource limit"),
  "add-host": many("HOST:IP", "/etc/hosts entry"),
  dns: many("IP", "DNS server for resolv.conf"),
  memory: opt("-m BYTES", "Memory limit (b, k, m, g)"),
  cpus: opt("N", "Number of CPUs"),
  "pids-limit": opt("N", "Most processes"),
  restart: opt("POLICY", "no, on-failure[:N], always or unless-stopped (detached containers)"),
  volume: many(
    "-v [SRC:]DST[:ro]",
    "Bind a host path (absolute) or mount a volume (a name; none: anonymous)",
  ),
  mount: many(
    "SPEC",
    "Mount: type=bind|volume|tmpfs,source=…,target=…[,readonly][,tmpfs-size=…][,tmpfs-mode=…]",
  ),
  tmpfs: many("DST[:OPTS]", "Mount a tmpfs"),
  "read-only": flag("Mount the container's root filesystem read-only"),
  "security-opt": many(
    "OPT",
    "seccomp=unconfined, or seccomp=PROFILE.json (Docker's format; default: Docker's)",
  ),
};

const run = lazy(() => import("./_container_run.ts"));
const life = lazy(() => import("./_container_life.ts"));
const list = lazy(() => import("./_container_list.ts"));
const inspect = lazy(() => import("./_inspect.ts"));
const network = lazy(() => import("./_network.ts"));
const cp = lazy(() => import("./_container_cp.ts"));
const commit = lazy(() => import("./_container_commit.ts"));
const pause = async (ctx: CommandContext, on: boolean) =>
  await (await import("./_container_life.ts")).pauseContainers(ctx, on);
const timeout = opt("-t SECONDS", "Seconds to wait before SIGKILL (default 10)");

/** The container commands, in registration order. */
export const CONTAINER_COMMANDS: readonly CommandDef[] = [
  command("run|container run", "[OPTIONS] IMAGE [COMMAND [ARG...]]", run("runContainer"), {
    summary: "Create a container from an image and run a command in it",
    stopAfter: 1,
    flags: { ...CREATE_FLAGS, detach: flag("-d", "Run in the background; print the ID") },
  }),
  command("create|container create", "[OPTIONS] IMAGE [COMMAND [ARG...]]", run("createContainer"), {
    summary: "Create a container from an image without starting it",
    stopAfter: 1,
    flags: CREATE_FLAGS,
  }),
  command("start|container start", "[OPTIONS] CONTAINER", run("startContainer"), {
    summary: "Start a container in the background (-a: in the foreground, with its exit code)",
    flags: {
      attach: flag("-a", "Attach output and wait for the exit code"),
      interactive: flag("-i", "Attach stdin"),
    },
  }),
  command("container cleanup", "CONTAINER", run("cleanupContainer"), {
    summary: "Record a detached container's exit, restart or remove it (run by its supervisor)",
    hidden: true,
  }),
  command("stop|container stop", "[OPTIONS] CONTAINER...", life("stopContainers"), {
    summary: "Stop containers: the stop signal, then SIGKILL after a timeout",
    flags: { time: timeout },
  }),
  command("kill|container kill", "[OPTIONS] CONTAINER...", life("killContainers"), {
    summary: "Send a signal to containers (default SIGKILL)",
    flags: { signal: opt("-s SIGNAL", "Signal") },
  }),
  command("restart|container restart", "[OPTIONS] CONTAINER...", life("restartContainers"), {
    summary: "Stop containers, then start them in the background",
    flags: { time: timeout },
  }),
  command("wait|container wait", "CONTAINER...", life("waitContainers"), {
    summary: "Wait for containers to stop; print their exit codes",
  }),
  command("pause|container pause", "CONTAINER...", (ctx) => pause(ctx, true), {
    summary: "Freeze every process of containers",
  }),
  command("unpause|container unpause", "CONTAINER...", (ctx) => pause(ctx, false), {
    summary: "Thaw paused containers",
  }),
  command("rename|container rename", "CONTAINER NEW_NAME", life("renameContainer"), {
    summary: "Rename a container",
  }),
  command("top|container top", "CONTAINER [ps OPTIONS]", life("topContainer"), {
    summary: "Show a container's processes (ps options may follow)",
    stopAfter: 1,
  }),
  command("exec|container exec", "[OPTIONS] CONTAINER COMMAND [ARG...]", life("execContainer"), {
    summary: "Run a command in a running container",
    stopAfter: 1,
    flags: {
      interactive: flag("-i", "Keep stdin open"),
      tty: flag("-t", "Allocate a terminal"),
      detach: flag("-d", "Run in the background"),
      env: shared.env,
      workdir: shared.workdir,
      user: shared.user("User: name, uid, name:group or uid:gid"),
    },
  }),
  command(
    "cp|container cp",
    "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-  or  [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    cp("copyFiles"),
    {
      summary: "Copy files between a container and the host (- : a tar stream on stdin or stdout)",
      flags: {
        archive: flag("-a", "Keep owners (default: root's in a container, yours on the host)"),
        "follow-link": flag("-L", "Follow a symlink in SRC_PATH"),
      },
    },
  ),
  command("ps|container ls|container list", "[OPTIONS]", list("listContainers"), {
    summary: "List containers (running ones; -a for all)",
    flags: {
      all: shared.all("Show all containers"),
      quiet: shared.quiet("Only show IDs"),
      "no-trunc": shared.noTrunc("Do not truncate IDs and commands"),
      format: shared.tableFormat,
      filter: many(
        "-f FILTER",
        "Filter: status=STATUS, name=TEXT, id=PREFIX, ancestor=IMAGE, label=KEY[=VALUE], exited=CODE",
      ),
      last: opt("-n N", "Show the N containers created last (in any state)"),
      latest: flag("-l", "Show the container created last"),
      size: flag("-s", "Show the bytes each container holds of its own (and with its image)"),
    },
  }),
  command("rm|container rm|container remove", "[OPTIONS] CONTAINER...", list("removeContainers"), {
    summary: "Remove containers (-f: also running ones)",
    flags: {
      force: shared.force("Kill and remove running containers"),
      volumes: flag("-v", "Remove the container's anonymous volumes too"),
    },
  }),
  command("container inspect", "[OPTIONS] CONTAINER...", inspect("inspectContainers"), {
    summary: "Show containers' records (Docker's fields and Servin's) as a JSON array",
    flags: { format: shared.inspectFormat },
  }),
  command("logs|container logs", "[OPTIONS] CONTAINER", list("containerLogs"), {
    summary: "Print a container's output (stdout and stderr kept apart)",
    flags: {
      follow: flag("-f", "Follow until the container stops"),
      tail: opt("-n N", "Only the last N lines"),
      since: opt("TIME", "Only lines since a time (RFC 3339, or 10m, 1h…)"),
      timestamps: flag("-t", "Show timestamps"),
    },
  }),
  command("port|container port", "CONTAINER [PRIVATE_PORT[/PROTO]]", network("containerPort"), {
    summary: "List a container's published ports (or the host address of one)",
  }),
  command("container prune", "[OPTIONS]", list("pruneContainers"), {
    summary: "Remove every container that is not running",
    flags: { force: shared.skipConfirm },
  }),
  command(
    "container commit|commit",
    "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
    commit("commitContainer"),
    {
      summary: "Create a new image from a container's changes",
      flags: {
        author: opt("-a AUTHOR", 'Author (e.g. "Jane Doe <jane@example.com>")'),
        change: many(
          "-c INSTRUCTION",
          "Dockerfile instruction: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL",
        ),
        message: opt("-m TEXT", "Commit message"),
        pause: flag("-p", "Pause the container during the commit (default; --pause=false not to)"),
      },
    },
  ),
];
