/**
 * core/ holds only contracts and wiring, within a budget: at most 1,500
 * lines of code (blank lines, `//` comments and `/* … *\/` blocks aside;
 * `*_test.ts` files do not count), and no import of anything outside core/
 * (plugins/ least of all). Feature logic belongs in plugins; this keeps
 * the budget from being spent without anyone deciding to.
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
