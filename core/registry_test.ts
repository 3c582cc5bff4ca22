import assert from "node:assert/strict";
import { ServinError } from "./errors.ts";
import { definePlugin, type Plugin, Registry, sortPlugins } from "./registry.ts";

const noop = (name: string, dependencies?: string[]): Plugin => ({
  name,
  dependencies,
  setup() {},
});

Deno.test("plugins are set up after their dependencies, otherwise in the given order", () => {
  const order = sortPlugins([noop("a", ["c"]), noop("b"), noop("c"), noop("d", ["a", "b"])])
    .map((p) => p.name);
  assert.deepEqual(order, ["b", "c", "a", "d"]);
});

Deno.test("a missing dependency, a cycle and a duplicate name are errors naming the plugin", () => {
  assert.throws(() => sortPlugins([noop("a", ["ghost"])]), {
    message: 'plugin "a": depends on "ghost", which is not registered',
  });
  assert.throws(
    () => sortPlugins([noop("x"), noop("a", ["b"]), noop("b", ["c"]), noop("c", ["a"])]),
    {
      message: "Plugin dependency cycle: a -> b -> c -> a",
    },
  );
  assert.throws(() => sortPlugins([noop("a"), noop("a")]), {
    message: 'plugin "a": registered twice',
  });
});

Deno.test("series runs pre, normal, post then registration order; the first error aborts, wrapped", async () => {
  const calls: string[] = [];
  const registry = await Registry.create([
    definePlugin({
      name: "one",
      setup(api) {
        api.on("image:commit:before", () => void calls.push("one:post"), { order: "post" });
        api.on("image:commit:before", () => void calls.push("one:normal"));
      },
    }),
    definePlugin({
      name: "two",
      setup(api) {
        api.on("image:commit:before", () => void calls.push("two:pre"), { order: "pre" });
        api.on("image:commit:before", () => void calls.push("two:normal"));
      },
    }),
  ]);
  const payload = {
    verb: "import" as const,
    input: "-",
    tags: ["a:latest"],
    config: {
      env: [],
      cmd: [],
      entrypoint: [],
      working_dir: "/",
      user: "",
      exposed_ports: {},
      labels: {},
    },
  };
  await registry.series("image:commit:before", payload);
  assert.deepEqual(calls, ["two:pre", "one:normal", "two:normal", "one:post"]);

  const vetoing = await Registry.create([
    definePlugin({
      name: "policy",
      setup(api) {
        api.on("image:commit:before", () => {
          throw new ServinError("vetoed", "imports from stdin are not allowed");
        });
        api.on("image:commit:before", () => void calls.push("never"), { order: "post" });
      },
    }),
  ]);
  await assert.rejects(() => vetoing.series("image:commit:before", payload), (err: unknown) => {
    assert.ok(err instanceof ServinError);
    assert.equal(err.code, "vetoed");
    assert.equal(
      err.message,
      'plugin "policy": imports from stdin are not allowed (in image:commit:before)',
    );
    return true;
  });
  assert.ok(!calls.includes("never"));
});

Deno.test("get picks a kind's implementation by name or the first; parallel collects results and errors", async () => {
  const sink = (name: string) => ({ name, write: () => Promise.resolve() });
  const registry = await Registry.create([
    definePlugin({
      name: "p",
      setup(api) {
        api.provide("sink", sink("tar"));
        api.provide("sink", sink("zip"));
        api.on("command:after", () => {
          throw new Error("boom");
        });
        api.on("command:after", async () => {});
      },
    }),
  ]);
  assert.equal(registry.get("sink").name, "tar");
  assert.equal(registry.get("sink", "zip").name, "zip");
  assert.deepEqual(registry.all("sink").map((s) => s.name), ["tar", "zip"]);
  assert.throws(() => registry.get("sink", "rar"), {
    message: 'Unknown sink "rar" (known: tar, zip)',
  });
  assert.throws(() => registry.get("runtime"), { message: "No runtime plugin is loaded" });
  await assert.rejects(
    () =>
      Registry.create([
        definePlugin({ name: "q", setup: (api) => api.provide("sink", sink("tar")) }),
        definePlugin({ name: "r", setup: (api) => api.provide("sink", sink("tar")) }),
      ]),
    { message: 'plugin "r": sink "tar" is already registered (while setting up)' },
  );
  const { results, errors } = await registry.parallel("command:after", {
    command: "x",
    exitCode: 0,
  });
  assert.equal(results.length, 1);
  assert.deepEqual(errors.map((e) => e.message), ['plugin "p": boom (in command:after)']);
});

Deno.test("disposers run in reverse order, all of them, reporting the first failure", async () => {
  const calls: string[] = [];
  const registry = await Registry.create([
    definePlugin({ name: "a", setup: (api) => api.onDispose(() => void calls.push("a")) }),
    definePlugin({
      name: "b",
      setup(api) {
        api.onDispose(() => {
          calls.push("b");
          throw new Error("stuck");
        });
      },
    }),
  ]);
  await assert.rejects(() => registry.dispose(), {
    message: 'plugin "b": stuck (while cleaning up)',
  });
  assert.deepEqual(calls, ["b", "a"]);
});

Deno.test("a failing setup and a taken command name are errors naming the plugin", async () => {
  await assert.rejects(
    () =>
      Registry.create([
        definePlugin({ name: "bad", setup: () => Promise.reject(new Error("no")) }),
      ]),
    { message: 'plugin "bad": no (while setting up)' },
  );
  const command = { name: "image ls", summary: "", usage: "", run() {} };
  await assert.rejects(
    () =>
      Registry.create([
        definePlugin({ name: "one", setup: (api) => api.provide("command", command) }),
        definePlugin({
          name: "two",
          setup: (api) => api.provide("command", { ...command, name: "x", aliases: ["image ls"] }),
        }),
      ]),
    { message: 'plugin "two": command "image ls" is already registered (while setting up)' },
  );
});
