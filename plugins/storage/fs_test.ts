import assert from "node:assert/strict";
import { join } from "node:path";
import { IndexFile, isStaged, stage, sweepStaging } from "./fs.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "servin-containers-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const asNumber = (v: unknown) => {
  if (typeof v !== "number") throw new Error("not a number");
  return v;
};

Deno.test("index transactions run one at a time, and a failed one writes nothing", async () => {
  await withDir(async (dir) => {
    const index = new IndexFile(join(dir, "index.json"), join(dir, "index.lock"), asNumber);
    assert.deepEqual(await index.read(), []);
    // Each reads, yields, then writes: without the lock, appends would be lost.
    await Promise.all(Array.from({ length: 20 }, (_, i) =>
      index.transaction(async (records) => {
        await new Promise((r) => setTimeout(r, 1));
        records.push(i);
      })));
    assert.deepEqual((await index.read()).sort((a, b) => a - b), [...Array(20).keys()]);
    await assert.rejects(() =>
      index.transaction((records) => {
        records.length = 0;
        throw new Error("changed my mind");
      })
    );
    assert.equal((await index.read()).length, 20);
    // What a writer that died mid-write left is swept by the next transaction.
    await Deno.writeTextFile(join(dir, ".write-index.json-dead"), "[");
    await index.transaction(() => {});
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "index.json",
      "index.lock",
    ]);
  });
});

Deno.test("an index that is not a JSON array of valid records is refused with its path", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "index.json");
    const index = new IndexFile(path, join(dir, "index.lock"), asNumber);
    await Deno.writeTextFile(path, "{");
    await assert.rejects(() => index.read(), { code: "invalid-argument" });
    await Deno.writeTextFile(path, '["x"]');
    await assert.rejects(() => index.read(), /not a number/);
  });
});

Deno.test("staging is swept only once its owner is gone", async () => {
  await withDir(async (tmp) => {
    const live = await stage(tmp, "ctr-live");
    await Deno.writeTextFile(join(live.path, "f"), "x");
    // A dead owner: its lock file is there but nobody holds it.
    await Deno.mkdir(join(tmp, "ctr-dead"));
    await Deno.writeTextFile(join(tmp, "ctr-dead.lock"), "");
    await Deno.mkdir(join(tmp, "other"));
    await Deno.writeTextFile(join(tmp, "other.lock"), "");
    assert.equal(await isStaged(tmp, "ctr-live"), true);
    assert.equal(await isStaged(tmp, "ctr-dead"), false);
    await sweepStaging(tmp, ["ctr-"]);
    const names = () => [...Deno.readDirSync(tmp)].map((e) => e.name).sort();
    assert.deepEqual(names(), ["ctr-live", "ctr-live.lock", "other", "other.lock"]);
    await live.release();
    assert.deepEqual(names(), ["other", "other.lock"]);
    assert.equal(await isStaged(tmp, "ctr-live"), false);
  });
});
