import assert from "node:assert/strict";
import { join } from "node:path";
import type { CommandDef } from "../../core/api.ts";
import type { Platform } from "../../core/kinds.ts";
import { ServinError } from "../../core/errors.ts";
import { definePlugin, type Plugin } from "../../core/registry.ts";
import { parseCommandArgs, runCli } from "./cli.ts";
import { capture, withTempDir } from "../../tests/_cli.ts";

const copy: CommandDef = {
  name: "copy",
  summary: "Copy",
  usage: "[OPTIONS] SRC DEST",
  args: { min: 2, max: 2 },
  flags: {
    format: { type: "string", short: "f", description: "Format" },
    env: { type: "string", short: "e", multiple: true, description: "Env" },
    quiet: { type: "boolean", short: "q", description: "Quiet" },
    all: { type: "boolean", short: "a", description: "All" },
  },
  run() {},
};

Deno.test("flags parse as parseArgs's strict mode does: inline, separate, grouped, repeated, --", () => {
  assert.deepEqual(
    parseCommandArgs(copy, ["-qa", "--format=json", "-e", "A=1", "-eB=2", "x", "--", "-y"]),
    { args: ["x", "-y"], flags: { quiet: true, all: true, format: "json", env: ["A=1", "B=2"] } },
  );
  assert.deepEqual(parseCommandArgs(copy, ["-qfjson", "-", "b", "--format", "-"]), {
    args: ["-", "b"],
    flags: { quiet: true, format: "-" },
  });
  const run = { ...copy, name: "run", args: { min: 1 }, stopAfter: 1 };
  assert.deepEqual(parseCommandArgs(run, ["-q", "img", "ls", "-la", "--format"]), {
    args: ["img", "ls", "-la", "--format"],
    flags: { quiet: true },
  });
});

Deno.test("a bad flag or argument count is a usage error naming the command", () => {
  const cases: [string[], string][] = [
    [["--bogus", "a", "b"], 'unknown flag "--bogus" (see "servin copy --help")'],
    [["-qz", "a", "b"], 'unknown flag "-z" (see "servin copy --help")'],
    [["a", "b", "--format"], 'Flag "--format" needs a value (see "servin copy --help")'],
    [["a", "b", "-f"], 'Flag "-f" needs a value (see "servin copy --help")'],
    [
      ["--quiet=yes", "a", "b"],
      'Flag "--quiet" takes no value, or =true or =false (see "servin copy --help")',
    ],
    [["a"], '"servin copy" takes 2 arguments, got 1 (usage: servin copy [OPTIONS] SRC DEST)'],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => parseCommandArgs(copy, argv), (err: unknown) => {
      assert.ok(err instanceof ServinError && err.code === "usage", String(err));
      assert.equal(err.message, message);
      return true;
    });
  }
  assert.deepEqual(parseCommandArgs(copy, ["--help"]).flags, { help: true });
  assert.deepEqual(parseCommandArgs(copy, ["--quiet=false", "a", "b"]).flags, { quiet: false });
  assert.deepEqual(parseCommandArgs(copy, ["--quiet=true", "a", "b"]).flags, { quiet: true });
});

function commands(seen: string[]): Plugin {
  return definePlugin({
    name: "test-commands",
    setup(api) {
      seen.push("setup");
      api.provide("command", { ...copy, run: () => 7 });
      api.provide("command", {
        name: "fail user",
        summary: "Fails as users do",
        usage: "",
        run() {
          throw new ServinError("not-found", 'No such image: "x"');
        },
      });
      api.provide("command", {
        name: "fail bug",
        summary: "Fails as bugs do",
        usage: "",
        run() {
          throw new TypeError("x is undefined");
        },
      });
    },
  });
}

Deno.test("exit codes: the command's own, 1 for a ServinError, 2 for a bug", async () => {
  const plugins = [commands([])];
  const cases: [string[], number, string[]][] = [
    [["copy", "a", "b"], 7, []],
    [["fail", "user"], 1, ['servin: No such image: "x"']],
    [["fail", "bug"], 2, ["servin: x is undefined", "servin: (run with --debug for details)"]],
    [["frobnicate"], 1, ['servin: unknown command "frobnicate" (see "servin help")']],
    [["--bogus"], 1, ['servin: unknown flag "--bogus" (see "servin help")']],
  ];
  for (const [argv, code, stderr] of cases) {
    const io = capture();
    assert.equal(await runCli(argv, { plugins, version: "1.2.3", output: io }), code, argv.join());
    assert.deepEqual(io.stderr, stderr);
  }
  const io = capture();
  assert.equal(await runCli(["--version"], { plugins, version: "1.2.3", output: io }), 0);
  assert.deepEqual(io.stdout, ["servin version 1.2.3"]);
  const help = capture();
  assert.equal(await runCli(["fail"], { plugins, version: "1", output: help }), 0);
  assert.match(help.stdout.join("\n"), /fail bug +Fails as bugs do\n +fail user/);
});

Deno.test("a bad SERVIN_TIMEOUT is a one-line error when a command runs, not before", async () => {
  const plugins = [commands([])];
  const io = capture();
  assert.equal(
    await runCli(["copy", "a", "b"], { plugins, version: "1", timeout: NaN, output: io }),
    1,
  );
  assert.deepEqual(io.stderr, ["servin: SERVIN_TIMEOUT must be a positive number of seconds"]);
  assert.equal(
    await runCli(["help"], { plugins, version: "1", timeout: -1, output: capture() }),
    0,
  );
});

Deno.test(
  "without a root, config.json is read from the platform's default root",
  withTempDir(async ({ dir: root }) => {
    const plugin = join(root, "extra.ts");
    await Deno.writeTextFile(
      plugin,
      `export default { name: "extra", setup(api) {
        api.provide("command", { name: "extra", summary: "", usage: "", run: (ctx) => ctx.out("extra ran") });
      } };`,
    );
    await Deno.writeTextFile(join(root, "config.json"), JSON.stringify({ plugins: [plugin] }));
    const platform = { name: Deno.build.os, defaultRoot: () => root } as Platform;
    const seen: string[] = [];
    const plugins = [
      definePlugin({ name: "platform", setup: (api) => api.provide("platform", platform) }),
      commands(seen),
    ];
    const io = capture();
    const code = await runCli(["extra"], { plugins, version: "1", thirdParty: true, output: io });
    assert.equal(code, 0, io.stderr.join("\n"));
    assert.deepEqual(io.stdout, ["extra ran"]);
    // Set up once to learn the root, once more with the plugins config.json adds.
    assert.deepEqual(seen, ["setup", "setup"]);

    seen.length = 0;
    await Deno.remove(join(root, "config.json"));
    const again = capture();
    assert.equal(
      await runCli(["copy", "a", "b"], { plugins, version: "1", thirdParty: true, output: again }),
      7,
    );
    assert.deepEqual(seen, ["setup"]);
  }),
);
