/**
 * The routing of argv to command groups (`GROUPS` in `_define.ts`, `pluginsFor` in `cli.ts`):
 * a group's routes are exactly the first words of its commands, so that setting up only the
 * groups argv routes to finds the command all of them would; and a command line is dispatched
 * with only those groups set up.
 */

import assert from "node:assert/strict";
import type { CommandDef } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import { definePlugin, type Plugin, Registry } from "../../core/registry.ts";
import { capture, withTempDir } from "../../tests/_cli.ts";
import { builtinPlugins } from "../mod.ts";
import type { CommandGroupPlugin } from "./_define.ts";
import { pluginsFor, runCli } from "./cli.ts";

function groups(plugins: readonly Plugin[]): CommandGroupPlugin[] {
  return plugins.filter((p): p is CommandGroupPlugin => "routes" in p);
}

const startsWith = (name: string, route: string) => `${name} `.startsWith(`${route} `);

Deno.test("each command group's routes are the first words of its commands, no more", async () => {
  const plugins = builtinPlugins();
  const found = groups(plugins);
  assert.ok(found.length >= 4, found.map((g) => g.name).join());
  // A built-in command outside a routed group would be set up by every command line.
  for (const plugin of plugins.filter((p) => !found.includes(p as CommandGroupPlugin))) {
    const commands: string[] = [];
    await plugin.setup({
      plugin: plugin.name,
      on() {},
      provide(kind, implementation) {
        if (kind === "command") commands.push((implementation as CommandDef).name);
      },
      onDispose() {},
      error: (code, message) => new ServinError(code, message),
    });
    assert.deepEqual(
      commands,
      [],
      `${plugin.name} registers commands: make it a group in GROUPS (plugins/commands/_define.ts)`,
    );
  }
  for (const group of found) {
    const registry = await Registry.create([group]);
    const names = registry.all("command").flatMap((d) => [d.name, ...(d.aliases ?? [])]);
    for (const name of names) {
      assert.ok(
        group.routes.some((r) => startsWith(name, r)),
        `${group.name}: "${name}" starts with none of its routes: add "${
          name.split(" ")[0]
        }" to its routes in GROUPS (plugins/commands/_define.ts)`,
      );
    }
    for (const route of group.routes) {
      assert.ok(
        names.some((n) => startsWith(n, route)),
        `${group.name}: no command starts with its route "${route}"`,
      );
    }
  }
});

Deno.test("a command line sets up the command groups it routes to, or all of them", () => {
  const names = (words: string[]) => pluginsFor(builtinPlugins(), words)?.map((p) => p.name);
  const setUp = names(["image", "ls"]) ?? [];
  assert.ok(setUp.includes("commands-image") && setUp.includes("storage-local"));
  for (const left of ["commands-container", "commands-system", "commands-trust"]) {
    assert.ok(!setUp.includes(left), left);
  }
  assert.deepEqual(
    groups(pluginsFor(builtinPlugins(), ["image", "sign", "x"])!).map((g) => g.name),
    [
      "commands-image",
      "commands-trust",
    ],
  );
  assert.deepEqual(groups(pluginsFor(builtinPlugins(), ["ps", "-a"])!).map((g) => g.name), [
    "commands-container",
  ]);
  // Help, an unknown word, and commands that list every command or plugin: all of them.
  for (const words of [[], ["imag"], ["plugin", "ls"], ["completion", "bash"]]) {
    assert.equal(names(words), undefined, words.join(" "));
  }
  // A plugin that depends on a group that would be left out: all of them.
  const dependent = definePlugin({
    name: "dependent",
    dependencies: ["commands-container"],
    setup() {},
  });
  assert.equal(pluginsFor([...builtinPlugins(), dependent], ["image", "ls"]), undefined);
});

Deno.test(
  "a command runs with only its group set up; help and unknown words set up every group",
  withTempDir(async ({ dir: root }) => {
    // A group that fails when set up shows which command lines set it up.
    const broken: CommandGroupPlugin = {
      name: "commands-broken",
      routes: ["broken"],
      setup() {
        throw new Error("set up");
      },
    };
    const plugins = [...builtinPlugins(), broken];
    const cli = async (argv: string[]) => {
      const io = capture();
      const code = await runCli(["--root", root, ...argv], { plugins, version: "1", output: io });
      return { code, out: io.stdout.join("\n"), err: io.stderr.join("\n") };
    };
    const listed = await cli(["image", "ls"]);
    assert.equal(listed.code, 0, listed.err);
    assert.equal(listed.out, "REPOSITORY   TAG   IMAGE ID   CREATED   SIZE");
    assert.equal((await cli(["image", "ls", "--help"])).code, 0);
    for (const argv of [["help"], ["imags"], ["broken"], ["plugin", "ls"], ["image"]]) {
      const { code, err } = await cli(argv);
      assert.equal(code, 1, argv.join(" "));
      assert.match(err, /plugin "commands-broken": set up/);
    }
  }),
);
