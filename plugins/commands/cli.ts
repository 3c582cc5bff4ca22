/**
 * CLI dispatch: global flags, finding the registered command for argv,
 * parsing its flags, and turning errors into one line on stderr and an exit
 * code. It imports nothing heavy: the facade is imported when a command
 * first asks for it, help texts (`_help.ts`) when one is printed.
 *
 * Start-up: `servin image ls` must start within 1.3× a bare `deno eval 1`
 * (`bench/startup.ts`), so what `main.ts` imports statically stays small,
 * and `tests/startup_test.ts` checks that it does. How commands fit in:
 *
 * - Commands are data in tables (`image.ts`, `container.ts`, `volume.ts`,
 *   `system.ts`, `trust.ts`: `CommandDef` arrays); a command's work is a `_*.ts` module
 *   its `run` imports.
 * - A table is registered by the plugin that `builtinCommands(name)` in
 *   `_define.ts` makes: the group's entry in `GROUPS` there names the
 *   table's loader and its `routes`, the first words of its commands. The
 *   table is imported when the group is set up.
 * - This dispatcher first sets up only the groups one of whose routes argv
 *   starts with ({@link pluginsFor}); all of them when that finds no command
 *   (help, a group's name, a typo), when a matched group `seesAll` (`plugin
 *   ls`, `completion`), or when a third-party plugin is loaded.
 * - Adding a command to a table: add it there; if its first word (or an
 *   alias's) is new, add that word to the group's `routes` in `_define.ts`
 *   (`groups_test.ts` names any word missing).
 * - Adding a table: export its `CommandDef[]`, add an entry to `GROUPS` in
 *   `_define.ts` and `builtinCommands("commands-…")` to `plugins/mod.ts`;
 *   never import a table statically.
 *
 * @module
 */

import type {
  CommandContext,
  CommandDef,
  FlagSpec,
  FlagValues,
  OpenOptions,
  Output,
  Servin,
} from "../../core/api.ts";
import {
  EXIT_INTERNAL_ERROR,
  EXIT_USER_ERROR,
  isServinError,
  messageOf,
  osError,
  ServinError,
} from "../../core/errors.ts";
import { type Plugin, Registry } from "../../core/registry.ts";
import { hasEntry } from "../platform/_common.ts";
import type { CommandGroupPlugin } from "./_define.ts";

/** Options of {@link runCli}; `main.ts` fills the environment's part. */
export interface CliOptions {
  /** Plugins to load. */
  plugins: readonly Plugin[];
  /** Version printed by `--version`, or what gives it (read when it is printed). */
  version: string | (() => Promise<string>);
  /** Output; the process's stdout and stderr by default. */
  output?: Output;
  /** Also load plugins from `--plugin`, {@link CliOptions.pluginModules} and `<root>/config.json`. */
  thirdParty?: boolean;
  /** Plugin modules to load besides `--plugin` ones (`SERVIN_PLUGINS`, split). */
  pluginModules?: readonly string[];
  /** Data root when `--root` is not given (`SERVIN_ROOT`); else the platform's. */
  root?: string;
  /** Default snapshotter and runtime (`SERVIN_SNAPSHOTTER`, `SERVIN_RUNTIME`). */
  defaults?: OpenOptions["defaults"];
  /** Seconds a registry request may take (`SERVIN_TIMEOUT`); checked when a command runs. */
  timeout?: number;
  /** Passphrase of signing keys (`SERVIN_PASSPHRASE`). */
  passphrase?: string;
}

/** Flags every command takes. */
export const GLOBAL_FLAGS: Readonly<Record<string, FlagSpec>> = {
  root: {
    type: "string",
    description: "Servin data root (default: SERVIN_ROOT, then the platform's)",
    value: "DIR",
  },
  debug: { type: "boolean", description: "Print stack traces of errors" },
  help: { type: "boolean", short: "h", description: "Show help" },
};

const encoder = new TextEncoder();

/** Thrown when a line cannot be written because stdout's reader went away (EPIPE). */
export class StdoutClosed extends Error {
  /** Wraps the broken-pipe error. */
  constructor(cause: unknown) {
    super("stdout closed", { cause });
    this.name = "StdoutClosed";
  }
}

/** True when `err`, or an error it was caused by, is a broken pipe. */
export function isBrokenPipe(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof Deno.errors.BrokenPipe || (e as { code?: unknown }).code === "EPIPE") {
      return true;
    }
  }
  return false;
}

/**
 * The exit code for a command whose stdout was closed under it: 0 when a
 * line of output could not be written (a listing read by `head`), 1 when a
 * stream of data was cut short (`export`, `save`); undefined for other errors.
 */
function closedStdout(err: unknown): number | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof StdoutClosed) return 0;
  }
  return isBrokenPipe(err) ? EXIT_USER_ERROR : undefined;
}

/** The process's stdout and stderr. */
export function processOutput(): Output {
  return {
    out: (text) => {
      try {
        writeAllSync(Deno.stdout, `${text}\n`);
      } catch (err) {
        throw isBrokenPipe(err) ? new StdoutClosed(err) : err;
      }
    },
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

/** Help texts and the unknown-command error, imported only when one is needed. */
const help = () => import("./_help.ts");

function usageError(message: string): ServinError {
  return new ServinError("usage", message);
}

/**
 * Runs the CLI for `argv`; returns the exit code: 0, the command's own
 * code, 1 for a {@link ServinError} (bad input, OS errors) and 2 for a bug.
 */
export async function runCli(argv: string[], options: CliOptions): Promise<number> {
  const io = options.output ?? processOutput();
  const debug = argv.includes("--debug");
  let registry: Registry | undefined;
  let opening: Promise<Servin> | undefined;
  let command: CommandDef | undefined;
  let exitCode = 0;
  let failure: unknown;
  try {
    const { globals, rest } = splitGlobals(argv);
    if (globals.version) {
      const { version } = options;
      io.out(`servin version ${typeof version === "string" ? version : await version()}`);
      return 0;
    }
    const words = rest[0] === "help" ? rest.slice(1) : rest;
    // First with only the command groups `words` route to; with all of them when that finds
    // no command (help, a group's name, a typo, a third-party plugin's command).
    let loaded = await loadRegistry(globals, options, words);
    registry = loaded.registry;
    let found = findCommand(registry.all("command"), words);
    if (!found && loaded.partial) {
      registry = undefined;
      await loaded.registry.dispose();
      loaded = await loadRegistry(globals, options);
      registry = loaded.registry;
      found = findCommand(registry.all("command"), words);
    }
    const commands = registry.all("command");
    if (rest[0] === "help" || rest.length === 0 || (!found && globals.help)) {
      const { commandHelp, mainHelp } = await help();
      io.out(found && rest[0] === "help" ? commandHelp(found.def) : mainHelp(commands, words));
      return 0;
    }
    if (!found) {
      const group = commands.some((c) => c.name.startsWith(`${rest[0]} `));
      if (group && rest.length === 1) {
        io.out((await help()).mainHelp(commands, rest));
        return 0;
      }
      throw (await help()).unknownCommand(commands, rest);
    }
    const def = found.def;
    command = def;
    const parsed = parseCommandArgs(def, rest.slice(found.words));
    if (parsed.flags.help || globals.help) {
      io.out((await help()).commandHelp(def));
      return 0;
    }
    const open = openOptions(options, (parsed.flags.root as string | undefined) ?? loaded.root);
    open.signaturePolicy = globals.signaturePolicy;
    await registry.series("command:before", { command: def.name, args: rest.slice(found.words) });
    const kinds = registry;
    const ctx: CommandContext = {
      ...io,
      args: parsed.args,
      flags: parsed.flags,
      kinds,
      passphrase: options.passphrase,
      servin: () => opening ??= openServin(kinds, open),
    };
    exitCode = (await def.run(ctx)) ?? 0;
  } catch (caught) {
    ({ exitCode, failure } = report(caught, io, debug));
    return exitCode;
  } finally {
    const warn = (err: unknown) => io.err(`servin: warning: ${messageOf(err)}`);
    if (registry && command) {
      const after = await registry.parallel("command:after", {
        command: command.name,
        exitCode,
        error: failure,
      });
      for (const e of after.errors) io.err(`servin: warning: ${e.message}`);
    }
    // A failed open was reported by the command already.
    const servin = await opening?.catch(() => undefined);
    await servin?.close().catch(warn);
    await registry?.dispose().catch(warn);
  }
  return exitCode;
}

/**
 * The exit code for an error a command ended with, said on stderr in one line, and the error
 * the `command:after` hook is told of.
 */
function report(
  caught: unknown,
  io: Output,
  debug: boolean,
): { exitCode: number; failure: unknown } {
  const closed = closedStdout(caught);
  // The reader went away (`| head`): nothing to say to anyone; a listing has done its job.
  if (closed !== undefined) return { exitCode: closed, failure: caught };
  // The one place where an OS error (read-only or full file system…) becomes a user error.
  const err = osError(caught) ?? caught;
  const exitCode = isServinError(err) && err.code !== "internal"
    ? EXIT_USER_ERROR
    : EXIT_INTERNAL_ERROR;
  io.err(`servin: ${messageOf(err)}`);
  if (debug && caught instanceof Error && caught.stack) io.err(caught.stack);
  if (!debug && !isServinError(err)) io.err("servin: (run with --debug for details)");
  return { exitCode, failure: err };
}

/** The facade, imported only when a command first needs it. */
async function openServin(registry: Registry, options: OpenOptions): Promise<Servin> {
  const { ServinHandle } = await import("../../core/servin.ts");
  return await ServinHandle.open({ ...options, registry });
}

function openOptions(options: CliOptions, root: string | undefined): OpenOptions {
  const open: OpenOptions & { timeout?: number } = { root, defaults: options.defaults };
  if (options.timeout !== undefined) {
    if (!(options.timeout > 0 && Number.isFinite(options.timeout))) {
      throw new ServinError(
        "invalid-argument",
        "SERVIN_TIMEOUT must be a positive number of seconds",
      );
    }
    open.timeout = options.timeout * 1000;
  }
  return open;
}

interface Globals {
  root?: string;
  signaturePolicy?: string;
  help?: boolean;
  version?: boolean;
  plugins: string[];
}

/** A set-up registry, the root it was set up for, and whether command groups were left out. */
interface Loaded {
  registry: Registry;
  root?: string;
  partial: boolean;
}

/**
 * Sets up the plugins: the given ones, then third-party modules from
 * `--plugin`, the environment and `<root>/config.json`. With no root given,
 * the root is the platform plugin's default, so the plugins are set up
 * before `config.json` is read, and again only when it names more.
 */
async function loadRegistry(
  globals: Globals,
  options: CliOptions,
  words?: readonly string[],
): Promise<Loaded> {
  let root = globals.root || options.root;
  // Only the command groups `words` route to, unless a third-party plugin is loaded too.
  const some = words && pluginsFor(options.plugins, words);
  let partial = false;
  const builtin = (thirdParty: boolean) => {
    partial = !!some && !thirdParty;
    return partial ? some! : options.plugins;
  };
  if (!options.thirdParty) {
    return { registry: await Registry.create(builtin(false)), root, partial };
  }
  const specs = new Set([...globals.plugins, ...(options.pluginModules ?? [])]);
  if (root) { for (const spec of await configuredPlugins(root)) specs.add(spec); }
  const loader = () => import("./_plugin_loader.ts");
  const cache = new Map<string, Plugin>();
  const create = async () => {
    const extra: Plugin[] = [];
    for (const spec of specs) {
      if (!cache.has(spec)) cache.set(spec, await (await loader()).loadPlugin(spec));
      extra.push(cache.get(spec)!);
    }
    return await Registry.create([...builtin(extra.length > 0), ...extra]);
  };
  let registry = await create();
  if (root) return { registry, root, partial };
  try {
    root = registry.get("platform", Deno.build.os).defaultRoot();
  } catch {
    // No platform or no home directory: opening the store says so, if a command opens it.
    return { registry, partial };
  }
  const before = specs.size;
  try {
    for (const spec of await configuredPlugins(root)) specs.add(spec);
  } catch (err) {
    await registry.dispose().catch(() => {});
    throw err;
  }
  if (specs.size > before) {
    await registry.dispose();
    registry = await create();
  }
  return { registry, root, partial };
}

/** The plugins `<root>/config.json` names; its loader is imported only when the file exists. */
async function configuredPlugins(root: string): Promise<string[]> {
  // Synchronous, as the store's first calls are: on a busy machine, the thread an asynchronous
  // call is handed to can wait longer to run than all of `image ls` takes. A root that cannot
  // be listed is left to the loader, which says why.
  if (hasEntry(root, "config.json") === false) return [];
  try {
    return await (await import("./_plugin_loader.ts")).configuredPlugins(root);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotADirectory)) throw err;
    // As the store says it when it opens.
    throw new ServinError(
      "invalid-argument",
      `Cannot use "${root}" as the Servin root: ${err.message}`,
    );
  }
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
    else if (a === "--signature-policy") {
      const v = argv[++i];
      if (v === undefined) throw usageError('Flag "--signature-policy" needs a value');
      globals.signaturePolicy = v;
    } else if (a.startsWith("--signature-policy=")) globals.signaturePolicy = a.slice(19);
    else if (a === "--plugin") {
      const v = argv[++i];
      if (v === undefined) throw usageError('Flag "--plugin" needs a value');
      globals.plugins.push(v);
    } else if (a.startsWith("--plugin=")) globals.plugins.push(a.slice(9));
    else if (a.startsWith("-")) {
      const known = Object.keys(MAIN_FLAGS).map((n) => `--${n}`);
      throw usageError(`unknown flag "${a}" (see "servin help")${didYouMean(a, known)}`);
    } else break;
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

/**
 * Parses a command's flags and positionals as `node:util` parseArgs does in
 * strict mode (`--name=value`, `--name value`, `-abc`, `-fVALUE`, `--`), by
 * hand: loading Node's compatibility layer would cost more than the whole
 * of `image ls`. After `stopAfter` positionals the rest are arguments.
 */
export function parseCommandArgs(
  def: CommandDef,
  argv: string[],
): { args: string[]; flags: FlagValues } {
  const specs = { ...GLOBAL_FLAGS, ...def.flags };
  const short = new Map(
    Object.entries(specs).filter(([, f]) => f.short).map(([n, f]) => [f.short!, n]),
  );
  const see = `(see "servin ${def.name} --help")`;
  const flags: FlagValues = {};
  const args: string[] = [];
  const set = (name: string, spec: FlagSpec, value: string | true) => {
    if (!spec.multiple) flags[name] = value;
    else ((flags[name] ??= []) as string[]).push(value as string);
  };
  const valueOf = (flag: string, inline: string | undefined, i: number) => {
    const value = inline ?? argv[i];
    if (value === undefined) throw usageError(`Flag "${flag}" needs a value ${see}`);
    return value;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (def.stopAfter !== undefined && args.length >= def.stopAfter) {
      args.push(...argv.slice(i));
      break;
    }
    if (a === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
      if (!spec) {
        const known = Object.keys(specs).map((n) => `--${n}`);
        throw usageError(`unknown flag "--${name}" ${see}${didYouMean(`--${name}`, known)}`);
      }
      if (spec.type === "boolean") {
        // `--flag=false` as Go's flag packages take it (podman's `--force-compression=false`).
        const value = eq < 0 ? "true" : a.slice(eq + 1);
        if (value !== "true" && value !== "false") {
          throw usageError(`Flag "--${name}" takes no value, or =true or =false ${see}`);
        }
        if (value === "true") set(name, spec, true);
        else flags[name] = false;
      } else {
        const inline = eq < 0 ? undefined : a.slice(eq + 1);
        set(name, spec, valueOf(`--${name}`, inline, inline === undefined ? ++i : i));
      }
    } else if (a.startsWith("-") && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const name = short.get(a[j]!);
        const spec = name === undefined ? undefined : specs[name];
        if (!name || !spec) throw usageError(`unknown flag "-${a[j]}" ${see}`);
        if (spec.type === "boolean") {
          set(name, spec, true);
          continue;
        }
        const inline = j < a.length - 1 ? a.slice(j + 1) : undefined;
        set(name, spec, valueOf(`-${a[j]}`, inline, inline === undefined ? ++i : i));
        break;
      }
    } else {
      args.push(a);
    }
  }
  const { min = 0, max = Infinity } = def.args ?? {};
  if (!flags.help && (args.length < min || args.length > max)) {
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    throw usageError(
      `"servin ${def.name}" takes ${want} argument${
        want === "1" ? "" : "s"
      }, got ${args.length} (usage: servin ${def.name} ${def.usage})`,
    );
  }
  return { args, flags };
}

/** The placeholder help shows for a string flag's value: its `value`, else its name in capitals. */
export function valueName(name: string, flag: FlagSpec): string {
  return flag.value ?? name.toUpperCase().replaceAll("-", "_");
}

/**
 * Edit distance (optimal string alignment: insertions, deletions,
 * substitutions and swaps of neighbours each cost 1), for suggestions.
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * `. Did you mean "images"?` when one of `known` is close to `word` (at most
 * two edits, and no more than half its letters), else nothing: a far-fetched
 * suggestion is worse than none. Between equally close names, one that
 * holds every letter typed wins (a dropped letter is the commonest slip).
 */
export function didYouMean(word: string, known: readonly string[]): string {
  const bare = word.replace(/^-+/, "");
  const limit = Math.min(2, Math.floor(bare.length / 2));
  const holds = (name: string) => {
    let i = 0;
    for (const c of name) if (c === bare[i]) i++;
    return i === bare.length ? 0 : 1;
  };
  let best: { name: string; rank: number } | undefined;
  for (const name of new Set(known)) {
    const distance = editDistance(bare, name.replace(/^-+/, ""));
    const rank = distance * 2 + holds(name.replace(/^-+/, ""));
    if (distance <= limit && (!best || rank < best.rank)) best = { name, rank };
  }
  return best ? `. Did you mean "${best.name}"?` : "";
}

/** Flags given before the command: every command's, `--plugin` and `--version`. */
export const MAIN_FLAGS: Readonly<Record<string, FlagSpec>> = {
  ...GLOBAL_FLAGS,
  plugin: {
    type: "string",
    multiple: true,
    value: "MODULE",
    description: "Load a plugin module, a path or URL (before the command)",
  },
  "signature-policy": {
    type: "string",
    value: "FILE",
    description:
      "Trust policy (default: <root>/policy.json, then /etc/containers/policy.json; before the command)",
  },
  version: { type: "boolean", short: "v", description: "Print the version" },
};

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
