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
  commandGroup,
  env,
  force,
  format,
  inspectFormat,
  noTrunc,
  quiet,
  user,
  workdir,
} from "./_define.ts";

const CREATE_FLAGS: Record<string, FlagSpec> = {
  name: { type: "string", description: "Container name (unique)", value: "NAME" },
  rm: { type: "boolean", description: "Remove the container when it exits" },
  interactive: { type: "boolean", short: "i", description: "Keep stdin open" },
  tty: { type: "boolean", short: "t", description: "Allocate a terminal" },
  env,
  workdir,
  user: user("User: name, uid, name:group or uid:gid"),
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
  network: {
    type: "string",
    description: "bridge (default as root), none, host, or a network's name",
    value: "NETWORK",
  },
  publish: {
    type: "string",
    short: "p",
    multiple: true,
    description: "Publish a port to the host",
    value: "[IP:][HOST:]PORT[/PROTO]",
  },
  "publish-all": {
    type: "boolean",
    short: "P",
    description: "Publish the image's exposed ports to free host ports",
  },
  pull: {
    type: "string",
    description: "missing (default: pull when not in the store), always or never",
    value: "POLICY",
  },
  fallback: {
    type: "boolean",
    description:
      "Use a basic rootfs when the image is missing (also: fallback_rootfs in config.json)",
  },
  platform: { type: "string", description: "The platform the image must be for", value: "OS/ARCH" },
  entrypoint: { type: "string", description: "Entrypoint replacing the image's", value: "CMD" },
  hostname: { type: "string", description: "Hostname (default: the name)", value: "NAME" },
  "env-file": { type: "string", multiple: true, description: "Read K=V lines", value: "FILE" },
  label: { type: "string", short: "l", multiple: true, description: "Label", value: "K=V" },
  init: { type: "boolean", description: "Run an init (catatonit or tini) as PID 1" },
  "cap-add": { type: "string", multiple: true, description: "Add a capability", value: "CAP" },
  "cap-drop": { type: "string", multiple: true, description: "Drop a capability", value: "CAP" },
  privileged: { type: "boolean", description: "Every capability, no seccomp, no masked paths" },
  ulimit: { type: "string", multiple: true, description: "Resource limit", value: "T=SOFT[:HARD]" },
  "add-host": { type: "string", multiple: true, description: "/etc/hosts entry", value: "HOST:IP" },
  dns: { type: "string", multiple: true, description: "DNS server for resolv.conf", value: "IP" },
  memory: { type: "string", short: "m", description: "Memory limit (b, k, m, g)", value: "BYTES" },
  cpus: { type: "string", description: "Number of CPUs", value: "N" },
  "pids-limit": { type: "string", description: "Most processes", value: "N" },
  restart: {
    type: "string",
    description: "no, on-failure[:N], always or unless-stopped (detached containers)",
    value: "POLICY",
  },
  volume: {
    type: "string",
    short: "v",
    multiple: true,
    description: "Bind a host path (absolute) or mount a volume (a name; none: anonymous)",
    value: "[SRC:]DST[:ro]",
  },
  mount: {
    type: "string",
    multiple: true,
    description:
      "Mount: type=bind|volume|tmpfs,source=…,target=…[,readonly][,tmpfs-size=…][,tmpfs-mode=…]",
    value: "SPEC",
  },
  tmpfs: { type: "string", multiple: true, description: "Mount a tmpfs", value: "DST[:OPTS]" },
  "read-only": { type: "boolean", description: "Mount the container's root filesystem read-only" },
  "security-opt": {
    type: "string",
    multiple: true,
    description: "seccomp=unconfined, or seccomp=PROFILE.json (Docker's format; default: Docker's)",
    value: "OPT",
  },
};

const run: CommandDef = {
  name: "run",
  aliases: ["container run"],
  summary: "Create a container from an image and run a command in it",
  usage: "[OPTIONS] IMAGE [COMMAND [ARG...]]",
  args: { min: 1 },
  stopAfter: 1,
  flags: {
    ...CREATE_FLAGS,
    detach: { type: "boolean", short: "d", description: "Run in the background; print the ID" },
  },
  run: async (ctx) => await (await import("./_container_run.ts")).runContainer(ctx),
};

const create: CommandDef = {
  name: "create",
  aliases: ["container create"],
  summary: "Create a container from an image without starting it",
  usage: "[OPTIONS] IMAGE [COMMAND [ARG...]]",
  args: { min: 1 },
  stopAfter: 1,
  flags: CREATE_FLAGS,
  run: async (ctx) => await (await import("./_container_run.ts")).createContainer(ctx),
};

const start: CommandDef = {
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
  run: async (ctx) => await (await import("./_container_run.ts")).startContainer(ctx),
};

const cleanup: CommandDef = {
  name: "container cleanup",
  hidden: true,
  summary: "Record a detached container's exit, restart or remove it (run by its supervisor)",
  usage: "CONTAINER",
  args: { min: 1, max: 1 },
  run: async (ctx) => await (await import("./_container_run.ts")).cleanupContainer(ctx),
};

const life = () => import("./_container_life.ts");
const timeout = {
  type: "string",
  short: "t",
  description: "Seconds to wait before SIGKILL (default 10)",
  value: "SECONDS",
} as const;

const stop: CommandDef = {
  name: "stop",
  aliases: ["container stop"],
  summary: "Stop containers: the stop signal, then SIGKILL after a timeout",
  usage: "[OPTIONS] CONTAINER...",
  args: { min: 1 },
  flags: { time: timeout },
  run: async (ctx) => await (await life()).stopContainers(ctx),
};

const kill: CommandDef = {
  name: "kill",
  aliases: ["container kill"],
  summary: "Send a signal to containers (default SIGKILL)",
  usage: "[OPTIONS] CONTAINER...",
  args: { min: 1 },
  flags: { signal: { type: "string", short: "s", description: "Signal", value: "SIGNAL" } },
  run: async (ctx) => await (await life()).killContainers(ctx),
};

const restart: CommandDef = {
  name: "restart",
  aliases: ["container restart"],
  summary: "Stop containers, then start them in the background",
  usage: "[OPTIONS] CONTAINER...",
  args: { min: 1 },
  flags: { time: timeout },
  run: async (ctx) => await (await life()).restartContainers(ctx),
};

const wait: CommandDef = {
  name: "wait",
  aliases: ["container wait"],
  summary: "Wait for containers to stop; print their exit codes",
  usage: "CONTAINER...",
  args: { min: 1 },
  run: async (ctx) => await (await life()).waitContainers(ctx),
};

const pause: CommandDef = {
  name: "pause",
  aliases: ["container pause"],
  summary: "Freeze every process of containers",
  usage: "CONTAINER...",
  args: { min: 1 },
  run: async (ctx) => await (await life()).pauseContainers(ctx, true),
};

const unpause: CommandDef = {
  name: "unpause",
  aliases: ["container unpause"],
  summary: "Thaw paused containers",
  usage: "CONTAINER...",
  args: { min: 1 },
  run: async (ctx) => await (await life()).pauseContainers(ctx, false),
};

const rename: CommandDef = {
  name: "rename",
  aliases: ["container rename"],
  summary: "Rename a container",
  usage: "CONTAINER NEW_NAME",
  args: { min: 2, max: 2 },
  run: async (ctx) => await (await life()).renameContainer(ctx),
};

const top: CommandDef = {
  name: "top",
  aliases: ["container top"],
  summary: "Show a container's processes (ps options may follow)",
  usage: "CONTAINER [ps OPTIONS]",
  args: { min: 1 },
  stopAfter: 1,
  run: async (ctx) => await (await life()).topContainer(ctx),
};

const exec: CommandDef = {
  name: "exec",
  aliases: ["container exec"],
  summary: "Run a command in a running container",
  usage: "[OPTIONS] CONTAINER COMMAND [ARG...]",
  args: { min: 2 },
  stopAfter: 1,
  flags: {
    interactive: { type: "boolean", short: "i", description: "Keep stdin open" },
    tty: { type: "boolean", short: "t", description: "Allocate a terminal" },
    detach: { type: "boolean", short: "d", description: "Run in the background" },
    env,
    workdir,
    user: user("User: name, uid, name:group or uid:gid"),
  },
  run: async (ctx) => await (await life()).execContainer(ctx),
};

const cp: CommandDef = {
  name: "cp",
  aliases: ["container cp"],
  summary: "Copy files between a container and the host (- : a tar stream on stdin or stdout)",
  usage: "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-  or  [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
  args: { min: 2, max: 2 },
  flags: {
    archive: {
      type: "boolean",
      short: "a",
      description: "Keep owners (default: root's in a container, yours on the host)",
    },
    "follow-link": { type: "boolean", short: "L", description: "Follow a symlink in SRC_PATH" },
  },
  run: async (ctx) => await (await import("./_container_cp.ts")).copyFiles(ctx),
};

const ps: CommandDef = {
  name: "ps",
  aliases: ["container ls", "container list"],
  summary: "List containers (running ones; -a for all)",
  usage: "[OPTIONS]",
  args: { max: 0 },
  flags: {
    all: all("Show all containers"),
    quiet: quiet("Only show IDs"),
    "no-trunc": noTrunc("Do not truncate IDs and commands"),
    format: format("table, json or a Go template"),
    filter: {
      type: "string",
      short: "f",
      multiple: true,
      description:
        "Filter: status=STATUS, name=TEXT, id=PREFIX, ancestor=IMAGE, label=KEY[=VALUE], exited=CODE",
      value: "FILTER",
    },
    last: {
      type: "string",
      short: "n",
      description: "Show the N containers created last (in any state)",
      value: "N",
    },
    latest: { type: "boolean", short: "l", description: "Show the container created last" },
    size: {
      type: "boolean",
      short: "s",
      description: "Show the bytes each container holds of its own (and with its image)",
    },
  },
  run: async (ctx) => await (await import("./_container_list.ts")).listContainers(ctx),
};

const rm: CommandDef = {
  name: "rm",
  aliases: ["container rm", "container remove"],
  summary: "Remove containers (-f: also running ones)",
  usage: "[OPTIONS] CONTAINER...",
  args: { min: 1 },
  flags: {
    force: force("Kill and remove running containers"),
    volumes: {
      type: "boolean",
      short: "v",
      description: "Remove the container's anonymous volumes too",
    },
  },
  run: async (ctx) => await (await import("./_container_list.ts")).removeContainers(ctx),
};

const inspect: CommandDef = {
  name: "container inspect",
  summary: "Show containers' records (Docker's fields and Servin's) as a JSON array",
  usage: "[OPTIONS] CONTAINER...",
  args: { min: 1 },
  flags: { format: inspectFormat },
  run: async (ctx) => await (await import("./_inspect.ts")).inspectContainers(ctx),
};

const logs: CommandDef = {
  name: "logs",
  aliases: ["container logs"],
  summary: "Print a container's output (stdout and stderr kept apart)",
  usage: "[OPTIONS] CONTAINER",
  args: { min: 1, max: 1 },
  flags: {
    follow: { type: "boolean", short: "f", description: "Follow until the container stops" },
    tail: { type: "string", short: "n", description: "Only the last N lines", value: "N" },
    since: {
      type: "string",
      description: "Only lines since a time (RFC 3339, or 10m, 1h…)",
      value: "TIME",
    },
    timestamps: { type: "boolean", short: "t", description: "Show timestamps" },
  },
  run: async (ctx) => await (await import("./_container_list.ts")).containerLogs(ctx),
};

const port: CommandDef = {
  name: "port",
  aliases: ["container port"],
  summary: "List a container's published ports (or the host address of one)",
  usage: "CONTAINER [PRIVATE_PORT[/PROTO]]",
  args: { min: 1, max: 2 },
  run: async (ctx) => await (await import("./_network.ts")).containerPort(ctx),
};

const prune: CommandDef = {
  name: "container prune",
  summary: "Remove every container that is not running",
  usage: "[OPTIONS]",
  args: { max: 0 },
  flags: { force: force("Do not ask for confirmation") },
  run: async (ctx) => await (await import("./_container_list.ts")).pruneContainers(ctx),
};

const commit: CommandDef = {
  name: "container commit",
  aliases: ["commit"],
  summary: "Create a new image from a container's changes",
  usage: "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
  args: { min: 1, max: 2 },
  flags: {
    author: {
      type: "string",
      short: "a",
      description: 'Author (e.g. "Jane Doe <jane@example.com>")',
      value: "AUTHOR",
    },
    change: {
      type: "string",
      short: "c",
      multiple: true,
      description:
        "Dockerfile instruction: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL",
      value: "INSTRUCTION",
    },
    message: { type: "string", short: "m", description: "Commit message", value: "TEXT" },
    pause: {
      type: "boolean",
      short: "p",
      description: "Pause the container during the commit (default; --pause=false not to)",
    },
  },
  run: async (ctx) => await (await import("./_container_commit.ts")).commitContainer(ctx),
};

/** The container commands, in registration order. */
export const CONTAINER_COMMANDS: readonly CommandDef[] = [
  run,
  create,
  start,
  cleanup,
  stop,
  kill,
  restart,
  wait,
  pause,
  unpause,
  rename,
  top,
  exec,
  cp,
  ps,
  rm,
  inspect,
  logs,
  port,
  prune,
  commit,
];

/** The built-in container commands. */
export function containerCommands(): Plugin {
  return commandGroup("commands-container", CONTAINER_COMMANDS);
}
