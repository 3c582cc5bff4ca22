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

/**
 * The modules `root` imports statically that `wanted` picks (a picked module's own imports are
 * followed only with `throughPicked`), each with the chain of modules that imports it.
 */
async function staticImports(
  root: string,
  wanted: (target: string) => boolean,
  throughPicked = false,
): Promise<string[]> {
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
      if (wanted(target)) {
        found.push(
          next.map((s) => s.replace(new URL("../", import.meta.url).href, "")).join(" → "),
        );
        if (throughPicked) queue.push(next);
      } else queue.push(next);
    }
  }
  return found;
}

/** The `node:` builtins `root` imports statically, each with the chain of modules that imports it. */
function nodeImports(root: string): Promise<string[]> {
  return staticImports(root, (target) => target.startsWith("node:"));
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

/**
 * Work that `image ls` (and every other command, through `main.ts`) does not need, so must not
 * load: Docker's Go-template engine and the views built on it (only `--format` with a template
 * uses them), and the trust policy parser (only a pull or load that is checked does).
 */
const NOT_AT_START = [
  "plugins/commands/_template.ts",
  "plugins/commands/_docker_view.ts",
  "plugins/trust/policy.ts",
];

for (const root of ["main.ts", ...ROOTS.slice(2)]) {
  Deno.test(`${root} does not import the template engine or the trust policy statically`, async () => {
    const base = new URL("../", import.meta.url).href;
    const heavy = (target: string) => NOT_AT_START.includes(target.replace(base, ""));
    assert.deepEqual(await staticImports(root, heavy), []);
  });
}

/**
 * What `main.ts` imports statically, and so every command loads: of `plugins/commands/`, only the
 * dispatcher and `_define.ts` (shared flags, the routing table): a command table is imported
 * when its group is set up, and only the groups argv routes to are (see the top of `cli.ts`);
 * of the local store, the module that lists the index, not the write paths (`_local_store.ts`,
 * `fs.ts`).
 */
const AT_START_IN_COMMANDS = ["plugins/commands/cli.ts", "plugins/commands/_define.ts"];
const NOT_AT_START_IN_MAIN = [
  "plugins/storage/_local_store.ts",
  "plugins/storage/fs.ts",
];

Deno.test("main.ts imports no command table, help text or store write path statically", async () => {
  const base = new URL("../", import.meta.url).href;
  const unwanted = (target: string) => {
    const path = target.replace(base, "");
    return (path.startsWith("plugins/commands/") && !AT_START_IN_COMMANDS.includes(path)) ||
      NOT_AT_START_IN_MAIN.includes(path);
  };
  assert.deepEqual(await staticImports("main.ts", unwanted), []);
});

Deno.test("what image ls imports when it runs brings no other command table or store write path", async () => {
  const base = new URL("../", import.meta.url).href;
  const unwanted = (target: string) =>
    /^plugins\/commands\/(container|system|trust|_help)\.ts$/.test(target.replace(base, "")) ||
    NOT_AT_START_IN_MAIN.includes(target.replace(base, ""));
  for (
    const root of ["plugins/commands/image.ts", "plugins/commands/_image_list.ts", "core/servin.ts"]
  ) {
    assert.deepEqual(await staticImports(root, unwanted), [], root);
  }
});

Deno.test("the start-up check sees a command table and the store's write path where they are imported", async () => {
  // So that the empty answers above mean something.
  const base = new URL("../", import.meta.url).href;
  const unwanted = (target: string) => /(\/_define|\/fs)\.ts$/.test(target.replace(base, ""));
  assert.deepEqual(await staticImports("plugins/commands/image.ts", unwanted), [
    "plugins/commands/image.ts → plugins/commands/_define.ts",
  ]);
  assert.deepEqual(await staticImports("plugins/storage/_local_store.ts", unwanted), [
    "plugins/storage/_local_store.ts → plugins/storage/fs.ts",
  ]);
});

Deno.test("the start-up check sees the template engine where it is imported", async () => {
  // So that an empty answer above means something.
  assert.deepEqual(
    await staticImports("plugins/commands/_docker_view.ts", (t) => t.endsWith("/_template.ts")),
    ["plugins/commands/_docker_view.ts → plugins/commands/_template.ts"],
  );
});

Deno.test("deno.json has Deno load a dynamic import when it runs, not at start-up", async () => {
  // Without it, `deno run main.ts` reads and analyses every module an `import()` names (the
  // whole program, some 100 modules) before the first line runs: more than `image ls` then
  // takes. What the tests above keep out of the static graph would still be read at start-up.
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  assert.ok(config.unstable?.includes("lazy-dynamic-imports"), JSON.stringify(config.unstable));
});

/**
 * Modules of the contracts that hold types alone: a module that imports one of them for a
 * value (or a module that imports it for types only, as written `import { type X }`) makes
 * Deno load its whole text, which is mostly documentation, for nothing.
 */
const TYPES_ONLY = ["core/api.ts", "core/kinds.ts", "core/hooks.ts"];

Deno.test("what image ls loads loads no module that holds only types", async () => {
  const base = new URL("../", import.meta.url).href;
  const typesOnly = (target: string) => TYPES_ONLY.includes(target.replace(base, ""));
  for (
    const root of [
      "main.ts",
      "plugins/commands/image.ts",
      "plugins/commands/_image_list.ts",
      "core/servin.ts",
      "plugins/images/_operations.ts",
    ]
  ) {
    assert.deepEqual(await staticImports(root, typesOnly), [], root);
  }
});

Deno.test("the types-only modules export no value", async () => {
  for (const path of TYPES_ONLY) {
    const text = await Deno.readTextFile(new URL(`../${path}`, import.meta.url));
    const values = text.split("\n").filter((line) =>
      /^export\s+(const|let|var|function|async|class|enum|default|\{|\*)/.test(line)
    );
    assert.deepEqual(values, [], path);
  }
});

Deno.test("the types-only check sees an import of types written without `import type`", async () => {
  // So that the empty answers above mean something: `import { type X }` makes Deno load the
  // module as `import type { X }` does not.
  const dir = await Deno.makeTempDir({ dir: new URL(".", import.meta.url).pathname });
  try {
    const name = dir.split("/").at(-1);
    for (
      const [file, line] of [["a.ts", "import { type Limits }"], ["b.ts", "import type { Limits }"]]
    ) {
      await Deno.writeTextFile(
        `${dir}/${file}`,
        `${line} from "../../core/kinds.ts";\nexport const x: Limits | undefined = undefined;\n`,
      );
    }
    const kinds = (t: string) => t.endsWith("/core/kinds.ts");
    assert.deepEqual(await staticImports(`tests/${name}/a.ts`, kinds), [
      `tests/${name}/a.ts → core/kinds.ts`,
    ]);
    assert.deepEqual(await staticImports(`tests/${name}/b.ts`, kinds), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Every module loaded before `main.ts`'s first line runs costs start-up some 0.1 ms (read, its
 * emitted text with its inline source map, compiled from the code cache, evaluated): 23 today,
 * the registration module of each plugin folder among them. A new plugin folder may add its
 * `mod.ts`; anything else belongs behind an `import()`.
 */
const AT_START_BUDGET = 24;

Deno.test(`main.ts loads at most ${AT_START_BUDGET} modules before it runs`, async () => {
  const local = (t: string) => t.startsWith("file:");
  const modules = await staticImports("main.ts", local, true);
  assert.ok(
    modules.length + 1 <= AT_START_BUDGET,
    `${modules.length + 1} modules:\n${modules.map((m) => m.split(" → ").at(-1)).join("\n")}`,
  );
  // So that the count means something: it sees the registration modules.
  assert.ok(modules.some((m) => m.endsWith("plugins/sources/mod.ts")), modules.join("\n"));
});
