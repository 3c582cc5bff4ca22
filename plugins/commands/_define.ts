/**
 * What the command groups share: the words their tables are written in (`command`, one call a
 * command; `flag`, `opt` and `many`, one call a flag; `lazy`, the work a command imports when it
 * runs), the flags several commands take (`shared`: so that `-q` or `--format` reads and parses
 * alike everywhere), and the built-in groups as the CLI registers them: for each, the words that
 * route argv to it and its table module (`image.ts`, `container.ts`, …), imported when the group
 * is set up. The dispatcher sets up only the groups whose routes argv starts with (see the notes
 * at the top of `cli.ts`), so `servin image ls` never loads the container, system or signing
 * tables.
 *
 * @module
 */

import type { CommandContext, CommandDef, FlagSpec } from "../../core/api.ts";
import type { Plugin } from "../../core/registry.ts";

/**
 * A boolean flag: `flag("Show the manifest digests")`, or with its one-letter alias first,
 * `flag("-a", "Show all images")`.
 */
export function flag(alias: string, description?: string): FlagSpec {
  return description === undefined
    ? spec("boolean", false, "", alias)
    : spec("boolean", false, alias, description);
}

/**
 * A flag that takes a value, shown in help as `value`: `opt("FORMAT", "Output format")`, or with
 * its one-letter alias first, `opt("-o FILE", "Write to FILE")`.
 */
export function opt(value: string, description: string): FlagSpec {
  return spec("string", false, value, description);
}

/** A flag that takes a value and may be given again (the values collected): like {@link opt}. */
export function many(value: string, description: string): FlagSpec {
  return spec("string", true, value, description);
}

/** `head` is `[-X][ VALUE]`: the alias and the value's placeholder, as help shows them. */
function spec(type: FlagSpec["type"], multiple: boolean, head: string, description: string) {
  const [, short, value] = /^(?:-(\w)(?: |$))?(.*)$/.exec(head) ?? [];
  const flag: FlagSpec = { type, description };
  if (short) flag.short = short;
  if (multiple) flag.multiple = true;
  if (value) flag.value = value;
  return flag;
}

/** What a command has besides its names, usage and work. */
export interface CommandSpec {
  /** One-line description. */
  summary: string;
  /** Flags, by long name. */
  flags?: Record<string, FlagSpec>;
  /** See {@link CommandDef.stopAfter}: the command takes any number of arguments. */
  stopAfter?: number;
  /** Left out of help. */
  hidden?: boolean;
}

/**
 * The command named by the first of `names` (`"image ls|images|image list"`: the others are its
 * aliases), with `usage` after its name in help and `run` its work ({@link lazy}). It takes the
 * positional arguments `usage` names: each word outside brackets is needed, each in brackets may
 * be left out, and after `...` (or `stopAfter`) any number may follow; where `usage` gives
 * alternatives (`A B  or  C D`), they take as many.
 */
export function command(
  names: string,
  usage: string,
  run: CommandDef["run"],
  { summary, flags, stopAfter, hidden }: CommandSpec,
): CommandDef {
  const [name = names, ...aliases] = names.split("|");
  return {
    name,
    ...(aliases.length ? { aliases } : {}),
    summary,
    usage,
    args: positionals(usage, stopAfter !== undefined),
    ...(stopAfter === undefined ? {} : { stopAfter }),
    ...(hidden ? { hidden } : {}),
    ...(flags ? { flags } : {}),
    run,
  };
}

/** The fewest and most positionals `usage` names (see {@link command}). */
function positionals(usage: string, open: boolean): CommandDef["args"] {
  const [first = ""] = usage.split("  or  ");
  const words: string[] = [];
  let [depth, word] = [0, ""];
  for (const c of `${first} `) {
    if (c === " " && depth === 0) {
      if (word && word !== "[OPTIONS]") words.push(word);
      word = "";
      continue;
    }
    if (c === "[") depth++;
    if (c === "]") depth--;
    word += c;
  }
  const min = words.filter((w) => !w.startsWith("[")).length;
  const any = open || first.includes("...");
  return { ...(min ? { min } : {}), ...(any ? {} : { max: words.length }) };
}

type Runs<M> = {
  [K in keyof M]: M[K] extends (ctx: CommandContext) => unknown ? K : never;
}[keyof M];

/**
 * The runs of a work module that `load` imports (`lazy(() => import("./_volume.ts"))`): each
 * `run("listVolumes")` imports it when the command runs, so that a table costs nothing to load.
 */
export function lazy<M>(load: () => Promise<M>): (name: Runs<M>) => CommandDef["run"] {
  return (name) => async (ctx) => await ((await load())[name] as CommandDef["run"])(ctx);
}

/** `--format FORMAT`, one of `formats` (as help words them: "table or json"). */
const format = (formats: string): FlagSpec => opt("FORMAT", `Output format: ${formats}`);

/**
 * The flags several commands take, so that `-q` or `--format` reads and parses alike everywhere:
 * `quiet: shared.quiet("Only show IDs")`.
 */
export const shared = {
  /** `-q`, `--quiet`. */
  quiet: (description: string): FlagSpec => flag("-q", description),
  /** `-f`, `--force`. */
  force: (description: string): FlagSpec => flag("-f", description),
  /** `-a`, `--all`. */
  all: (description: string): FlagSpec => flag("-a", description),
  /** `--no-trunc`. */
  noTrunc: (description: string): FlagSpec => flag(description),
  /** `--format FORMAT`, one of `formats`. */
  format,
  /** The list commands' `--format`. */
  tableFormat: format("table, json or a Go template"),
  /** `--format` of the commands that print a text report or its JSON. */
  textFormat: format("text or json"),
  /** The prune commands' `-f`, `--force`. */
  skipConfirm: flag("-f", "Do not ask for confirmation"),
  /** The inspect commands' `-f`, `--format TEMPLATE`. */
  inspectFormat: opt(
    "-f TEMPLATE",
    "Format each object with a Go template (default: a JSON array)",
  ),
  /** `--tls-verify` and `--cert-dir`, of the commands that talk to a registry. */
  registryFlags: {
    "tls-verify": opt("BOOL", "Verify TLS (true); false also allows plain HTTP"),
    "cert-dir": opt("DIR", "Extra CA certificates"),
  } as Record<string, FlagSpec>,
  /** `-o`, `--output FILE`. */
  output: (description: string): FlagSpec => opt("-o FILE", description),
  /** `-u`, `--user USER`. */
  user: (description: string): FlagSpec => opt("-u USER", description),
  /** `-e`, `--env K=V`, repeatable. */
  env: many("-e K=V", "Environment variable"),
  /** `-w`, `--workdir DIR`. */
  workdir: opt("-w DIR", "Working directory"),
};

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
