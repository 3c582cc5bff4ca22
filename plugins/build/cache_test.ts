import assert from "node:assert/strict";
import { BuildCache } from "./_cache.ts";

Deno.test("the build cache keeps entries between instances and drops those of gone images", async () => {
  const root = await Deno.makeTempDir();
  try {
    const [k1, k2, a, b] = ["1", "2", "a", "b"].map((c) => c.repeat(64));
    await new BuildCache(root).set(k1!, a!);
    await new BuildCache(root).set(k2!, b!);
    const cache = new BuildCache(root);
    assert.equal(await cache.get(k1!), a);
    await cache.retain(new Set([b!]));
    assert.equal(await cache.get(k1!), undefined);
    assert.equal(await cache.get(k2!), b);
    // A damaged file is an empty cache, not an error.
    await Deno.writeTextFile(`${root}/build/cache.json`, "{not json");
    assert.equal(await cache.get(k2!), undefined);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
