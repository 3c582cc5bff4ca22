/**
 * What `servin help` and `--help` print, and the error for words that name
 * no command: imported by the dispatcher (`cli.ts`) only when one of them is
 * needed, so that a command that runs does not load them.
 *
 * @module
 */

import type { CommandDef, FlagSpec } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import { didYouMean, GLOBAL_FLAGS, MAIN_FLAGS, valueName } from "./cli.ts";

/**
 * The error for words that name no command: it names the first unknown
 * word only (not the arguments after it) and suggests a close command word
 * at that level.
 */
export function unknownCommand(commands: CommandDef[], words: string[]): ServinError {
  const names = commands.filter((c) => !c.hidden).flatMap((c) => [c.name, ...(c.aliases ?? [])])
    .map((n) => n.split(" "));
  let depth = 0;
  const longer = (n: string[]) =>
    n.length > depth + 1 && words.slice(0, depth + 1).every((w, i) => n[i] === w);
  while (depth + 1 < words.length && names.some(longer)) depth++;
  const prefix = words.slice(0, depth);
  const next = names.filter((n) => n.length > depth && prefix.every((w, i) => n[i] === w))
    .map((n) => n[depth]!);
  const see = prefix.length ? `servin help ${prefix.join(" ")}` : "servin help";
  return new ServinError(
    "usage",
    `unknown command "${words[depth]}" (see "${see}")${didYouMean(words[depth]!, next)}`,
  );
}

function flagLines(flags: Record<string, FlagSpec>): string[] {
  const rows = Object.entries(flags).map(([name, f]) => {
    const short = f.short ? `-${f.short}, ` : "    ";
    const value = f.type === "string" ? ` ${valueName(name, f)}` : "";
    return [`  ${short}--${name}${value}`, f.description + (f.multiple ? " (repeatable)" : "")];
  });
  const width = Math.max(0, ...rows.map((r) => r[0]!.length));
  return rows.map(([a, b]) => `${a!.padEnd(width + 2)}${b}`);
}

/** Help text of one command. */
export function commandHelp(def: CommandDef): string {
  const lines = [`Usage: servin ${def.name} ${def.usage}`, "", def.summary];
  if (def.aliases?.length) {
    lines.push("", `Aliases: ${def.aliases.map((a) => `servin ${a}`).join(", ")}`);
  }
  lines.push("", "Options:", ...flagLines({ ...def.flags, ...GLOBAL_FLAGS }));
  return lines.join("\n");
}

/** Help text of every command (or those under `words`: `servin help image`), and the global flags. */
export function mainHelp(commands: CommandDef[], words: string[]): string {
  const prefix = words.length ? `${words.join(" ")} ` : "";
  const shown = commands.filter((c) => !c.hidden && c.name.startsWith(prefix))
    // Not localeCompare: setting up ICU's collator costs more than the rest of `help`.
    .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
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
    ...flagLines(MAIN_FLAGS),
    "",
    'Run "servin COMMAND --help" for more about a command.',
  ].join("\n");
}
