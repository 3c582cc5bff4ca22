/**
 * Start-up stays near bare Deno's: what every command loads (the CLI, every
 * built-in plugin's registration module, the library entry) and what
 * `image ls` adds (the facade, the local store, the list command) import no
 * `node:` builtin, not even through another module. The first one loaded
 * starts Node's compatibility layer, which costs more than listing an empty
 * store. Checked on the module graph `deno info` reports, static imports only:
 * a dynamic `import()` runs when a capability is first used.
 */

import assert from "node:assert/strict";

const ROOTS = [
  "main.ts",
  "mod.ts",
  "plugins/mod.ts",
  "core/servin.ts",
  "plugins/commands/_image_list.ts",
];

interface Dependency {
  code?: { specifier: string };
  isDynamic?: boolean;
}

interface GraphModule {
  specifier: string;
  dependencies?: Dependency[];
}

/** The `node:` builtins `root` imports statically, each with the chain of modules that imports it. */
async function nodeImports(root: string): Promise<string[]> {
  const url = new URL(`../${root}`, import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", url.pathname],
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: GraphModule[] };
  const modules = new Map(graph.modules.map((m) => [m.specifier, m]));
  const found: string[] = [];
  const seen = new Set<string>([url.href]);
  const queue: string[][] = [[url.href]];
  for (let i = 0; i < queue.length; i++) {
    const chain = queue[i]!;
    for (const dep of modules.get(chain.at(-1)!)?.dependencies ?? []) {
      const target = dep.code?.specifier;
      if (!target || dep.isDynamic || seen.has(target)) continue;
      seen.add(target);
      const next = [...chain, target];
      if (target.startsWith("node:")) {
        found.push(
          next.map((s) => s.replace(new URL("../", import.meta.url).href, "")).join(" → "),
        );
      } else queue.push(next);
    }
  }
  return found;
}

for (const root of ROOTS) {
  Deno.test(`${root} imports no node: builtin, directly or through its static imports`, async () => {
    assert.deepEqual(await nodeImports(root), []);
  });
}

Deno.test("the start-up check sees a node: builtin a module imports", async () => {
  // A module known to need one, so that an empty answer above means something.
  assert.deepEqual(await nodeImports("plugins/formats/digest.ts"), [
    "plugins/formats/digest.ts → node:crypto",
  ]);
});
