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
