import assert from "node:assert/strict";
import { join } from "node:path";
import { configuredPlugins, splitPluginList } from "./_plugin_loader.ts";

Deno.test("SERVIN_PLUGINS splits on the path separator and keeps URLs whole", () => {
  assert.deepEqual(
    splitPluginList("./a.ts:https://example.com/b.ts::/abs/c.ts:file:///d.ts", ":"),
    ["./a.ts", "https://example.com/b.ts", "/abs/c.ts", "file:///d.ts"],
  );
  assert.deepEqual(splitPluginList("C:\\p\\a.ts;https://x/b.ts", ";"), [
    "C:\\p\\a.ts",
    "https://x/b.ts",
  ]);
});

Deno.test("config.json lists plugins; none without it; a bad one is a one-line error", async () => {
  const root = await Deno.makeTempDir();
  try {
    assert.deepEqual(await configuredPlugins(root), []);
    const file = join(root, "config.json");
    await Deno.writeTextFile(file, JSON.stringify({ plugins: ["./a.ts", "https://x/b.ts"] }));
    assert.deepEqual(await configuredPlugins(`${root}/`), ["./a.ts", "https://x/b.ts"]);
    await Deno.writeTextFile(file, "{");
    await assert.rejects(() => configuredPlugins(root), { message: `${file} is not valid JSON` });
    await Deno.writeTextFile(file, JSON.stringify({ plugins: [1] }));
    await assert.rejects(() => configuredPlugins(root), {
      message: `${file}: "plugins" must be a list of paths or URLs`,
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name: "config.json is used only when it, the root and its plugins are writable by no one else",
  ignore: Deno.build.os === "windows", // no owners or mode bits there
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const root = join(dir, "root");
      const plugins = join(dir, "plugins");
      await Deno.mkdir(root, { mode: 0o700 });
      await Deno.mkdir(plugins, { mode: 0o755 });
      const plugin = join(plugins, "p.ts");
      await Deno.writeTextFile(plugin, "export default {};");
      const file = join(root, "config.json");
      await Deno.writeTextFile(file, JSON.stringify({ plugins: [plugin, "https://x/b.ts"] }));
      await Deno.chmod(file, 0o644);
      await Deno.chmod(plugin, 0o644);
      assert.deepEqual(await configuredPlugins(root), [plugin, "https://x/b.ts"]);

      const refused = async (path: string, mode: number, why: RegExp) => {
        const before = (await Deno.stat(path)).mode! & 0o7777;
        await Deno.chmod(path, mode);
        try {
          await assert.rejects(() => configuredPlugins(root), (err: Error) => {
            assert.match(err.message, why);
            assert.match(err.message, /chmod go-w .*--plugin or SERVIN_PLUGINS/);
            assert.ok(err.message.startsWith(`Refusing to load plugins from ${file}: `));
            assert.ok(!err.message.includes("\n"));
            return true;
          });
        } finally {
          await Deno.chmod(path, before);
        }
      };
      await refused(file, 0o666, /: it is writable by others \(mode 0666\)/);
      await refused(file, 0o664, /: it is writable by its group/);
      await refused(root, 0o777, /its directory ".*root" is writable by others/);
      await refused(plugin, 0o664, /the plugin ".*p\.ts" it names is writable by its group/);
      await refused(plugins, 0o775, /the directory of the plugin ".*p\.ts" is writable/);
      // A sticky directory (like /tmp): only the owner can replace the plugin there.
      await Deno.chmod(plugins, 0o1777);
      assert.deepEqual(await configuredPlugins(root), [plugin, "https://x/b.ts"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "config.json or a plugin it names owned by another user is refused",
  ignore: Deno.uid() !== 0, // only root can give a file to another user
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const plugin = join(dir, "p.ts");
      await Deno.writeTextFile(plugin, "export default {};");
      const file = join(dir, "config.json");
      await Deno.writeTextFile(file, JSON.stringify({ plugins: [plugin] }));
      for (const path of [file, plugin, dir]) {
        await Deno.chown(path, 1234, 1234);
        await assert.rejects(() => configuredPlugins(dir), {
          message: new RegExp(
            `is owned by uid 1234, not by you \\(uid 0\\) or root; make it yours \\(chown 0 ${path}\\)`,
          ),
        });
        await Deno.chown(path, 0, 0);
      }
      assert.deepEqual(await configuredPlugins(dir), [plugin]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
