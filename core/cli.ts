/**
 * CLI dispatch: global flags, finding the registered command for argv,
 * parsing its flags with `node:util` parseArgs, help, and turning errors into
 * one line on stderr and an exit code.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type ErrorCode,
  EXIT_INTERNAL_ERROR,
  EXIT_USER_ERROR,
  isServinError,
  messageOf,
  ServinError,
} from "./errors.ts";
import { configuredPlugins, loadPlugin, splitPluginList } from "./plugin_loader.ts";
import type { Plugin } from "./registry.ts";
import { Registry } from "./registry.ts";
import { Servin } from "./servin.ts";

/** A flag of a command, as `node:util` parseArgs takes it, plus help text. */
export interface FlagSpec {
  /** `string` takes a value, `boolean` does not. */
  type: "string" | "boolean";
  /** One-letter alias. */
  short?: string;
  /** Repeatable (values are collected into an array). */
  multiple?: boolean;
  /** Help text. */
  description: string;
  /** Placeholder shown in help for the value. */
  value?: string;
}

/** Parsed flag values. */
export type FlagValues = Record<string, string | boolean | string[] | undefined>;

/** Where a command writes. */
export interface Output {
  /** Writes a line to stdout. */
  out(text: string): void;
  /** Writes a line to stderr. */
  err(text: string): void;
  /** Writes raw text to stderr (progress). */
  errRaw(text: string): void;
  /** True when stderr is a terminal. */
  errIsTerminal: boolean;
}

/** What a command's `run` receives. */
export interface CommandContext extends Output {
  /** Positional arguments. */
  args: string[];
  /** Flag values. */
  flags: FlagValues;
  /** Opens (once) the Servin instance the command works on. */
  servin(): Promise<Servin>;
  /** The loaded plugins and what they registered. */
  registry: Registry;
}

/** A CLI command, registered by a plugin. */
export interface CommandDef {
  /** Full name, words separated by spaces (`image ls`). */
  name: string;
  /** Other names (`images`, `image list`). */
  aliases?: string[];
  /** One-line description. */
  summary: string;
  /** Arguments after the command name, for help (`[OPTIONS] IMAGE...`). */
  usage: string;
  /** Flags. */
  flags?: Record<string, FlagSpec>;
  /** Fewest and most positional arguments. */
  args?: { min?: number; max?: number };
  /** After this many positionals, the rest are arguments, flags or not (`run IMAGE CMD…`). */
  stopAfter?: number;
  /** Left out of help (internal commands). */
  hidden?: boolean;
  /** Runs the command; returns the exit code (0 when nothing is returned). */
  run(ctx: CommandContext): Promise<number | void> | number | void;
}

/**
 * Runs `fn` on each positional argument, going on after a failure: a
 * {@link ServinError} (of one of `codes`, when given) is reported as one
 * line on stderr; others propagate. Returns the exit code: 1 when any failed.
 */
export async function eachArgument(
  ctx: CommandContext,
  fn: (arg: string) => Promise<void>,
  codes?: ErrorCode[],
): Promise<number> {
  let failed = 0;
  for (const arg of ctx.args) {
    try {
      await fn(arg);
    } catch (err) {
      if (!isServinError(err) || (codes && !codes.includes(err.code))) throw err;
      failed++;
      ctx.err(`servin: ${messageOf(err)}`);
    }
  }
  return failed ? 1 : 0;
}

/**
 * The `inspect` commands: a JSON array of what `get` finds for each
 * argument; names not found are reported on stderr and make the exit code 1.
 */
export async function inspectEach<T>(
  ctx: CommandContext,
  get: (name: string) => Promise<T>,
): Promise<number> {
  const found: T[] = [];
  const code = await eachArgument(ctx, async (name) => void found.push(await get(name)), [
    "not-found",
  ]);
  ctx.out(JSON.stringify(found, null, 2));
  return code;
}

/** Options of {@link runCli}. */
export interface CliOptions {
  /** Plugins to load. */
  plugins: readonly Plugin[];
  /** Version printed by `--version`. */
  version: string;
  /** Output; the process's stdout and stderr by default. */
  output?: Output;
  /** Also load plugins from `--plugin`, `SERVIN_PLUGINS` and `<root>/config.json`. */
  thirdParty?: boolean;
}

const GLOBAL_FLAGS: Record<string, FlagSpec> = {
  root: {
    type: "string",
    description: "Servin data root (default: SERVIN_ROOT, then the platform's)",
    value: "DIR",
  },
  debug: { type: "boolean", description: "Print stack traces of errors" },
  help: { type: "boolean", short: "h", description: "Show help" },
};

const encoder = new TextEncoder();

/** The process's stdout and stderr. */
export function processOutput(): Output {
  return {
    out: (text) => writeAllSync(Deno.stdout, `${text}\n`),
    err: (text) => writeAllSync(Deno.stderr, `${text}\n`),
    errRaw: (text) => writeAllSync(Deno.stderr, text),
    errIsTerminal: Deno.stderr.isTerminal(),
  };
}

function writeAllSync(target: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let off = 0;
  while (off < bytes.length) off += target.writeSync(bytes.subarray(off));
}

function usageError(message: string): ServinError {
  return new ServinError("usage", message);
}

/** Runs the CLI for `argv`; returns the exit code. */
export async function runCli(argv: string[], options: CliOptions): Promise<number> {
  const io = options.output ?? processOutput();
  const debug = argv.includes("--debug");
  let registry: Registry | undefined;
  let servin: Servin | undefined;
  let command: CommandDef | undefined;
  let exitCode = 0;
  let failure: unknown;
  try {
    const { globals, rest } = splitGlobals(argv);
    if (globals.version) {
      io.out(`servin version ${options.version}`);
      return 0;
    }
    const extra = options.thirdParty ? await thirdPartyPlugins(globals, options.plugins) : [];
    registry = await Registry.create([...options.plugins, ...extra]);
    const words = rest[0] === "help" ? rest.slice(1) : rest;
    const found = findCommand(registry.commands, words);
    if (rest[0] === "help" || rest.length === 0 || (!found && globals.help)) {
      io.out(found && rest[0] === "help" ? commandHelp(found.def) : mainHelp(registry, words));
      return 0;
    }
    if (!found) {
      const group = registry.commands.some((c) => c.name.startsWith(`${rest[0]} `));
      if (group && rest.length === 1) {
        io.out(mainHelp(registry, rest));
        return 0;
      }
      throw usageError(`Unknown command "${rest.join(" ")}" (see "servin help")`);
    }
    command = found.def;
    const parsed = parseCommandArgs(found.def, rest.slice(found.words));
    if (parsed.flags.help || globals.help) {
      io.out(commandHelp(found.def));
      return 0;
    }
    const root = (parsed.flags.root as string | undefined) ?? globals.root;
    const def = found.def;
    await registry.series("command:before", { command: def.name, args: rest.slice(found.words) });
    const loaded = registry;
    const ctx: CommandContext = {
      ...io,
      args: parsed.args,
      flags: parsed.flags,
      registry: loaded,
      servin: async () => {
        servin ??= await Servin.open({ registry: loaded, root });
        return servin;
      },
    };
    exitCode = (await def.run(ctx)) ?? 0;
  } catch (err) {
    failure = err;
    exitCode = isServinError(err) && err.code !== "internal"
      ? EXIT_USER_ERROR
      : EXIT_INTERNAL_ERROR;
    io.err(`servin: ${messageOf(err)}`);
    if (debug && err instanceof Error && err.stack) io.err(err.stack);
    if (!debug && !isServinError(err)) io.err("servin: (run with --debug for details)");
  } finally {
    if (registry && command) {
      const after = await registry.parallel("command:after", {
        command: command.name,
        exitCode,
        error: failure,
      });
      for (const e of after.errors) io.err(`servin: warning: ${e.message}`);
    }
    await servin?.close().catch((err) => io.err(`servin: warning: ${messageOf(err)}`));
    await registry?.dispose().catch((err) => io.err(`servin: warning: ${messageOf(err)}`));
  }
  return exitCode;
}

interface Globals {
  root?: string;
  help?: boolean;
  version?: boolean;
  plugins: string[];
}

/** Plugins named by `--plugin`, `SERVIN_PLUGINS` and `<root>/config.json`. */
async function thirdPartyPlugins(globals: Globals, builtins: readonly Plugin[]): Promise<Plugin[]> {
  const separator = Deno.build.os === "windows" ? ";" : ":";
  const specs = [
    ...globals.plugins,
    ...splitPluginList(Deno.env.get("SERVIN_PLUGINS") ?? "", separator),
  ];
  let root = globals.root || Deno.env.get("SERVIN_ROOT");
  if (!root) {
    const probe = await Registry.create(builtins);
    root = (await probe.first("platform:detect", { os: Deno.build.os }))?.defaultRoot();
    await probe.dispose();
  }
  if (root) specs.push(...await configuredPlugins(root));
  const loaded: Plugin[] = [];
  for (const spec of new Set(specs)) loaded.push(await loadPlugin(spec));
  return loaded;
}

function splitGlobals(argv: string[]): { globals: Globals; rest: string[] } {
  const globals: Globals = { plugins: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--debug") continue;
    if (a === "--version" || a === "-v") globals.version = true;
    else if (a === "--help" || a === "-h") globals.help = true;
    else if (a === "--root") {
      const v = argv[++i];
      if (v === undefined) throw usageError('Flag "--root" needs a value');
      globals.root = v;
    } else if (a.startsWith("--root=")) globals.root = a.slice(7);
    else if (a === "--plugin") {
      const v = argv[++i];
      if (v === undefined) throw usageError('Flag "--plugin" needs a value');
      globals.plugins.push(v);
    } else if (a.startsWith("--plugin=")) globals.plugins.push(a.slice(9));
    else if (a.startsWith("-")) throw usageError(`Unknown flag "${a}" (see "servin help")`);
    else break;
  }
  return { globals, rest: argv.slice(i) };
}

function findCommand(
  commands: CommandDef[],
  words: string[],
): { def: CommandDef; words: number } | undefined {
  let best: { def: CommandDef; words: number } | undefined;
  for (const def of commands) {
    for (const name of [def.name, ...(def.aliases ?? [])]) {
      const parts = name.split(" ");
      if (parts.every((p, i) => words[i] === p) && (!best || parts.length > best.words)) {
        best = { def, words: parts.length };
      }
    }
  }
  return best;
}

function parseCommandArgs(def: CommandDef, argv: string[]): { args: string[]; flags: FlagValues } {
  const specs = { ...GLOBAL_FLAGS, ...def.flags };
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = {
      type: spec.type,
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.multiple ? { multiple: true } : {}),
    };
  }
  const split = def.stopAfter === undefined ? argv.length : splitAt(argv, specs, def.stopAfter);
  let parsed;
  try {
    parsed = parseArgs({
      args: argv.slice(0, split),
      options,
      allowPositionals: true,
      strict: true,
    });
    parsed.positionals.push(...argv.slice(split));
  } catch (err) {
    const text = messageOf(err).replace(/\. To specify a positional.*$/, "").replace(/\.$/, "");
    throw usageError(`${text} (see "servin ${def.name} --help")`);
  }
  const args = parsed.positionals;
  const { min = 0, max = Infinity } = def.args ?? {};
  if (!parsed.values.help && (args.length < min || args.length > max)) {
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    throw usageError(
      `"servin ${def.name}" takes ${want} argument${
        want === "1" ? "" : "s"
      }, got ${args.length} (usage: servin ${def.name} ${def.usage})`,
    );
  }
  return { args, flags: parsed.values as FlagValues };
}

/** Index after the `count`-th positional of `argv`, given which flags take a value. */
function splitAt(argv: string[], specs: Record<string, FlagSpec>, count: number): number {
  const takesValue = (name: string) => specs[name]?.type === "string";
  const short = new Map(
    Object.entries(specs).filter(([, f]) => f.short).map(([n, f]) => [f.short!, n]),
  );
  let seen = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") return argv.length; // parseArgs treats what follows as positionals
    if (a.startsWith("--")) {
      if (!a.includes("=") && takesValue(a.slice(2))) i++;
    } else if (a.startsWith("-") && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const name = short.get(a[j]!);
        if (name && takesValue(name)) {
          if (j === a.length - 1) i++;
          break;
        }
      }
    } else if (++seen === count) {
      return i + 1;
    }
  }
  return argv.length;
}

/**
 * The command line that runs this CLI again (for detached helpers): the
 * compiled binary, or `deno run -A main.ts`.
 */
export function selfCommand(): string[] {
  if (Deno.build.standalone) return [Deno.execPath()];
  return [Deno.execPath(), "run", "-A", new URL(Deno.mainModule).pathname];
}

function flagLines(flags: Record<string, FlagSpec>): string[] {
  const rows = Object.entries(flags).map(([name, f]) => {
    const short = f.short ? `-${f.short}, ` : "    ";
    const value = f.type === "string" ? ` ${f.value ?? "string"}` : "";
    return [`  ${short}--${name}${value}`, f.description + (f.multiple ? " (repeatable)" : "")];
  });
  const width = Math.max(0, ...rows.map((r) => r[0]!.length));
  return rows.map(([a, b]) => `${a!.padEnd(width + 2)}${b}`);
}

/** Help text of one command. */
export function commandHelp(def: CommandDef): string {
  const lines = [`Usage: servin ${def.name} ${def.usage}`, "", def.summary];
  if (def.aliases?.length) {
    lines.push(
      "",
      `Aliases: ${def.aliases.map((a) => `servin ${a}`).join(", ")}`,
    );
  }
  lines.push("", "Options:", ...flagLines({ ...def.flags, ...GLOBAL_FLAGS }));
  return lines.join("\n");
}

function mainHelp(registry: Registry, words: string[]): string {
  const prefix = words.length ? `${words.join(" ")} ` : "";
  const shown = registry.commands.filter((c) => !c.hidden && c.name.startsWith(prefix)).sort((
    a,
    b,
  ) => a.name.localeCompare(b.name));
  const width = Math.max(0, ...shown.map((c) => c.name.length));
  return [
    `Usage: servin [--root DIR] [--plugin MODULE]... [--debug] COMMAND [ARGS...]`,
    "",
    "Servin manages container images.",
    "",
    "Commands:",
    ...shown.map((c) => `  ${c.name.padEnd(width + 2)}${c.summary}`),
    "",
    "Global options:",
    ...flagLines({
      ...GLOBAL_FLAGS,
      plugin: {
        type: "string",
        multiple: true,
        value: "MODULE",
        description: "Load a plugin module, a path or URL (before the command)",
      },
      version: { type: "boolean", short: "v", description: "Print the version" },
    }),
    "",
    'Run "servin COMMAND --help" for more about a command.',
  ].join("\n");
}
