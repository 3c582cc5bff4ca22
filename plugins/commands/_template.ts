/**
 * Go templates for `--format`, as Docker's CLI reads them: the subset of
 * `text/template` that Docker users write (field chains, pipelines,
 * variables, `if`/`range`/`with`/`else`/`end`, `{{- -}}` trimming) with
 * Docker's functions (`json`, `join`, `split`, `upper`, `lower`, `title`,
 * `pad`, `truncate`) and Go's (`index`, `len`, `slice`, `print`, `printf`,
 * `println`, `eq`…`ge`, `and`, `or`, `not`), Go's `fmt` printing of values
 * (`[a b]`, `map[k:v]`), `table` listings aligned as Docker's tabwriter
 * aligns them. No template library is in reach, so this one is ours.
 *
 * Data is plain JavaScript: an object marked with {@link struct} behaves as
 * a Go struct (fields in order, printed `{a b}`, an unknown field is an
 * error); any other object as a map (printed `map[k:v]` with sorted keys,
 * an unknown key prints `<no value>`). {@link NIL_SLICE} and
 * {@link NIL_MAP} are Go's nil slice and map: `[]` and `map[]` in a
 * template, `null` in JSON.
 *
 * @module
 */

import { ServinError } from "../../core/errors.ts";

const STRUCT = Symbol("struct");

/** A Go nil slice or map: empty in a template, `null` in JSON. */
class GoNil {
  constructor(readonly kind: "slice" | "map") {}
  toJSON(): null {
    return null;
  }
}

/** Go's nil slice (`[]` in a template, `null` in JSON). */
export const NIL_SLICE: unknown = new GoNil("slice");
/** Go's nil map (`map[]` in a template, `null` in JSON). */
export const NIL_MAP: unknown = new GoNil("map");

/** Marks `value` as a Go struct named `type` (for messages): printed `{a b}`, unknown fields are errors. */
export function struct<T extends object>(value: T, type = "struct"): T {
  Object.defineProperty(value, STRUCT, { value: type, enumerable: false });
  return value;
}

function structType(v: unknown): string | undefined {
  return v && typeof v === "object" ? (v as { [STRUCT]?: string })[STRUCT] : undefined;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === "object" && !Array.isArray(v) && !(v instanceof GoNil) &&
    !structType(v);
}

// ---------------------------------------------------------------- values

/** A value as Go's `fmt` prints it with `%v` (what `{{.Field}}` writes). */
export function goString(v: unknown, nested = false): string {
  if (v === undefined) return nested ? "<nil>" : "<no value>";
  if (v === null) return "<nil>";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (typeof v === "function") return "<func>";
  if (v instanceof GoNil) return v.kind === "slice" ? "[]" : "map[]";
  if (Array.isArray(v)) return `[${v.map((e) => goString(e, true)).join(" ")}]`;
  const obj = v as Record<string, unknown>;
  if (structType(v)) {
    const fields = Object.values(obj).filter((f) => typeof f !== "function");
    return `{${fields.map((f) => goString(f, true)).join(" ")}}`;
  }
  const keys = Object.keys(obj).sort();
  return `map[${keys.map((k) => `${k}:${goString(obj[k], true)}`).join(" ")}]`;
}

/**
 * A value as Go's `encoding/json` writes it without HTML escaping (Docker's
 * `json` function): struct fields in order, map keys sorted, nil as `null`.
 */
export function goJSON(v: unknown): string {
  if (v === undefined || v === null || v instanceof GoNil) return "null";
  if (typeof v === "string") {
    return JSON.stringify(v).replaceAll("\u2028", "\\u2028").replaceAll("\u2029", "\\u2029");
  }
  if (typeof v === "number") return Number.isFinite(v) ? JSON.stringify(v) : "null";
  if (typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map(goJSON).join(",")}]`;
  if (typeof v !== "object") return "null";
  const obj = v as Record<string, unknown>;
  let keys = Object.keys(obj).filter((k) => typeof obj[k] !== "function");
  if (!structType(v)) keys = keys.sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${goJSON(obj[k])}`).join(",")}}`;
}

/** Go's truth: false, 0, nil, and empty strings, slices and maps are false; structs are true. */
function truth(v: unknown): boolean {
  if (v === undefined || v === null || v instanceof GoNil) return false;
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v !== 0;
  if (typeof v === "string" || Array.isArray(v)) return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return true;
}

function typeName(v: unknown): string {
  if (v === undefined || v === null) return "nil";
  if (typeof v === "string") return "string";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float64";
  if (typeof v === "boolean") return "bool";
  if (Array.isArray(v) || (v instanceof GoNil && v.kind === "slice")) return "[]interface {}";
  return structType(v) ?? "map[string]interface {}";
}

// ---------------------------------------------------------------- lexer

type Kind =
  | "text"
  | "open"
  | "close"
  | "field"
  | "ident"
  | "var"
  | "string"
  | "number"
  | "dot"
  | "pipe"
  | "lparen"
  | "rparen"
  | "declare"
  | "assign"
  | "comma"
  | "bad"
  | "error";

interface Token {
  kind: Kind;
  text: string;
  pos: number;
  /** Whitespace came before it (inside an action). */
  space: boolean;
  /** The decoded value of a string, number or text token. */
  value?: unknown;
}

const SPACE = /[ \t\r\n]/;
const WORD = /[\p{L}\p{N}_]/u;
const NUMBER =
  /^[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)/;

function lex(src: string): Token[] {
  const out: Token[] = [];
  const push = (kind: Kind, text: string, pos: number, space = false, value?: unknown) =>
    out.push({ kind, text, pos, space, value });
  const stop = (message: string, pos: number) => (push("error", message, pos), out);
  let i = 0;
  let trimNext = false;
  while (i <= src.length) {
    const open = src.indexOf("{{", i);
    let text = src.slice(i, open < 0 ? src.length : open);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, "");
    const trimLeft = open >= 0 && src[open + 2] === "-" && SPACE.test(src[open + 3] ?? "");
    if (trimLeft) text = text.replace(/[ \t\r\n]+$/, "");
    if (text) push("text", text, i, false, text);
    if (open < 0) break;
    push("open", "{{", open);
    i = open + (trimLeft ? 4 : 2);
    trimNext = false;
    if (src.startsWith("/*", i)) {
      const end = src.indexOf("*/", i + 2);
      if (end < 0) return stop("unclosed comment", open);
      i = end + 2;
      if (src.startsWith(" -}}", i)) [i, trimNext] = [i + 4, true];
      else if (src.startsWith("}}", i)) i += 2;
      else return stop("comment ends before closing delimiter", i);
      out.pop();
      continue;
    }
    // Tokens of the action, up to its closing delimiter.
    for (;;) {
      const start = i;
      while (i < src.length && SPACE.test(src[i]!)) i++;
      const space = i > start;
      if (i >= src.length) return stop("unclosed action", open);
      const c = src[i]!;
      if (space && src.startsWith("-}}", i)) {
        push("close", "}}", i);
        [i, trimNext] = [i + 3, true];
        break;
      }
      if (src.startsWith("}}", i)) {
        push("close", "}}", i);
        i += 2;
        break;
      }
      if (c === '"' || c === "`" || c === "'") {
        const quoted = c === "`"
          ? /^`[^`]*`/.exec(src.slice(i))
          : c === '"'
          ? /^"(?:[^"\\\n]|\\.)*"/.exec(src.slice(i))
          : /^'(?:[^'\\\n]|\\.)+'/.exec(src.slice(i));
        if (!quoted) {
          return stop(c === "`" ? "unclosed raw quote" : "unterminated quoted string", i);
        }
        const raw = quoted[0];
        let value: unknown;
        try {
          value = c === "`"
            ? raw.slice(1, -1)
            : JSON.parse(`"${raw.slice(1, -1).replace(/\\'/g, "'")}"`);
        } catch {
          return stop(`bad quoted string ${raw}`, i);
        }
        // A character constant is a number in Go.
        if (c === "'") value = (value as string).codePointAt(0);
        push(c === "'" ? "number" : "string", raw, i, space, value);
        i += raw.length;
      } else if (c === "|" || c === "(" || c === ")" || c === "," || c === "=") {
        const kind =
          ({ "|": "pipe", "(": "lparen", ")": "rparen", ",": "comma", "=": "assign" } as const)[c];
        push(kind, c, i, space);
        i++;
      } else if (src.startsWith(":=", i)) {
        push("declare", ":=", i, space);
        i += 2;
      } else if (c === "$") {
        let j = i + 1;
        while (j < src.length && WORD.test(src[j]!)) j++;
        push("var", src.slice(i, j), i, space);
        i = j;
      } else if (c === "." && WORD.test(src[i + 1] ?? "") && !/\d/.test(src[i + 1]!)) {
        let j = i + 1;
        while (j < src.length && WORD.test(src[j]!)) j++;
        push("field", src.slice(i, j), i, space);
        i = j;
      } else if (
        NUMBER.test(src.slice(i)) && (/[\d.+-]/.test(c)) &&
        !(c === "." && !/\d/.test(src[i + 1] ?? ""))
      ) {
        const raw = NUMBER.exec(src.slice(i))![0];
        const value = Number(raw.replaceAll("_", "").replace(/^([+-]?)0[oO]/, "$10o"));
        if (Number.isNaN(value)) return stop(`bad number syntax: "${raw}"`, i);
        push("number", raw, i, space, value);
        i += raw.length;
      } else if (c === ".") {
        push("dot", ".", i, space);
        i++;
      } else if (WORD.test(c)) {
        let j = i;
        while (j < src.length && WORD.test(src[j]!)) j++;
        push("ident", src.slice(i, j), i, space);
        i = j;
      } else {
        push("bad", String.fromCodePoint(src.codePointAt(i)!), i, space);
        i += String.fromCodePoint(src.codePointAt(i)!).length;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- parser

type Arg =
  | { t: "dot"; pos: number; text: string }
  | { t: "field"; names: string[]; pos: number; text: string }
  | { t: "var"; name: string; names: string[]; pos: number; text: string }
  | { t: "ident"; name: string; pos: number; text: string }
  | { t: "literal"; value: unknown; pos: number; text: string }
  | { t: "nil"; pos: number; text: string }
  | { t: "pipe"; pipe: Pipe; names: string[]; pos: number; text: string };

interface Command {
  args: Arg[];
  pos: number;
}

interface Pipe {
  decl: string[];
  assign: boolean;
  cmds: Command[];
  pos: number;
}

type Node =
  | { t: "text"; text: string }
  | { t: "action"; pipe: Pipe }
  | Control
  | { t: "break" | "continue"; pos: number };

interface Control {
  t: "if" | "with" | "range";
  pipe: Pipe;
  body: Node[];
  orElse: Node[];
}

const KEYWORDS = new Set(["if", "else", "end", "range", "with", "break", "continue"]);
const UNSUPPORTED = new Set(["define", "template", "block"]);

class Parser {
  #i = 0;
  #vars: string[] = ["$"];
  #ranges = 0;

  constructor(readonly src: string, readonly tokens: Token[], readonly funcs: Set<string>) {}

  fail(pos: number, message: string): never {
    throw new TemplateError(this.src, pos, message);
  }

  peek(): Token | undefined {
    const t = this.tokens[this.#i];
    if (t?.kind === "error") this.fail(t.pos, t.text);
    return t;
  }

  next(): Token {
    const t = this.peek();
    if (!t) this.fail(this.src.length, "unexpected EOF");
    this.#i++;
    return t;
  }

  expectClose(what: string): void {
    const t = this.next();
    if (t.kind !== "close") this.fail(t.pos, `unexpected ${describe(t)} in ${what}`);
  }

  template(): Node[] {
    const { nodes, stop } = this.list();
    if (stop) this.fail(stop.pos, `unexpected {{${stop.text}}}`);
    return nodes;
  }

  list(): { nodes: Node[]; stop?: Token } {
    const nodes: Node[] = [];
    while (this.peek()) {
      const t = this.next();
      if (t.kind === "text") {
        nodes.push({ t: "text", text: t.value as string });
        continue;
      }
      const k = this.peek();
      const word = k?.kind === "ident" ? k.text : "";
      if (word === "end" || word === "else") {
        this.#i++;
        if (word === "end") this.expectClose("end");
        return { nodes, stop: k };
      }
      if (word === "if" || word === "range" || word === "with") {
        this.#i++;
        nodes.push(this.control(word, k!));
      } else if (word === "break" || word === "continue") {
        this.#i++;
        if (!this.#ranges) this.fail(k!.pos, `{{${word}}} outside {{range}}`);
        this.expectClose(word);
        nodes.push({ t: word, pos: k!.pos });
      } else if (UNSUPPORTED.has(word)) {
        this.fail(k!.pos, `{{${word}}} is not supported`);
      } else {
        nodes.push({ t: "action", pipe: this.pipeline("command", "close") });
      }
    }
    return { nodes };
  }

  control(kind: "if" | "range" | "with", at: Token): Node {
    const scope = this.#vars.length;
    const pipe = this.pipeline(kind, "close");
    if (kind === "range") this.#ranges++;
    const body = this.list();
    if (kind === "range") this.#ranges--;
    if (!body.stop) this.fail(at.pos, `unexpected EOF: {{${kind}}} has no {{end}}`);
    let orElse: Node[] = [];
    if (body.stop.text === "else") {
      const chained = this.peek();
      if (chained?.kind === "ident" && chained.text === kind && kind !== "range") {
        // `{{else if …}}` is an `if` inside the else branch that shares the `{{end}}`.
        this.#i++;
        orElse = [this.control(kind, chained)];
      } else {
        this.expectClose("else");
        const rest = this.list();
        if (!rest.stop) this.fail(body.stop.pos, "unexpected EOF: {{else}} has no {{end}}");
        if (rest.stop.text !== "end") this.fail(rest.stop.pos, "expected end; found {{else}}");
        orElse = rest.nodes;
      }
    }
    this.#vars.length = scope;
    return { t: kind, pipe, body: body.nodes, orElse };
  }

  pipeline(context: string, end: "close" | "rparen"): Pipe {
    const first = this.peek();
    const pipe: Pipe = { decl: [], assign: false, cmds: [], pos: first?.pos ?? this.src.length };
    // Declarations: `$x :=`, `$x =`, and in a range `$i, $e :=`.
    const after = this.tokens[this.#i + 1];
    if (
      first?.kind === "var" &&
      (after?.kind === "declare" || after?.kind === "assign" ||
        (after?.kind === "comma" && context === "range"))
    ) {
      pipe.decl.push(first.text);
      this.#i++;
      if (after.kind === "comma") {
        this.#i++;
        const second = this.next();
        if (second.kind !== "var") this.fail(second.pos, `unexpected ${describe(second)} in range`);
        pipe.decl.push(second.text);
      }
      const op = this.next();
      if (op.kind !== "declare" && op.kind !== "assign") {
        this.fail(op.pos, `unexpected ${describe(op)} in ${context}`);
      }
      pipe.assign = op.kind === "assign";
      if (pipe.assign) {
        for (const name of pipe.decl) {
          if (!this.#vars.includes(name)) this.fail(first.pos, `undefined variable "${name}"`);
        }
      }
    }
    for (;;) {
      const t = this.peek();
      if (!t) this.fail(this.src.length, `unclosed ${end === "close" ? "action" : "left paren"}`);
      if (t.kind === (end === "close" ? "close" : "rparen")) {
        this.#i++;
        break;
      }
      if (t.kind === "close" || t.kind === "rparen") {
        this.fail(
          t.pos,
          `unexpected ${describe(t)} in ${end === "close" ? context : "parenthesized pipeline"}`,
        );
      }
      if (pipe.cmds.length && t.kind === "pipe") this.#i++;
      else if (pipe.cmds.length) this.fail(t.pos, `unexpected ${describe(t)} in ${context}`);
      pipe.cmds.push(this.command(context));
    }
    if (!pipe.cmds.length) this.fail(pipe.pos, `missing value for ${context}`);
    if (!pipe.assign) this.#vars.push(...pipe.decl);
    return pipe;
  }

  command(context: string): Command {
    const cmd: Command = { args: [], pos: this.peek()!.pos };
    for (;;) {
      const t = this.peek();
      if (!t || t.kind === "close" || t.kind === "rparen" || t.kind === "pipe") break;
      if (cmd.args.length && !t.space && t.kind !== "lparen") {
        this.fail(t.pos, `unexpected ${describe(t)} in operand`);
      }
      cmd.args.push(this.operand());
    }
    if (!cmd.args.length) this.fail(cmd.pos, `missing value for ${context}`);
    return cmd;
  }

  operand(): Arg {
    const term = this.term();
    const names: string[] = [];
    let end = term.pos + term.text.length;
    for (let t = this.peek(); t?.kind === "field" && !t.space; t = this.peek()) {
      names.push(t.text.slice(1));
      end = t.pos + t.text.length;
      this.#i++;
    }
    if (!names.length) return term;
    const text = this.src.slice(term.pos, end);
    switch (term.t) {
      case "field":
        return { ...term, names: [...term.names, ...names], text };
      case "var":
      case "pipe":
        return { ...term, names: [...term.names, ...names], text };
      default:
        return this.fail(term.pos, `unexpected . after term ${JSON.stringify(term.text)}`);
    }
  }

  term(): Arg {
    const t = this.next();
    const base = { pos: t.pos, text: t.text };
    switch (t.kind) {
      case "dot":
        return { t: "dot", ...base };
      case "field":
        return { t: "field", names: [t.text.slice(1)], ...base };
      case "var":
        if (!this.#vars.includes(t.text)) this.fail(t.pos, `undefined variable "${t.text}"`);
        return { t: "var", name: t.text, names: [], ...base };
      case "string":
      case "number":
        return { t: "literal", value: t.value, ...base };
      case "lparen": {
        const pipe = this.pipeline("parenthesized pipeline", "rparen");
        const close = this.tokens[this.#i - 1]!;
        return {
          t: "pipe",
          pipe,
          names: [],
          pos: t.pos,
          text: this.src.slice(t.pos, close.pos + 1),
        };
      }
      case "ident":
        if (t.text === "true" || t.text === "false") {
          return { t: "literal", value: t.text === "true", ...base };
        }
        if (t.text === "nil") return { t: "nil", ...base };
        if (KEYWORDS.has(t.text) || UNSUPPORTED.has(t.text)) {
          this.fail(t.pos, `unexpected <${t.text}> in operand`);
        }
        if (!this.funcs.has(t.text)) this.fail(t.pos, `function "${t.text}" not defined`);
        return { t: "ident", name: t.text, ...base };
      default:
        return this.fail(t.pos, `unexpected ${describe(t)} in operand`);
    }
  }
}

function describe(t: Token): string {
  if (t.kind === "close") return '"}}"';
  if (t.kind === "ident" && KEYWORDS.has(t.text)) return `<${t.text}>`;
  return JSON.stringify(t.text);
}

/** What a bad template throws: a one-line message with the line and column (1-based) it points at. */
export class TemplateError extends ServinError {
  /** Line:column of the fault in the template. */
  readonly where: string;

  /** An error at byte `pos` of `src`. */
  constructor(src: string, pos: number, detail: string, executing?: string) {
    const before = src.slice(0, pos);
    const line = before.split("\n").length;
    const col = pos - before.lastIndexOf("\n");
    const where = `${line}:${col}`;
    super(
      "invalid-argument",
      executing === undefined
        ? `Bad --format template at ${where}: ${detail}`
        : `Cannot apply the --format template at ${where} (${
          executing.replaceAll("\n", "\\n")
        }): ${detail}`,
    );
    this.where = where;
  }
}

// ---------------------------------------------------------------- functions

class ExecFault extends Error {}

function fault(message: string): never {
  throw new ExecFault(message);
}

function str(v: unknown): string {
  if (typeof v !== "string") fault(`wrong type for value; expected string; got ${typeName(v)}`);
  return v;
}

function int(v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v)) {
    fault(`wrong type for value; expected int; got ${typeName(v)}`);
  }
  return v;
}

function arity(name: string, args: unknown[], min: number, max = min): void {
  if (args.length < min || args.length > max) {
    fault(
      `wrong number of args for ${name}: want ${
        min === max ? min : `at least ${min}`
      } got ${args.length}`,
    );
  }
}

const encoder = new TextEncoder();

function indexOne(item: unknown, key: unknown): unknown {
  if (Array.isArray(item) || typeof item === "string") {
    const i = int(key);
    if (i < 0 || i >= item.length) fault(`error calling index: index out of range: ${i}`);
    return typeof item === "string" ? item.charCodeAt(i) : item[i];
  }
  if (item instanceof GoNil) {
    return item.kind === "map"
      ? ""
      : fault("error calling index: index out of range: " + goString(key));
  }
  if (isMap(item) || structType(item)) {
    if (structType(item)) fault(`error calling index: can't index item of type ${typeName(item)}`);
    const map = item as Record<string, unknown>;
    if (Object.hasOwn(map, str(key))) return map[key as string];
    // A missing key gives the map's zero value: "" for the string maps (labels) scripts index.
    return Object.values(map).every((v) => typeof v === "string") ? "" : undefined;
  }
  return fault(`error calling index: can't index item of type ${typeName(item)}`);
}

function compare(name: string, a: unknown, b: unknown): number {
  const kind = (v: unknown) => v === undefined || v === null ? "nil" : typeof v;
  if (kind(a) !== kind(b)) fault(`error calling ${name}: incompatible types for comparison`);
  if (typeof a === "object" && a !== null) fault(`error calling ${name}: non-comparable type`);
  if (a === b || kind(a) === "nil") return 0;
  if (name !== "eq" && name !== "ne" && typeof a === "boolean") {
    fault(`error calling ${name}: invalid type for comparison`);
  }
  return (a as number) < (b as number) ? -1 : 1;
}

function sprint(args: unknown[]): string {
  let out = "";
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== "string" && typeof args[i - 1] !== "string") out += " ";
    out += goString(a, true);
  });
  return out;
}

/** Go's `fmt.Sprintf` for the verbs templates use: %v %s %q %d %x %X %f %t %%, with flags, width and precision. */
function sprintf(format: string, args: unknown[]): string {
  let next = 0;
  const out = format.replace(
    /%([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])/g,
    (_m, flags: string, width?: string, prec?: string, verb?: string) => {
      if (verb === "%") return "%";
      if (next >= args.length) return `%!${verb}(MISSING)`;
      const a = args[next++];
      let s: string;
      const bad = () => `%!${verb}(${typeName(a)}=${goString(a, true)})`;
      switch (verb) {
        case "v":
          s = goString(a, true);
          break;
        case "s":
          s = typeof a === "string" ? a : goString(a, true);
          if (prec !== undefined) s = [...s].slice(0, Number(prec)).join("");
          break;
        case "q":
          s = typeof a === "string" ? JSON.stringify(a) : bad();
          break;
        case "d":
          s = typeof a === "number" && Number.isInteger(a) ? String(a) : bad();
          if (flags.includes("+") && typeof a === "number" && a >= 0) s = `+${s}`;
          break;
        case "x":
        case "X":
          s = typeof a === "number"
            ? Math.trunc(a).toString(16)
            : typeof a === "string"
            ? [...encoder.encode(a)].map((b) => b.toString(16).padStart(2, "0")).join("")
            : bad();
          if (verb === "X") s = s.toUpperCase();
          break;
        case "f":
          s = typeof a === "number" ? a.toFixed(prec === undefined ? 6 : Number(prec)) : bad();
          break;
        case "t":
          s = typeof a === "boolean" ? String(a) : bad();
          break;
        default:
          s = bad();
      }
      const w = Number(width ?? 0);
      if (flags.includes("-")) return s.padEnd(w);
      if (flags.includes("0") && /[dxXf]/.test(verb!)) {
        const sign = /^[+-]/.test(s) ? s[0]! : "";
        return sign + s.slice(sign.length).padStart(w - sign.length, "0");
      }
      return s.padStart(w);
    },
  );
  const extra = args.slice(next);
  return extra.length
    ? `${out}%!(EXTRA ${extra.map((a) => `${typeName(a)}=${goString(a, true)}`).join(", ")})`
    : out;
}

type Func = (args: unknown[]) => unknown;

function title(s: string): string {
  return s.replace(
    /(^|[^\p{L}\p{N}_])(\p{L})/gu,
    (_m, sep: string, c: string) => sep + c.toUpperCase(),
  );
}

/** The functions of a template: Go's builtins and Docker's. */
const FUNCS: Record<string, Func> = {
  json: (a) => (arity("json", a, 1), goJSON(a[0])),
  join: (a) => {
    arity("join", a, 2);
    const list = a[0];
    if (typeof list === "string") return list;
    if (list instanceof GoNil) return "";
    if (!Array.isArray(list)) {
      fault(`wrong type for value; expected []string; got ${typeName(list)}`);
    }
    return list.map((e) => goString(e, true)).join(str(a[1]));
  },
  split: (a) => {
    arity("split", a, 2);
    const [s, sep] = [str(a[0]), str(a[1])];
    return sep === "" ? [...s] : s.split(sep);
  },
  lower: (a) => (arity("lower", a, 1), str(a[0]).toLowerCase()),
  upper: (a) => (arity("upper", a, 1), str(a[0]).toUpperCase()),
  title: (a) => (arity("title", a, 1), title(str(a[0]))),
  pad: (a) => {
    arity("pad", a, 3);
    const s = str(a[0]);
    return s === ""
      ? s
      : " ".repeat(Math.max(0, int(a[1]))) + s + " ".repeat(Math.max(0, int(a[2])));
  },
  truncate: (a) => {
    arity("truncate", a, 2);
    const chars = [...str(a[0])];
    return chars.length < int(a[1]) ? chars.join("") : chars.slice(0, int(a[1])).join("");
  },
  len: (a) => {
    arity("len", a, 1);
    const v = a[0];
    if (typeof v === "string") return encoder.encode(v).length;
    if (Array.isArray(v)) return v.length;
    if (v instanceof GoNil) return 0;
    if (isMap(v)) return Object.keys(v).length;
    return fault(`error calling len: len of type ${typeName(v)}`);
  },
  index: (a) => {
    if (!a.length) fault("wrong number of args for index: want at least 1 got 0");
    let item = a[0];
    if (item === undefined || item === null) fault("error calling index: index of untyped nil");
    for (const key of a.slice(1)) item = indexOne(item, key);
    return item;
  },
  slice: (a) => {
    if (!a.length) fault("wrong number of args for slice: want at least 1 got 0");
    const v = a[0];
    if (typeof v !== "string" && !Array.isArray(v)) {
      fault(`error calling slice: can't slice item of type ${typeName(v)}`);
    }
    const [from = 0, to = v.length] = a.slice(1).map(int);
    if (from < 0 || to > v.length || from > to) fault(`error calling slice: index out of range`);
    return v.slice(from, to);
  },
  not: (a) => (arity("not", a, 1), !truth(a[0])),
  // `and` and `or` stop at their first deciding argument: see Exec.#call.
  and: (a) => a.find((v) => !truth(v)) ?? a[a.length - 1],
  or: (a) => a.find(truth) ?? a[a.length - 1],
  eq: (a) => {
    if (a.length < 2) fault("wrong number of args for eq: want at least 2 got " + a.length);
    return a.slice(1).some((b) => compare("eq", a[0], b) === 0);
  },
  ne: (a) => (arity("ne", a, 2), compare("ne", a[0], a[1]) !== 0),
  lt: (a) => (arity("lt", a, 2), compare("lt", a[0], a[1]) < 0),
  le: (a) => (arity("le", a, 2), compare("le", a[0], a[1]) <= 0),
  gt: (a) => (arity("gt", a, 2), compare("gt", a[0], a[1]) > 0),
  ge: (a) => (arity("ge", a, 2), compare("ge", a[0], a[1]) >= 0),
  print: (a) => sprint(a),
  println: (a) => `${a.map((v) => goString(v, true)).join(" ")}\n`,
  printf: (a) => {
    if (!a.length) fault("wrong number of args for printf: want at least 1 got 0");
    return sprintf(str(a[0]), a.slice(1));
  },
};

/** Docker renders a table's header with its functions made harmless: each returns its first argument. */
const HEADER_FUNCS: Record<string, Func> = Object.fromEntries(
  ["json", "join", "split", "lower", "upper", "title", "pad", "truncate"].map((name) => [
    name,
    (a: unknown[]) => a[0],
  ]),
);

// ---------------------------------------------------------------- execution

class Stop {
  constructor(readonly kind: "break" | "continue") {}
}

/** Most steps one rendering may take: a bound on what a template can cost. */
const MAX_STEPS = 5_000_000;

class Exec {
  out = "";
  #vars: [string, unknown][] = [];
  #steps = 0;
  #at: Arg | undefined;

  constructor(readonly src: string, readonly funcs: Record<string, Func>, root: unknown) {
    this.#vars.push(["$", root]);
  }

  run(dot: unknown, nodes: Node[]): void {
    try {
      this.walk(dot, nodes);
    } catch (err) {
      if (err instanceof ExecFault) {
        const at = this.#at;
        throw new TemplateError(this.src, at?.pos ?? 0, err.message, `<${at?.text ?? ""}>`);
      }
      throw err;
    }
  }

  walk(dot: unknown, nodes: Node[]): void {
    for (const node of nodes) {
      if (++this.#steps > MAX_STEPS) fault("the template takes too many steps");
      switch (node.t) {
        case "text":
          this.out += node.text;
          break;
        case "action": {
          const value = this.pipe(dot, node.pipe);
          if (!node.pipe.decl.length) this.out += goString(value);
          break;
        }
        case "break":
        case "continue":
          throw new Stop(node.t);
        case "if":
        case "with": {
          const mark = this.#vars.length;
          const value = this.pipe(dot, node.pipe);
          if (truth(value)) this.walk(node.t === "with" ? value : dot, node.body);
          else this.walk(dot, node.orElse);
          this.#vars.length = mark;
          break;
        }
        case "range":
          this.range(dot, node);
          break;
      }
    }
  }

  range(dot: unknown, node: Control): void {
    const mark = this.#vars.length;
    const value = this.pipe(dot, { ...node.pipe, decl: [] });
    let entries: [unknown, unknown][];
    if (Array.isArray(value)) entries = value.map((v, i) => [i, v]);
    else if (value === undefined || value === null || value instanceof GoNil) entries = [];
    else if (isMap(value)) entries = Object.keys(value).sort().map((k) => [k, value[k]]);
    else if (typeof value === "number" && Number.isInteger(value)) {
      if (value > MAX_STEPS) fault("the template takes too many steps");
      entries = Array.from({ length: Math.max(0, value) }, (_, i) => [i, i]);
    } else return fault(`range can't iterate over ${goString(value)}`);
    const decl = node.pipe.decl;
    for (const name of decl) this.#vars.push([name, undefined]);
    for (const [key, elem] of entries) {
      if (decl.length === 1) this.#vars[mark]![1] = elem;
      if (decl.length === 2) [this.#vars[mark]![1], this.#vars[mark + 1]![1]] = [key, elem];
      try {
        this.walk(elem, node.body);
      } catch (err) {
        if (!(err instanceof Stop)) throw err;
        if (err.kind === "break") break;
      }
    }
    if (!entries.length) this.walk(dot, node.orElse);
    this.#vars.length = mark;
  }

  pipe(dot: unknown, pipe: Pipe): unknown {
    let value: unknown;
    let final = false;
    for (const cmd of pipe.cmds) {
      value = this.command(dot, cmd, final ? [value] : []);
      final = true;
    }
    for (const name of pipe.decl) {
      if (pipe.assign) {
        const slot = this.#vars.findLast(([n]) => n === name);
        slot![1] = value;
      } else {
        this.#vars.push([name, value]);
      }
    }
    return value;
  }

  command(dot: unknown, cmd: Command, final: unknown[]): unknown {
    const [first, ...rest] = cmd.args;
    this.#at = first;
    switch (first!.t) {
      case "field":
        return this.chain(dot, dot, first!.names, rest, final);
      case "var":
        if (first!.names.length) {
          return this.chain(dot, this.variable(first!.name), first!.names, rest, final);
        }
        break;
      case "pipe":
        if (first!.names.length) {
          const value = this.pipe(dot, first!.pipe);
          this.#at = first;
          return this.chain(dot, value, first!.names, rest, final);
        }
        break;
      case "ident":
        return this.call(dot, first!.name, rest, final);
      case "nil":
        return fault("nil is not a command");
    }
    if (rest.length || final.length) fault(`can't give argument to non-function ${first!.text}`);
    return this.arg(dot, first!);
  }

  call(dot: unknown, name: string, rest: Arg[], final: unknown[]): unknown {
    const fn = this.funcs[name]!;
    if (name === "and" || name === "or") {
      const args = [...rest.map((a) => () => this.arg(dot, a)), ...final.map((v) => () => v)];
      if (!args.length) fault(`wrong number of args for ${name}: want at least 1 got 0`);
      let value: unknown;
      for (const get of args) {
        value = get();
        if (truth(value) === (name === "or")) return value;
      }
      return value;
    }
    const args = [...rest.map((a) => this.arg(dot, a)), ...final];
    const at = this.#at;
    try {
      return fn(args);
    } finally {
      this.#at = at;
    }
  }

  variable(name: string): unknown {
    return this.#vars.findLast(([n]) => n === name)![1];
  }

  arg(dot: unknown, arg: Arg): unknown {
    const at = this.#at;
    this.#at = arg;
    try {
      switch (arg.t) {
        case "dot":
          return dot;
        case "field":
          return this.chain(dot, dot, arg.names, [], []);
        case "var":
          return this.chain(dot, this.variable(arg.name), arg.names, [], []);
        case "literal":
          return arg.value;
        case "nil":
          return null;
        case "ident":
          return this.call(dot, arg.name, [], []);
        case "pipe":
          return this.chain(dot, this.pipe(dot, arg.pipe), arg.names, [], []);
      }
    } finally {
      this.#at = at;
    }
  }

  /** `.A.B.C` on `receiver`; a method at the end is called with `rest` and `final`. */
  chain(dot: unknown, receiver: unknown, names: string[], rest: Arg[], final: unknown[]): unknown {
    let value = receiver;
    names.forEach((name, i) => {
      const last = i === names.length - 1;
      value = this.field(value, name, last ? rest : [], last ? final : [], dot);
    });
    if (!names.length && (rest.length || final.length)) {
      fault(`can't give argument to non-function ${goString(value)}`);
    }
    return value;
  }

  field(receiver: unknown, name: string, rest: Arg[], final: unknown[], dot: unknown): unknown {
    if (receiver === undefined || receiver === null) {
      fault(`nil pointer evaluating ${typeName(receiver)}.${name}`);
    }
    if (receiver instanceof GoNil && receiver.kind === "map") return undefined;
    if (typeof receiver !== "object" || Array.isArray(receiver) || receiver instanceof GoNil) {
      fault(`can't evaluate field ${name} in type ${typeName(receiver)}`);
    }
    const obj = receiver as Record<string, unknown>;
    const hasArgs = rest.length > 0 || final.length > 0;
    if (!Object.hasOwn(obj, name)) {
      if (structType(obj)) fault(`can't evaluate field ${name} in type ${typeName(obj)}`);
      if (hasArgs) fault(`${name} is not a method but has arguments`);
      return undefined;
    }
    const value = obj[name];
    if (typeof value === "function") {
      return (value as Func)([...rest.map((a) => this.arg(dot, a)), ...final]);
    }
    if (hasArgs) fault(`${name} is not a method but has arguments`);
    return value;
  }
}

// ---------------------------------------------------------------- API

/** A parsed template. */
export interface Template {
  /** The template's output for `data`; throws a {@link TemplateError} when it cannot apply. */
  render(data: unknown): string;
  /** The header row of a `table` template: fields give their `headers` value, functions their argument. */
  header(headers: object): string;
}

/**
 * Parses a Go template; throws a {@link TemplateError} that names the line
 * and column of the fault.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTemplate } from "./_template.ts";
 * const t = parseTemplate('{{.Repository}}:{{.Tag}} {{join .Cmd ","}}');
 * assert(t.render({ Repository: "alpine", Tag: "3", Cmd: ["sh", "-c"] }) === "alpine:3 sh,-c");
 * ```
 */
export function parseTemplate(source: string): Template {
  const nodes = new Parser(source, lex(source), new Set(Object.keys(FUNCS))).template();
  const render = (data: unknown, funcs: Record<string, Func>) => {
    const exec = new Exec(source, funcs, data);
    exec.run(data, nodes);
    return exec.out;
  };
  return {
    render: (data) => render(data, FUNCS),
    header: (headers) => render(headers, { ...FUNCS, ...HEADER_FUNCS }),
  };
}

/**
 * Go's `text/tabwriter` as Docker sets it up (`NewWriter(out, 10, 1, 3, ' ', 0)`):
 * tab-terminated cells in blocks of consecutive lines, each column as wide
 * as its widest cell plus `padding`, at least `minWidth`.
 */
export function tabwrite(text: string, minWidth = 10, padding = 3): string {
  const lines = text.split("\n").map((l) => l.split("\t"));
  const width = (s: string) => [...s].length;
  const widths: number[] = [];
  let out = "";
  const write = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const line = lines[i]!;
      line.forEach((cell, j) => {
        out += cell;
        if (j < widths.length) out += " ".repeat(Math.max(0, widths[j]! - width(cell)));
      });
      if (i + 1 < lines.length) out += "\n";
    }
  };
  const format = (line0: number, line1: number) => {
    const column = widths.length;
    for (let row = line0; row < line1; row++) {
      if (column >= lines[row]!.length - 1) continue;
      write(line0, row);
      line0 = row;
      let w = minWidth;
      for (; row < line1 && column < lines[row]!.length - 1; row++) {
        w = Math.max(w, width(lines[row]![column]!) + padding);
      }
      widths.push(w);
      format(line0, row);
      widths.pop();
      line0 = row;
      row--;
    }
    write(line0, line1);
  };
  format(0, lines.length);
  return out;
}

/**
 * A listing through a `--format` template, as Docker's formatter writes it:
 * `\t` and `\n` written as two characters become a tab and a newline; each
 * row's output ends with a newline; with `table`, a header row first and
 * the columns aligned by {@link tabwrite}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderListing } from "./_template.ts";
 * const rows = [{ ID: "0123456789ab", Tag: "3.19" }];
 * const out = renderListing("table {{.ID}}\\t{{.Tag}}", rows, { ID: "IMAGE ID", Tag: "TAG" });
 * assert(out === "IMAGE ID       TAG\n0123456789ab   3.19\n");
 * ```
 */
export function renderListing(format: string, rows: readonly unknown[], headers: object): string {
  const isTable = format.startsWith("table");
  const body = (isTable ? format.slice(5) : format).replace(/^ +| +$/g, "")
    .replace(/\\[tn]/g, (e) => e === "\\t" ? "\t" : "\n");
  const template = parseTemplate(body);
  let out = isTable ? `${template.header(struct({ ...headers }, "header"))}\n` : "";
  for (const row of rows) out += `${template.render(row)}\n`;
  return isTable ? tabwrite(out) : out;
}
