/**
 * The store under concurrent processes and crashes: no entry is lost, the
 * index never tears, and a killed import leaves nothing a later command trusts.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { listTree, ok, run, withTempDir, writeFixture } from "./_cli.ts";
import { buildTar } from "./_tar.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

function readIndex(root: string): Promise<string> {
  return Deno.readTextFile(join(root, "images", "index.json"));
}

/**
 * Imports a one-file tarball as `ref`; returns the tarball and the index
 * as it then is, which what the test does next must leave as it was.
 */
async function importOne(
  dir: string,
  root: string,
  ref: string,
): Promise<{ tarball: string; index: string }> {
  const tarball = await writeFixture(dir, "rootfs.tar", buildTar([{ name: "f", body: "f" }]));
  await ok(root, ["image", "import", tarball, ref]);
  return { tarball, index: await readIndex(root) };
}

Deno.test(
  "concurrent imports, tags and removals in separate processes lose nothing",
  withTempDir(async ({ dir, root }) => {
    const shared = await writeFixture(
      dir,
      "shared.tar",
      buildTar([{ name: "same", body: "same" }]),
    );
    const paths = await Promise.all(
      Array.from(
        { length: 6 },
        (_, i) => writeFixture(dir, `own${i}.tar`, buildTar([{ name: `own${i}`, body: `${i}` }])),
      ),
    );
    await ok(root, ["image", "import", shared, "victim:1"]);
    const results = await Promise.all([
      ...paths.map((p, i) => run(root, ["image", "import", p, `own:${i}`])),
      ...[0, 1, 2].map((i) => run(root, ["image", "import", shared, `shared:${i}`])),
      run(root, ["rmi", "victim:1"]), // shares its layer with the concurrent shared:* imports
      run(root, ["tag", "victim:1", "victim:2"]),
    ]);
    for (const r of results.slice(0, 9)) assert.equal(r.code, 0, r.stderr);
    assert.equal(results[9]!.code, 0, results[9]!.stderr);

    const images = JSON.parse(await readIndex(root));
    const tags = images.flatMap((i: { repo_tags: string[] }) => i.repo_tags).sort();
    const expected = [
      ...paths.map((_, i) => `own:${i}`),
      ...[0, 1, 2].map((i) => `shared:${i}`),
    ];
    // victim:2 exists only if the tag won the race against the removal.
    assert.deepEqual(tags.filter((t: string) => !t.startsWith("victim")), expected.sort());
    // Every image's layer is present and complete, whatever order the processes ran in.
    for (const img of images) {
      for (const layer of img.layers) {
        const files = await listTree(join(root, "images", "layers", layer));
        assert.equal(files.length, 1, `${img.repo_tags} layer ${layer}`);
      }
    }
    assert.deepEqual(await listTree(join(root, "tmp")), []);
  }),
);

Deno.test(
  "a killed import leaves no image, and the next command sweeps its staging",
  withTempDir(async ({ dir, root }) => {
    const { tarball, index } = await importOne(dir, root, "kept");

    // A slow input: stdin we feed by hand, so the import is surely mid-way when killed.
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "image", "import", "-", "doomed"],
      env: { SERVIN_ROOT: root },
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const writer = child.stdin.getWriter();
    const big = buildTar([{ name: "big", body: new Uint8Array(8 * 1024 * 1024) }], { end: false });
    await writer.write(big.subarray(0, 4 * 1024 * 1024));
    for (let i = 0; i < 100; i++) {
      const staged = (await listTree(join(root, "tmp"))).filter((p) => p.startsWith("layer-"));
      if (staged.some((p) => p.endsWith("/big"))) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const staged = await listTree(join(root, "tmp"));
    assert.ok(staged.some((p) => p.endsWith("/big")), `import was mid-way: ${staged}`);
    child.kill("SIGKILL");
    await child.status;
    await writer.abort().catch(() => {});

    assert.equal(await readIndex(root), index);
    const list = await ok(root, ["images", "-q"]);
    assert.equal(list.split("\n").filter(Boolean).length, 1);
    await ok(root, ["image", "import", tarball, "next"]);
    assert.deepEqual(await listTree(join(root, "tmp")), []);
  }),
);

Deno.test(
  "a writer waiting for the store lock says who holds it, and gives up after SERVIN_LOCK_TIMEOUT",
  withTempDir(async ({ dir, root }) => {
    const { tarball, index } = await importOne(dir, root, "first:1");
    // Another process holds the lock, as a hung writer would: this test process.
    const lock = await Deno.open(join(root, "images", "index.lock"), { read: true, write: true });
    try {
      await lock.lock(true);
      await lock.truncate(0);
      await lock.write(new TextEncoder().encode(`${Deno.pid}\n`));
      const waited = await run(root, ["image", "import", tarball, "second:1"], {
        env: { SERVIN_LOCK_TIMEOUT: "3" },
      });
      assert.equal(waited.code, 1, waited.stderr);
      const lines = waited.stderr.trimEnd().split("\n");
      assert.equal(lines[0], `servin: warning: waiting for the store lock held by PID ${Deno.pid}`);
      assert.match(
        lines.at(-1)!,
        /^servin: (Cannot import .*: )?Gave up waiting for the store lock \(.*\) after 3 s$/,
      );
      const bad = await run(root, ["images"], { env: { SERVIN_LOCK_TIMEOUT: "soon" } });
      assert.equal(bad.code, 1);
      assert.equal(
        bad.stderr,
        "servin: SERVIN_LOCK_TIMEOUT must be a positive number of seconds\n",
      );
    } finally {
      lock.close();
    }
    assert.equal(await readIndex(root), index);
    assert.deepEqual(await listTree(join(root, "tmp")), []);
  }),
);
