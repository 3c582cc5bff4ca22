/**
 * Hostile and broken archives: each is refused with one clear line naming
 * the problem, a non-zero exit, nothing written outside the store and the
 * store exactly as it was.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { openServin, ServinError } from "../mod.ts";
import { listTree, ok, run, withTempDir, writeFixture } from "./_cli.ts";
import { buildTar, type FixtureEntry } from "./_tar.ts";

interface Case {
  name: string;
  /** Archive bytes; `OUTSIDE` in names and targets is replaced by a canary directory. */
  data: (outside: string) => Uint8Array;
  /** Fragments the error line must contain. */
  expect: string[];
}

const tar = (entries: FixtureEntry[], options?: { end?: boolean }) => () =>
  buildTar(entries, options);
const file = (name: string, body = "x"): FixtureEntry => ({ name, body });

const CASES: Case[] = [
  { name: "an absolute name", data: tar([file("/etc/evil")]), expect: ['"/etc/evil"', "absolute"] },
  { name: "a .. component", data: tar([file("../evil")]), expect: ['"../evil"', "escapes"] },
  {
    name: "a .. component deeper down",
    data: tar([file("a/b/../../../evil")]),
    expect: ['"a/b/../../../evil"', "escapes"],
  },
  {
    name: "a file under a planted absolute symlink",
    data: (outside) =>
      buildTar([{ name: "link", type: "2", linkname: outside }, file("link/evil")]),
    expect: ['"link/evil"', 'parent "link" that is a symlink'],
  },
  {
    name: "a file under a planted relative symlink",
    data: tar([{ name: "up", type: "2", linkname: "../../../../.." }, file("up/tmp/evil")]),
    expect: ['"up/tmp/evil"', "symlink"],
  },
  {
    name: "a directory under a nested planted symlink",
    data: (outside) =>
      buildTar([
        { name: "d/", type: "5" },
        { name: "d/l", type: "2", linkname: outside },
        { name: "d/l/sub/", type: "5" },
      ]),
    expect: ['"d/l/sub/"', 'parent "d/l"'],
  },
  {
    name: "a hardlink to a path outside the root",
    data: tar([{ name: "h", type: "1", linkname: "../../etc/passwd" }]),
    expect: ['"h"', "escapes"],
  },
  {
    name: "a hardlink to an absolute path",
    data: tar([{ name: "h", type: "1", linkname: "/etc/passwd" }]),
    expect: ['"h"', "absolute"],
  },
  {
    name: "a hardlink to a missing entry",
    data: tar([{ name: "h", type: "1", linkname: "nope" }]),
    expect: ['"h"', '"nope"', "not in the archive"],
  },
  {
    name: "a hardlink through a symlinked path",
    data: (outside) =>
      buildTar([
        { name: "s", type: "2", linkname: outside },
        { name: "h", type: "1", linkname: "s/canary" },
      ]),
    expect: ['"h"', 'parent "s" that is a symlink'],
  },
  {
    name: "a symlink that would replace the root",
    data: tar([{ name: "./", type: "2", linkname: "/" }]),
    expect: ["would replace the image root"],
  },
  {
    name: "a file that would replace the root",
    data: tar([file(".")]),
    expect: ["would replace the image root"],
  },
  {
    name: "an unknown entry type",
    data: tar([{ name: "vol", type: "V" }]),
    expect: ['unsupported entry type "V"'],
  },
  {
    name: "a GNU sparse file",
    data: tar([{ name: "sparse", type: "S", body: "x" }]),
    expect: ["GNU sparse"],
  },
  {
    name: "a pax sparse file",
    data: tar([{ ...file("sparse"), pax: { "GNU.sparse.major": "1" } }]),
    expect: ["sparse"],
  },
  {
    name: "a malformed whiteout",
    data: tar([{ name: "etc/.wh..wh.evil", body: "" }]),
    expect: ['"etc/.wh..wh.evil"', "malformed whiteout"],
  },
  {
    name: "a whiteout of the parent directory",
    data: tar([{ name: "etc/.wh...", body: "" }]),
    expect: ['"etc/.wh..."', "malformed whiteout"],
  },
  {
    name: "a whiteout that is not a regular file",
    data: tar([{ name: "etc/.wh.passwd", type: "5" }]),
    expect: ['"etc/.wh.passwd"', "whiteout but not a regular file"],
  },
  {
    name: "a truncated archive",
    data: () => buildTar([file("big", "y".repeat(5000))]).subarray(0, 2048),
    expect: ["truncated"],
  },
  {
    name: "an archive without its end marker",
    data: tar([file("a")], { end: false }),
    expect: ["truncated"],
  },
  {
    name: "a corrupt header",
    data: () => {
      const data = buildTar([file("a"), file("b")]);
      data[1024 + 10] = 0x7f;
      return data;
    },
    expect: ["checksum"],
  },
  {
    name: "corrupt gzip data",
    data: () => {
      const gz = gzipSync(buildTar([file("a", "z".repeat(100_000))]));
      gz.fill(0x55, 40, 80);
      return gz;
    },
    expect: ["corrupt gzip data"],
  },
  {
    name: "truncated gzip data",
    data: () => {
      const gz = gzipSync(buildTar([file("a", "q".repeat(100_000))]));
      return gz.subarray(0, gz.length - 30);
    },
    expect: ["gzip"],
  },
  {
    name: "bzip2 data",
    data: () => new TextEncoder().encode("BZh91AY&SY" + "\0".repeat(600)),
    expect: ["bzip2 compression is not supported"],
  },
  {
    name: "something that is not a tar archive",
    data: () => new TextEncoder().encode("hello, I am a text file\n".repeat(50)),
    expect: ["not a tar archive"],
  },
  {
    name: "an empty file",
    data: () => new Uint8Array(0),
    expect: ["not a tar archive"],
  },
  {
    name: "an oversized pax header",
    data: tar([{ ...file("a"), pax: { comment: "c".repeat(1024 * 1024 + 10) } }]),
    expect: ["pax header", "exceeds the limit"],
  },
  {
    name: "a name that is not UTF-8",
    data: () => {
      const data = buildTar([file("abc")]);
      data[1] = 0xff;
      let sum = 0;
      data.fill(32, 148, 156);
      for (const b of data.subarray(0, 512)) sum += b;
      data.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
      return data;
    },
    expect: ["not valid UTF-8"],
  },
];

Deno.test(
  "import refuses hostile and broken archives and leaves the store as it was",
  withTempDir(async ({ dir, root, t }) => {
    const outside = join(dir, "outside");
    await Deno.mkdir(outside);
    await Deno.writeTextFile(join(outside, "canary"), "canary");
    const good = await writeFixture(dir, "good.tar", buildTar([file("ok", "fine")]));
    await ok(root, ["image", "import", good, "good:1"]);
    const index = await Deno.readTextFile(join(root, "images", "index.json"));
    const tree = await listTree(root);

    for (const c of CASES) {
      await t.step(c.name, async () => {
        const path = await writeFixture(dir, "bad.tar", c.data(outside));
        const r = await run(root, ["image", "import", path, "bad:1"]);
        assert.equal(r.code, 1, r.stderr);
        const lines = r.stderr.trimEnd().split("\n");
        assert.equal(lines.length, 1, r.stderr);
        assert.ok(lines[0]!.startsWith(`servin: Cannot import "${path}": `), lines[0]);
        for (const e of c.expect) assert.ok(lines[0]!.includes(e), `"${e}" not in: ${lines[0]}`);
        assert.equal(await Deno.readTextFile(join(root, "images", "index.json")), index);
        assert.deepEqual(await listTree(root), tree);
        assert.deepEqual(await listTree(outside), ["canary"]);
        assert.equal(await Deno.readTextFile(join(outside, "canary")), "canary");
      });
    }
  }),
);

Deno.test(
  "import caps the number of entries",
  withTempDir(async ({ dir, root }) => {
    await using servin = await openServin({ root, limits: { maxEntries: 10 } });
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
    assert.deepEqual(await listTree(join(root, "tmp")), []);
  }),
);
