/**
 * core/ holds only contracts and wiring, within a budget: at most 1,500
 * lines of code (blank lines, `//` comments and `/* … *\/` blocks aside;
 * `*_test.ts` files do not count), and no import of anything outside core/
 * (plugins/ least of all), and no import cycle among core's modules, type
 * imports included. Feature logic belongs in plugins; this keeps the budget
 * from being spent without anyone deciding to.
 */

import assert from "node:assert/strict";

/** Most lines of code core/ may hold (issue 9). */
const BUDGET = 1500;

const CORE = new URL("../core/", import.meta.url);

/** The lines of `text` that are code: not blank, not a `//` comment, not in a `/* … *\/` block. */
function codeLines(text: string): string[] {
  const out: string[] = [];
  let inBlock = false;
  for (const line of text.split("\n")) {
    const s = line.trim();
    if (inBlock) {
      inBlock = !s.includes("*/");
      continue;
    }
    if (!s || s.startsWith("//")) continue;
    if (s.startsWith("/*")) {
      inBlock = !s.includes("*/");
      continue;
    }
    out.push(s);
  }
  return out;
}

/** Specifiers the code imports or re-exports, statically or with `import()`. */
function specifiers(code: string[]): string[] {
  const found = code.join("\n").matchAll(/\b(?:from|import)\s*\(?\s*["']([^"']+)["']/g);
  return [...found].map((m) => m[1]!);
}

/** The specifiers of `code` that resolve outside core/ (`node:` builtins and URLs too). */
function outsideCore(file: URL, code: string[]): string[] {
  return specifiers(code).filter((s) => !new URL(s, file).href.startsWith(CORE.href));
}

/** core/'s modules (tests left out), each with its code lines. */
async function coreModules(): Promise<{ file: URL; code: string[] }[]> {
  const out = [];
  for await (const entry of Deno.readDir(CORE)) {
    if (!entry.isFile || !entry.name.endsWith(".ts") || entry.name.endsWith("_test.ts")) continue;
    const file = new URL(entry.name, CORE);
    out.push({ file, code: codeLines(await Deno.readTextFile(file)) });
  }
  return out.sort((a, b) => a.file.href < b.file.href ? -1 : 1);
}

Deno.test(`core/ holds at most ${BUDGET} lines of code`, async () => {
  const modules = await coreModules();
  assert.ok(modules.length >= 5, "core/ modules not found");
  const total = modules.reduce((n, m) => n + m.code.length, 0);
  const each = modules.map((m) => `${m.file.pathname.split("/").pop()} ${m.code.length}`);
  assert.ok(
    total <= BUDGET,
    `core/ has ${total} lines of code (${each.join(", ")}): move logic to plugins`,
  );
});

Deno.test("core/ imports nothing from outside core/ (plugins/ least of all)", async () => {
  for (const { file, code } of await coreModules()) {
    assert.deepEqual(outsideCore(file, code), [], `${file.pathname} imports from outside core/`);
  }
});

/** An import cycle among `modules` (type imports included), as a path of file names, if any. */
function importCycle(modules: { file: URL; code: string[] }[]): string[] | undefined {
  const name = (u: URL) => u.pathname.split("/").pop()!;
  const edges = new Map(modules.map((m) => [
    name(m.file),
    specifiers(m.code)
      .map((s) => new URL(s, m.file))
      .filter((u) => u.href.startsWith(CORE.href))
      .map(name),
  ]));
  const state = new Map<string, "open" | "done">();
  const visit = (node: string, path: string[]): string[] | undefined => {
    if (state.get(node) === "open") return [...path.slice(path.indexOf(node)), node];
    if (state.get(node) === "done") return undefined;
    state.set(node, "open");
    for (const next of edges.get(node) ?? []) {
      const cycle = visit(next, [...path, node]);
      if (cycle) return cycle;
    }
    state.set(node, "done");
    return undefined;
  };
  for (const node of edges.keys()) {
    const cycle = visit(node, []);
    if (cycle) return cycle;
  }
  return undefined;
}

Deno.test("core/ has no import cycle, type imports included", async () => {
  const cycle = importCycle(await coreModules());
  assert.equal(cycle, undefined, `import cycle: ${cycle?.join(" -> ")}`);
});

Deno.test("the core checks count code lines only and see an import of a plugin", () => {
  const text = [
    "/**",
    ' * A module; `import x from "../plugins/y.ts"` in a comment is no import.',
    " */",
    "",
    "// a comment",
    'import type { A } from "./api.ts";',
    "/* one-line block */",
    "const b = await import(",
    '  "../plugins/images/mod.ts",',
    ");",
    'export { c } from "node:fs";',
  ].join("\n");
  const code = codeLines(text);
  assert.equal(code.length, 5);
  const file = new URL("servin.ts", CORE);
  assert.deepEqual(outsideCore(file, code), ["../plugins/images/mod.ts", "node:fs"]);
});

Deno.test("the cycle check sees a cycle through a type import", () => {
  const module = (name: string, ...imports: string[]) => ({
    file: new URL(name, CORE),
    code: imports.map((i) => `import type { X } from "./${i}";`),
  });
  const acyclic = [module("a.ts", "b.ts"), module("b.ts", "c.ts"), module("c.ts")];
  assert.equal(importCycle(acyclic), undefined);
  const cyclic = [module("a.ts", "b.ts"), module("b.ts", "c.ts"), module("c.ts", "b.ts")];
  assert.deepEqual(importCycle(cyclic), ["b.ts", "c.ts", "b.ts"]);
});
