/**
 * Limits of import. The hostile and broken layers every verb refuses are in
 * `hostile_layers_test.ts`.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { openServin, ServinError } from "../mod.ts";
import { listTree, tempDir, writeFixture } from "./_cli.ts";
import { buildTar, type FixtureEntry } from "./_tar.ts";

const file = (name: string, body = "x"): FixtureEntry => ({ name, body });

Deno.test("import caps the number of entries", async () => {
  const [dir, cleanup] = await tempDir();
  const servin = await openServin({ root: join(dir, "root"), limits: { maxEntries: 10 } });
  try {
    const entries = Array.from({ length: 11 }, (_, i) => file(`f${i}`));
    const path = await writeFixture(dir, "many.tar", buildTar(entries));
    await assert.rejects(
      () => servin.importImage(path, "many"),
      (err: unknown) =>
        err instanceof ServinError && err.code === "limit-exceeded" &&
        err.message === `Cannot import "${path}": the archive has more than 10 entries`,
    );
    const ten = await writeFixture(dir, "ten.tar", buildTar(entries.slice(0, 10)));
    assert.equal((await servin.importImage(ten, "ten")).repo_tags[0], "ten:latest");
    assert.equal((await servin.listImages()).length, 1);
    assert.deepEqual(await listTree(join(dir, "root", "tmp")), []);
  } finally {
    await servin.close();
    await cleanup();
  }
});
