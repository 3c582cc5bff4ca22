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
  network: { type: "string", description: "none (default) or host", value: "MODE" },
  "no-fallback": {
    type: "boolean",
    description: "Fail instead of using a basic rootfs when the image is missing",
  },
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

const monitor: CommandDef = {
  name: "container monitor",
  hidden: true,
  summary: "Run a container with its output in its log (used by run -d and start)",
  usage: "CONTAINER",
  args: { min: 1, max: 1 },
  run: async (ctx) => await (await import("./_container_run.ts")).monitorContainer(ctx),
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
  flags: { force: force("Kill and remove running containers") },
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
  summary: "Print the output of a detached container",
  usage: "CONTAINER",
  args: { min: 1, max: 1 },
  run: async (ctx) => await (await import("./_container_list.ts")).containerLogs(ctx),
};

const prune: CommandDef = {
  name: "container prune",
  summary: "Remove every container that is not running",
  usage: "[OPTIONS]",
  args: { max: 0 },
  flags: { force: force("Do not ask for confirmation") },
  run: async (ctx) => await (await import("./_container_list.ts")).pruneContainers(ctx),
};

/** The container commands, in registration order. */
export const CONTAINER_COMMANDS: readonly CommandDef[] = [
  run,
  create,
  start,
  monitor,
  ps,
  rm,
  inspect,
  logs,
  prune,
];

/** The built-in container commands. */
export function containerCommands(): Plugin {
  return commandGroup("commands-container", CONTAINER_COMMANDS);
}
