/**
 * What the command groups share: the flags several commands take (so that
 * `-q` or `--format` reads and parses alike everywhere), the plugin that
 * registers a group, and the built-in groups as the CLI registers them: for
 * each, the words that route argv to it and its table module (`image.ts`,
 * `container.ts`, …), imported when the group is set up. The dispatcher
 * sets up only the groups whose routes argv starts with (see the notes at the
 * top of `cli.ts`), so `servin image ls` never loads the container, system
 * or signing tables.
 *
 * @module
 */

import type { CommandDef, FlagSpec } from "../../core/api.ts";
import { definePlugin, type Plugin } from "../../core/registry.ts";

function flag(type: FlagSpec["type"], short: string | undefined, description: string): FlagSpec {
  return short === undefined ? { type, description } : { type, short, description };
}

/** `-q`, `--quiet`. */
export const quiet = (description: string): FlagSpec => flag("boolean", "q", description);

/** `-f`, `--force`. */
export const force = (description: string): FlagSpec => flag("boolean", "f", description);

/** `-a`, `--all`. */
export const all = (description: string): FlagSpec => flag("boolean", "a", description);

/** `--no-trunc`. */
export const noTrunc = (description: string): FlagSpec => flag("boolean", undefined, description);

/** `--tls-verify` and `--cert-dir`, of the commands that talk to a registry. */
export const registryFlags: Record<string, FlagSpec> = {
  "tls-verify": {
    type: "string",
    description: "Verify TLS (true); false also allows plain HTTP",
    value: "BOOL",
  },
  "cert-dir": { type: "string", description: "Extra CA certificates", value: "DIR" },
};

/** `--format FORMAT`, one of `formats` (as help words them: "table or json"). */
export const format = (formats: string): FlagSpec => ({
  ...flag("string", undefined, `Output format: ${formats}`),
  value: "FORMAT",
});

/** The inspect commands' `-f`, `--format TEMPLATE`. */
export const inspectFormat: FlagSpec = {
  ...flag("string", "f", "Format each object with a Go template (default: a JSON array)"),
  value: "TEMPLATE",
};

/** `-o`, `--output FILE`. */
export const output = (description: string): FlagSpec => ({
  ...flag("string", "o", description),
  value: "FILE",
});

/** `-u`, `--user USER`. */
export const user = (description: string): FlagSpec => ({
  ...flag("string", "u", description),
  value: "USER",
});

/** `-e`, `--env K=V`, repeatable. */
export const env: FlagSpec = {
  type: "string",
  short: "e",
  multiple: true,
  description: "Environment variable",
  value: "K=V",
};

/** `-w`, `--workdir DIR`. */
export const workdir: FlagSpec = {
  type: "string",
  short: "w",
  description: "Working directory",
  value: "DIR",
};

/** A plugin named `name` that registers `defs`, in order. */
export function commandGroup(name: string, defs: readonly CommandDef[]): Plugin {
  return definePlugin({
    name,
    setup(api) {
      for (const def of defs) api.provide("command", def);
    },
  });
}

/** A command group the dispatcher may leave out when argv starts with none of its routes. */
export interface CommandGroupPlugin extends Plugin {
  /**
   * Word-prefixes of its commands' names and aliases (`"images"`, `"image"`, `"image sign"`):
   * each command starts with one of them (checked by `groups_test.ts`).
   */
  readonly routes: readonly string[];
  /** Its commands list every plugin or command (`plugin ls`, `completion`): all groups are set up. */
  readonly seesAll?: boolean;
}

interface GroupSpec {
  routes: readonly string[];
  seesAll?: boolean;
  load(): Promise<readonly CommandDef[]>;
}

/**
 * The groups, by plugin name. A new command whose first word is new needs that word here
 * (`groups_test.ts` says which); a new table needs an entry here and a line in `plugins/mod.ts`.
 */
const GROUPS: Record<string, GroupSpec> = {
  "commands-image": {
    routes: [
      "image",
      "images",
      "import",
      "history",
      "rmi",
      "tag",
      "load",
      "save",
      "pull",
      "push",
      "build",
      "login",
      "logout",
    ],
    load: async () => (await import("./image.ts")).IMAGE_COMMANDS,
  },
  "commands-container": {
    routes: [
      "container",
      "run",
      "create",
      "start",
      "stop",
      "kill",
      "restart",
      "wait",
      "pause",
      "unpause",
      "rename",
      "top",
      "exec",
      "ps",
      "rm",
      "logs",
      "cp",
      "commit",
      "port",
    ],
    load: async () => (await import("./container.ts")).CONTAINER_COMMANDS,
  },
  "commands-system": {
    routes: ["system", "info", "plugin", "version", "completion", "inspect"],
    seesAll: true,
    load: async () => (await import("./system.ts")).SYSTEM_COMMANDS,
  },
  "commands-network": {
    routes: ["network"],
    load: async () => (await import("./network.ts")).NETWORK_COMMANDS,
  },
  "commands-volume": {
    routes: ["volume"],
    load: async () => (await import("./volume.ts")).VOLUME_COMMANDS,
  },
  "commands-trust": {
    routes: ["key", "image sign", "image verify"],
    load: async () => (await import("./trust.ts")).TRUST_COMMANDS,
  },
};

/** The built-in command group `name` (`commands-image`, …), its table imported at setup. */
export function builtinCommands(name: string): CommandGroupPlugin {
  const spec = GROUPS[name];
  if (!spec) throw new Error(`no built-in command group "${name}"`);
  return {
    name,
    routes: spec.routes,
    seesAll: spec.seesAll,
    async setup(api) {
      for (const def of await spec.load()) api.provide("command", def);
    },
  };
}
