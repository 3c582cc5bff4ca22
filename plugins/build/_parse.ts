/**
 * Reads a Containerfile into stages of instructions. `dockerfile-ast` (the
 * parser of the Docker language server) does the lines: directives, comments,
 * continuations with the escape character, keywords, flags. What each
 * instruction means (words, JSON form, expansion) is read here with Docker's
 * rules, since the parser's own value helpers drop characters Docker keeps.
 *
 * @module
 */

import type * as DockerfileAst from "dockerfile-ast";
import { ServinError } from "../../core/errors.ts";

// Imported by a name the module graph does not follow, so that other commands (and their fresh
// caches) never fetch the package; the type import keeps it checked and cached, and the compile
// task names it with --include.
const DOCKERFILE_AST = "dockerfile-ast";
let parser: Promise<typeof DockerfileAst> | undefined;

/** Instructions Servin builds. */
export const INSTRUCTIONS: ReadonlySet<string> = new Set([
  "FROM",
  "RUN",
  "COPY",
  "ADD",
  "ENV",
  "ARG",
  "WORKDIR",
  "USER",
  "CMD",
  "ENTRYPOINT",
  "LABEL",
  "EXPOSE",
  "VOLUME",
  "SHELL",
  "STOPSIGNAL",
  "HEALTHCHECK",
  "ONBUILD",
  "MAINTAINER",
]);

/** One instruction, as written. */
export interface Instruction {
  /** Upper-case keyword (`RUN`). */
  keyword: string;
  /** 1-based line of the keyword. */
  line: number;
  /** Flags (`--from=x`), name → values in order; unexpanded. */
  flags: Record<string, string[]>;
  /** The arguments after the flags, continuations joined; unexpanded. */
  args: string;
  /** The arguments as a JSON array of strings, when written so (exec form). */
  json?: string[];
}

/** One `FROM` and what follows it. */
export interface Stage {
  /** Position among the stages. */
  index: number;
  /** `AS` name, lower-cased, if any. */
  name?: string;
  /** The `FROM` instruction. */
  from: Instruction;
  /** The instructions after it. */
  steps: Instruction[];
}

/** A parsed Containerfile. */
export interface Containerfile {
  /** Name for messages. */
  file: string;
  /** The escape character. */
  escape: string;
  /** `ARG` instructions before the first `FROM`. */
  globalArgs: Instruction[];
  /** The stages in order. */
  stages: Stage[];
}

/** An error at a line of a Containerfile: one line naming the file and the line. */
export function lineError(file: string, line: number, why: string): ServinError {
  return new ServinError("invalid-argument", `${file}:${line}: ${why}`);
}

/** The JSON array of strings `text` is, or undefined when it is not one (shell form). */
export function jsonForm(text: string): string[] | undefined {
  const t = text.trim();
  if (!t.startsWith("[")) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    if (Array.isArray(v) && v.every((s) => typeof s === "string")) return v as string[];
  } catch {
    // Not JSON: Docker then reads it in shell form.
  }
  return undefined;
}

/**
 * Parses one instruction line outside a file (an ONBUILD trigger).
 */
export async function parseLine(text: string, file: string, line: number): Promise<Instruction> {
  const parsed = await parseContainerfile(`FROM scratch\n${text}\n`, file);
  const step = parsed.stages[0]?.steps[0];
  if (!step) throw lineError(file, line, `cannot read the trigger "${text}"`);
  return { ...step, line };
}

/**
 * Parses a Containerfile's text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseContainerfile } from "./_parse.ts";
 * const f = await parseContainerfile("FROM busybox AS b\nRUN echo \\\n  hi\n", "Containerfile");
 * assert(f.stages[0]!.name === "b" && f.stages[0]!.steps[0]!.args === "echo   hi");
 * ```
 */
export async function parseContainerfile(text: string, file: string): Promise<Containerfile> {
  const { DockerfileParser } = await (parser ??= import(DOCKERFILE_AST));
  const df = DockerfileParser.parse(text);
  const escape = df.getEscapeCharacter();
  const out: Containerfile = { file, escape, globalArgs: [], stages: [] };
  for (const ins of df.getInstructions()) {
    const keyword = ins.getKeyword().toUpperCase();
    const line = ins.getRange().start.line + 1;
    if (!INSTRUCTIONS.has(keyword)) {
      throw lineError(file, line, `unknown instruction: ${ins.getKeyword()}`);
    }
    const flags: Record<string, string[]> = {};
    const withFlags = ins as unknown as {
      getFlags?: () => { getName(): string; getValue(): string | null }[];
    };
    for (const f of withFlags.getFlags?.() ?? []) {
      (flags[f.getName().toLowerCase()] ??= []).push(f.getValue() ?? "true");
    }
    const args = ins.getArgumentsContent() ?? "";
    const step: Instruction = { keyword, line, flags, args, json: jsonForm(args) };
    if (keyword === "FROM") {
      const words = args.trim().split(/\s+/);
      let name: string | undefined;
      if (words.length === 3 && words[1]!.toUpperCase() === "AS") name = words[2]!.toLowerCase();
      else if (words.length !== 1 || words[0] === "") {
        throw lineError(file, line, "FROM takes IMAGE [AS NAME]");
      }
      if (name !== undefined && !/^[a-z][a-z0-9._-]*$/.test(name)) {
        throw lineError(file, line, `invalid stage name "${name}"`);
      }
      if (name !== undefined && out.stages.some((s) => s.name === name)) {
        throw lineError(file, line, `duplicate stage name "${name}"`);
      }
      out.stages.push({ index: out.stages.length, name, from: step, steps: [] });
    } else if (out.stages.length === 0) {
      if (keyword !== "ARG") throw lineError(file, line, `${keyword} before the first FROM`);
      out.globalArgs.push(step);
    } else {
      out.stages.at(-1)!.steps.push(step);
    }
  }
  if (out.stages.length === 0) throw new ServinError("invalid-argument", `${file}: no FROM`);
  return out;
}
