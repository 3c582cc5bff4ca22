/**
 * Docker's word processing of Containerfile arguments (BuildKit's
 * `frontend/dockerfile/shell/lex.go`): quotes, the escape character and
 * variable expansion (`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?message}`), in the instructions where
 * Docker expands. RUN, CMD and ENTRYPOINT are not expanded here: their shell
 * does it.
 *
 * @module
 */

import { ServinError } from "../../core/errors.ts";

/** Variables in scope: name → value (ENV over ARG, as Docker resolves them). */
export type Vars = ReadonlyMap<string, string>;

/** Options of {@link expandWord} and {@link expandWords}. */
export interface LexOptions {
  /** The escape character (`\` unless the `escape` directive says otherwise). */
  escape?: string;
}

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

function lexError(word: string, why: string): ServinError {
  return new ServinError("invalid-argument", `Cannot expand "${word}": ${why}`);
}

/**
 * One word with its quotes removed and its variables expanded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { expandWord } from "./_shell.ts";
 * assert(expandWord("${A:-x}/'$B'", new Map([["A", "a"]])) === "a/$B");
 * ```
 */
export function expandWord(word: string, vars: Vars, options: LexOptions = {}): string {
  return lex(word, vars, options.escape ?? "\\", false).join("");
}

/**
 * The words of `text` as a shell splits them on unquoted blanks, each with its
 * quotes removed and its variables expanded (blanks inside an expanded value
 * do not split, as in Docker).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { expandWords } from "./_shell.ts";
 * const words = expandWords(`a "b c" $D`, new Map([["D", "d e"]]));
 * assert(words.length === 3 && words[2] === "d e");
 * ```
 */
export function expandWords(text: string, vars: Vars, options: LexOptions = {}): string[] {
  return lex(text, vars, options.escape ?? "\\", true);
}

function lex(text: string, vars: Vars, escape: string, split: boolean): string[] {
  const words: string[] = [];
  let cur = "";
  let started = false;
  let i = 0;
  const next = () => text[i++]!;
  const dollar = (): string => {
    // At a `$`: the expansion, or a literal `$` when no name follows.
    if (text[i] === "{") {
      i++;
      let name = "";
      while (i < text.length && NAME_CHAR.test(text[i]!)) name += next();
      if (name === "" || i >= text.length) throw lexError(text, "bad substitution");
      const value = vars.get(name);
      if (text[i] === "}") {
        i++;
        return value ?? "";
      }
      let colon = false;
      if (text[i] === ":") {
        colon = true;
        i++;
      }
      let op = next();
      if (!colon && "#%/".includes(op) && text[i] === op) op += next();
      if (!(colon ? "-+?" : "-+?#%/").includes(op[0]!)) {
        throw lexError(text, `unsupported modifier "${op}"`);
      }
      // The word after the operator, up to the matching `}`.
      let depth = 1;
      const start = i;
      while (i < text.length) {
        const c = text[i]!;
        if (c === escape) i++;
        else if (c === "{") depth++;
        else if (c === "}" && --depth === 0) break;
        i++;
      }
      if (i >= text.length) throw lexError(text, "missing '}'");
      const raw = text.slice(start, i);
      i++;
      if ("#%/".includes(op[0]!)) return trim(value ?? "", op, raw, vars, escape);
      const inner = lex(raw, vars, escape, false).join("");
      const set = value !== undefined && (!colon || value !== "");
      if (op === "-") return set ? value! : inner;
      if (op === "+") return set ? inner : "";
      if (!set) throw lexError(text, `${name}: ${inner || "is not set"}`);
      return value!;
    }
    if (i < text.length && NAME_START.test(text[i]!)) {
      let name = "";
      while (i < text.length && NAME_CHAR.test(text[i]!)) name += next();
      return vars.get(name) ?? "";
    }
    return "$";
  };
  while (i < text.length) {
    const c = next();
    if (split && (c === " " || c === "\t" || c === "\n" || c === "\r")) {
      if (started) words.push(cur);
      cur = "";
      started = false;
      continue;
    }
    started = true;
    if (c === escape) {
      // An escape at the very end stays as it is.
      cur += i < text.length ? next() : c;
    } else if (c === "'") {
      const end = text.indexOf("'", i);
      if (end < 0) throw lexError(text, "unexpected end of statement while looking for matching '");
      cur += text.slice(i, end);
      i = end + 1;
    } else if (c === '"') {
      for (;;) {
        if (i >= text.length) {
          throw lexError(text, 'unexpected end of statement while looking for matching "');
        }
        const d = next();
        if (d === '"') break;
        if (d === "$") cur += dollar();
        else if (d === escape && i < text.length && `"$${escape}`.includes(text[i]!)) cur += next();
        else cur += d;
      }
    } else if (c === "$") {
      cur += dollar();
    } else {
      cur += c;
    }
  }
  if (started || !split) words.push(cur);
  return words;
}

/** A shell pattern (`*`, `?`, `[…]`) as a regular expression source. */
function globSource(pattern: string): string {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") re += "[\\s\\S]*";
    else if (c === "?") re += "[\\s\\S]";
    else if (c === "[" && pattern.indexOf("]", i + 2) > 0) {
      const end = pattern.indexOf("]", i + 2);
      const body = pattern.slice(i + 1, end);
      re += `[${body.startsWith("!") ? "^" + body.slice(1) : body}]`;
      i = end;
    } else if (c === "\\" && i + 1 < pattern.length) {
      re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return re;
}

/**
 * `${VAR#p}`, `${VAR##p}` (shortest, longest prefix removed), `${VAR%p}`,
 * `${VAR%%p}` (suffix), `${VAR/p/r}` and `${VAR//p/r}` (first, every match
 * replaced), with shell patterns, as BuildKit expands them.
 */
function trim(value: string, op: string, raw: string, vars: Vars, escape: string): string {
  if (op[0] === "/") {
    let cut = -1;
    for (let j = 0; j < raw.length; j++) {
      if (raw[j] === escape) j++;
      else if (raw[j] === "/") {
        cut = j;
        break;
      }
    }
    const pattern = lex(cut < 0 ? raw : raw.slice(0, cut), vars, escape, false).join("");
    const replacement = cut < 0 ? "" : lex(raw.slice(cut + 1), vars, escape, false).join("");
    if (pattern === "") return value;
    const re = new RegExp(globSource(pattern), op === "//" ? "g" : "");
    return value.replace(re, () => replacement);
  }
  const re = new RegExp(`^${globSource(lex(raw, vars, escape, false).join(""))}$`);
  const n = value.length;
  if (op[0] === "#") {
    const order = op === "#" ? [...Array(n + 1).keys()] : [...Array(n + 1).keys()].reverse();
    for (const k of order) if (re.test(value.slice(0, k))) return value.slice(k);
  } else {
    const order = op === "%" ? [...Array(n + 1).keys()].reverse() : [...Array(n + 1).keys()];
    for (const k of order) if (re.test(value.slice(k))) return value.slice(0, k);
  }
  return value;
}

/**
 * Splits `text` on unquoted blanks keeping quotes and escapes in each word, as
 * Docker's `parseWords` does before `KEY=value` pairs are read.
 */
export function rawWords(text: string, escape = "\\"): string[] {
  const words: string[] = [];
  let cur = "";
  let quote = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (!quote && /\s/.test(c)) {
      if (cur) words.push(cur);
      cur = "";
      continue;
    }
    cur += c;
    if (c === escape && quote !== "'" && i + 1 < text.length) cur += text[++i];
    else if (quote && c === quote) quote = "";
    else if (!quote && (c === "'" || c === '"')) quote = c;
  }
  if (cur) words.push(cur);
  return words;
}

/**
 * `KEY=value` pairs of ENV, LABEL and ARG (values expanded), or the legacy
 * `KEY value` form of ENV and LABEL when the first word has no `=`.
 */
export function nameValues(
  text: string,
  vars: Vars,
  options: LexOptions & { legacy?: boolean; keyOnly?: boolean } = {},
): [string, string | undefined][] {
  const escape = options.escape ?? "\\";
  const words = rawWords(text, escape);
  if (words.length === 0) throw new ServinError("invalid-argument", "needs at least one argument");
  if (options.legacy && !words[0]!.includes("=")) {
    const rest = text.trimStart().slice(words[0]!.length).trim();
    if (!rest) throw new ServinError("invalid-argument", `${words[0]} needs a value`);
    return [[expandWord(words[0]!, vars, options), expandWord(rest, vars, options)]];
  }
  return words.map((w) => {
    const eq = w.indexOf("=");
    if (eq < 0) {
      if (!options.keyOnly) {
        throw new ServinError("invalid-argument", `"${w}" is not of the form KEY=value`);
      }
      return [expandWord(w, vars, options), undefined];
    }
    const key = expandWord(w.slice(0, eq), vars, options);
    if (key === "") throw new ServinError("invalid-argument", `"${w}" has an empty name`);
    return [key, expandWord(w.slice(eq + 1), vars, options)];
  });
}
