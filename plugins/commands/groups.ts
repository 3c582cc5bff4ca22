/**
 * The built-in command groups as the CLI registers them: for each, the words
 * that route argv to it and its table module (`image.ts`, `container.ts`, …),
 * imported when the group is set up. The dispatcher sets up only the groups
 * whose routes argv starts with, so `servin image ls` never loads the
 * container, system or signing tables; help, completion, `plugin ls` and an
 * unknown command set them all up (see the notes at the top of `cli.ts`).
 *
 * @module
 */

import type { CommandDef } from "../../core/api.ts";
import { definePlugin, type Plugin } from "../../core/registry.ts";

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
    ],
    load: async () => (await import("./container.ts")).CONTAINER_COMMANDS,
  },
  "commands-system": {
    routes: ["system", "info", "plugin", "version", "completion", "inspect"],
    seesAll: true,
    load: async () => (await import("./system.ts")).SYSTEM_COMMANDS,
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
  const { routes, seesAll } = spec;
  return {
    ...definePlugin({
      name,
      async setup(api) {
        for (const def of await spec.load()) api.provide("command", def);
      },
    }),
    routes,
    seesAll,
  };
}

function isCommandGroup(plugin: Plugin): plugin is CommandGroupPlugin {
  return Array.isArray((plugin as Partial<CommandGroupPlugin>).routes);
}

/**
 * The plugins to set up for a command line that starts with `words`: all but the command groups
 * no route of which `words` starts with; undefined (all of them) when no group's route matches,
 * one that matches sees all, or a plugin left out is another's dependency.
 */
export function pluginsFor(
  plugins: readonly Plugin[],
  words: readonly string[],
): Plugin[] | undefined {
  const starts = (route: string) => route.split(" ").every((w, i) => words[i] === w);
  const wanted = (p: Plugin) => !isCommandGroup(p) || p.routes.some(starts);
  const kept = plugins.filter(wanted);
  const groups = kept.filter(isCommandGroup);
  if (groups.length === 0 || groups.some((g) => g.seesAll)) return undefined;
  const left = new Set(plugins.filter((p) => !wanted(p)).map((p) => p.name));
  if (left.size === 0 || kept.some((p) => p.dependencies?.some((d) => left.has(d)))) {
    return undefined;
  }
  return kept;
}
