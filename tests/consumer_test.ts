/**
 * Servin as a dependency: a small project of its own, with Deno's default
 * compiler options (not ours), imports `mod.ts` and `plugin.ts`, type-checks,
 * and runs — opening a store, importing through a plugin of its own, listing,
 * and the memory backend.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { withTempDir } from "./_cli.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;
const PLUGIN = new URL("../plugin.ts", import.meta.url).href;

const PROGRAM = `
import { buildTar } from "servin-tests/_tar.ts";
import { memoryStorage, openServin, ServinError } from "servin";
import { definePlugin, type Plugin, type ImageRecord } from "servin/plugin";

const seen: string[] = [];
const audit: Plugin = definePlugin({
  name: "audit",
  setup(api) {
    api.on("image:commit:before", ({ verb, config }) => {
      config.labels["audited"] = verb;
    });
    api.on("image:commit:after", ({ image }) => void seen.push(image.repo_tags[0] ?? ""));
  },
});

const tar = buildTar([{ name: "hello", body: "hi" }]);
await using servin = await openServin({ root: Deno.args[0], plugins: [audit, memoryStorage()] });
const image: ImageRecord = await servin.importImage({ path: "x", stream: new Blob([tar]).stream() }, "app:1");
const listed = await servin.listImages({ label: ["audited=import"] });
try {
  await servin.getImage("nope");
} catch (err) {
  if (!(err instanceof ServinError) || err.code !== "not-found") throw err;
}
await using memory = await openServin({ root: Deno.args[0] + "-m", storage: "memory", plugins: [memoryStorage()] });
await memory.importImage({ path: "y", stream: new Blob([tar]).stream() }, "mem:1");
console.log(JSON.stringify({ id: image.id, listed: listed.length, seen, memory: (await memory.listImages()).length }));
`;

Deno.test(
  "a project with Deno's default options imports mod.ts and plugin.ts, type-checks and runs",
  withTempDir(async ({ dir }) => {
    const project = join(dir, "project");
    await Deno.mkdir(project);
    // Only an import map: every compiler option is Deno's default.
    await Deno.writeTextFile(
      join(project, "deno.json"),
      JSON.stringify({
        imports: {
          "servin": MOD,
          "servin/plugin": PLUGIN,
          "servin-tests/": new URL("./", import.meta.url).href,
        },
      }),
    );
    await Deno.writeTextFile(join(project, "main.ts"), PROGRAM);
    const deno = (args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args,
        cwd: project,
        env: { DENO_NO_UPDATE_CHECK: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const check = await deno(["check", "--no-lock", "main.ts"]);
    assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
    const root = join(dir, "root");
    const ran = await deno(["run", "--no-lock", "-A", "main.ts", root]);
    assert.equal(ran.code, 0, new TextDecoder().decode(ran.stderr));
    const result = JSON.parse(new TextDecoder().decode(ran.stdout));
    assert.match(result.id, /^[0-9a-f]{64}$/);
    assert.deepEqual(result, { id: result.id, listed: 1, seen: ["app:1"], memory: 1 });
  }),
);
