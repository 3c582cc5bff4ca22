/**
 * The container commands: names, flags and usage as plain data; each `run`
 * imports the module that does the work when the command is the one that
 * runs.
 *
 * @module
 */

import type { CommandDef, FlagSpec } from "../../core/api.ts";
import type { Plugin } from "../../core/registry.ts";
import {
  all,
  command,
  commandGroup,
  env,
  flag,
  force,
  format,
  inspectFormat,
  lazy,
  many,
  noTrunc,
  opt,
  quiet,
  user,
  workdir,
} from "./_define.ts";

const CREATE_FLAGS: Record<string, FlagSpec> = {
  name: opt("NAME", "Container name (unique)"),
  rm: flag("Remove the container when it exits"),
  interactive: flag("-i", "Keep stdin open"),
  tty: flag("-t", "Allocate a terminal"),
  env,
  workdir,
  user: user("User: name, uid, name:group or uid:gid"),
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

const running = lazy(() => import("./_container_run.ts"));
const life = () => import("./_container_life.ts");
const lifecycle = lazy(life);
const list = lazy(() => import("./_container_list.ts"));
const timeout = opt("-t SECONDS", "Seconds to wait before SIGKILL (default 10)");

/** The container commands, in registration order. */
export const CONTAINER_COMMANDS: readonly CommandDef[] = [
  command("run|container run", "[OPTIONS] IMAGE [COMMAND [ARG...]]", { min: 1 }, {
    summary: "Create a container from an image and run a command in it",
    stopAfter: 1,
    flags: { ...CREATE_FLAGS, detach: flag("-d", "Run in the background; print the ID") },
    run: running("runContainer"),
  }),
  command("create|container create", "[OPTIONS] IMAGE [COMMAND [ARG...]]", { min: 1 }, {
    summary: "Create a container from an image without starting it",
    stopAfter: 1,
    flags: CREATE_FLAGS,
    run: running("createContainer"),
  }),
  command("start|container start", "[OPTIONS] CONTAINER", { min: 1, max: 1 }, {
    summary: "Start a container in the background (-a: in the foreground, with its exit code)",
    flags: {
      attach: flag("-a", "Attach output and wait for the exit code"),
      interactive: flag("-i", "Attach stdin"),
    },
    run: running("startContainer"),
  }),
  command("container cleanup", "CONTAINER", { min: 1, max: 1 }, {
    summary: "Record a detached container's exit, restart or remove it (run by its supervisor)",
    hidden: true,
    run: running("cleanupContainer"),
  }),
  command("stop|container stop", "[OPTIONS] CONTAINER...", { min: 1 }, {
    summary: "Stop containers: the stop signal, then SIGKILL after a timeout",
    flags: { time: timeout },
    run: lifecycle("stopContainers"),
  }),
  command("kill|container kill", "[OPTIONS] CONTAINER...", { min: 1 }, {
    summary: "Send a signal to containers (default SIGKILL)",
    flags: { signal: opt("-s SIGNAL", "Signal") },
    run: lifecycle("killContainers"),
  }),
  command("restart|container restart", "[OPTIONS] CONTAINER...", { min: 1 }, {
    summary: "Stop containers, then start them in the background",
    flags: { time: timeout },
    run: lifecycle("restartContainers"),
  }),
  command("wait|container wait", "CONTAINER...", { min: 1 }, {
    summary: "Wait for containers to stop; print their exit codes",
    run: lifecycle("waitContainers"),
  }),
  command("pause|container pause", "CONTAINER...", { min: 1 }, {
    summary: "Freeze every process of containers",
    run: async (ctx) => await (await life()).pauseContainers(ctx, true),
  }),
  command("unpause|container unpause", "CONTAINER...", { min: 1 }, {
    summary: "Thaw paused containers",
    run: async (ctx) => await (await life()).pauseContainers(ctx, false),
  }),
  command("rename|container rename", "CONTAINER NEW_NAME", { min: 2, max: 2 }, {
    summary: "Rename a container",
    run: lifecycle("renameContainer"),
  }),
  command("top|container top", "CONTAINER [ps OPTIONS]", { min: 1 }, {
    summary: "Show a container's processes (ps options may follow)",
    stopAfter: 1,
    run: lifecycle("topContainer"),
  }),
  command("exec|container exec", "[OPTIONS] CONTAINER COMMAND [ARG...]", { min: 2 }, {
    summary: "Run a command in a running container",
    stopAfter: 1,
    flags: {
      interactive: flag("-i", "Keep stdin open"),
      tty: flag("-t", "Allocate a terminal"),
      detach: flag("-d", "Run in the background"),
      env,
      workdir,
      user: user("User: name, uid, name:group or uid:gid"),
    },
    run: lifecycle("execContainer"),
  }),
  command(
    "cp|container cp",
    "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-  or  [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    { min: 2, max: 2 },
    {
      summary: "Copy files between a container and the host (- : a tar stream on stdin or stdout)",
      flags: {
        archive: flag("-a", "Keep owners (default: root's in a container, yours on the host)"),
        "follow-link": flag("-L", "Follow a symlink in SRC_PATH"),
      },
      run: lazy(() => import("./_container_cp.ts"))("copyFiles"),
    },
  ),
  command("ps|container ls|container list", "[OPTIONS]", { max: 0 }, {
    summary: "List containers (running ones; -a for all)",
    flags: {
      all: all("Show all containers"),
      quiet: quiet("Only show IDs"),
      "no-trunc": noTrunc("Do not truncate IDs and commands"),
      format: format("table, json or a Go template"),
      filter: many(
        "-f FILTER",
        "Filter: status=STATUS, name=TEXT, id=PREFIX, ancestor=IMAGE, label=KEY[=VALUE], exited=CODE",
      ),
      last: opt("-n N", "Show the N containers created last (in any state)"),
      latest: flag("-l", "Show the container created last"),
      size: flag("-s", "Show the bytes each container holds of its own (and with its image)"),
    },
    run: list("listContainers"),
  }),
  command("rm|container rm|container remove", "[OPTIONS] CONTAINER...", { min: 1 }, {
    summary: "Remove containers (-f: also running ones)",
    flags: {
      force: force("Kill and remove running containers"),
      volumes: flag("-v", "Remove the container's anonymous volumes too"),
    },
    run: list("removeContainers"),
  }),
  command("container inspect", "[OPTIONS] CONTAINER...", { min: 1 }, {
    summary: "Show containers' records (Docker's fields and Servin's) as a JSON array",
    flags: { format: inspectFormat },
    run: lazy(() => import("./_inspect.ts"))("inspectContainers"),
  }),
  command("logs|container logs", "[OPTIONS] CONTAINER", { min: 1, max: 1 }, {
    summary: "Print a container's output (stdout and stderr kept apart)",
    flags: {
      follow: flag("-f", "Follow until the container stops"),
      tail: opt("-n N", "Only the last N lines"),
      since: opt("TIME", "Only lines since a time (RFC 3339, or 10m, 1h…)"),
      timestamps: flag("-t", "Show timestamps"),
    },
    run: list("containerLogs"),
  }),
  command("port|container port", "CONTAINER [PRIVATE_PORT[/PROTO]]", { min: 1, max: 2 }, {
    summary: "List a container's published ports (or the host address of one)",
    run: lazy(() => import("./_network.ts"))("containerPort"),
  }),
  command("container prune", "[OPTIONS]", { max: 0 }, {
    summary: "Remove every container that is not running",
    flags: { force: force("Do not ask for confirmation") },
    run: list("pruneContainers"),
  }),
  command("container commit|commit", "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]", { min: 1, max: 2 }, {
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
    run: lazy(() => import("./_container_commit.ts"))("commitContainer"),
  }),
];

/** The built-in container commands. */
export function containerCommands(): Plugin {
  return commandGroup("commands-container", CONTAINER_COMMANDS);
}
