/**
 * Hostile OCI layout directories: a blob, `index.json` or the blobs folder
 * that is a symlink (to the host's `/etc/passwd`, to `/dev/zero`, out of the
 * layout), a FIFO or a device. `image load` refuses each with one line naming
 * the file, exit 1, and leaves the store as it was; nothing hangs.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { listTree, ok, run, tempDir } from "./_cli.ts";
import { type Layout, manifestDescriptor, writeImage, writeIndex } from "./_oci.ts";
import { buildTar } from "./_tar.ts";

const isRoot = Deno.uid() === 0;

interface Case {
  name: string;
  /** Root only (mknod of a device). */
  root?: boolean;
  /** Spoils the fresh layout at `dir`; `outside` is a scratch directory beside it. */
  spoil(dir: string, layout: Layout, outside: string): void;
  /** Fragments the error line must contain. */
  expect: string[];
}

const layer = (layout: Layout) => `blobs/sha256/${layout.blobs[0]}`;

function replace(dir: string, rel: string, make: (path: string) => void): void {
  Deno.removeSync(join(dir, rel));
  make(join(dir, rel));
}

function sh(cmd: string, args: string[]): void {
  const out = new Deno.Command(cmd, { args, stderr: "piped" }).outputSync();
  if (!out.success) throw new Error(`${cmd}: ${new TextDecoder().decode(out.stderr)}`);
}

const CASES: Case[] = [
  {
    name: "a layer blob that is a symlink to /etc/passwd",
    spoil: (dir, l) => replace(dir, layer(l), (p) => Deno.symlinkSync("/etc/passwd", p)),
    expect: [`the layout's "blobs/sha256/`, '" is a symlink'],
  },
  {
    name: "a layer blob that is a symlink to /dev/zero",
    spoil: (dir, l) => replace(dir, layer(l), (p) => Deno.symlinkSync("/dev/zero", p)),
    expect: ['" is a symlink'],
  },
  {
    name: "the config blob as a relative symlink to a copy of itself",
    spoil: (dir, l) => {
      const blob = join(dir, "blobs", "sha256", l.config);
      Deno.copyFileSync(blob, join(dir, "copy"));
      replace(dir, `blobs/sha256/${l.config}`, (p) => Deno.symlinkSync("../../copy", p));
    },
    expect: [`the layout's "blobs/sha256/`, '" is a symlink'],
  },
  {
    name: "index.json that is a symlink out of the layout",
    spoil: (dir, _l, outside) => {
      Deno.copyFileSync(join(dir, "index.json"), join(outside, "index.json"));
      replace(dir, "index.json", (p) => Deno.symlinkSync(join(outside, "index.json"), p));
    },
    expect: [`the layout's "index.json" is a symlink`],
  },
  {
    name: "a blobs folder that is a symlink out of the layout",
    spoil: (dir, _l, outside) => {
      Deno.renameSync(join(dir, "blobs"), join(outside, "blobs"));
      Deno.symlinkSync(join(outside, "blobs"), join(dir, "blobs"));
    },
    expect: ['is under the symlink "blobs"'],
  },
  {
    name: "a layer blob that is a FIFO",
    spoil: (dir, l) => replace(dir, layer(l), (p) => sh("mkfifo", [p])),
    expect: ['" is a FIFO, not a regular file'],
  },
  {
    name: "a layer blob that is a character device like /dev/zero",
    root: true,
    spoil: (dir, l) => replace(dir, layer(l), (p) => sh("mknod", [p, "c", "1", "5"])),
    expect: ['" is a character device, not a regular file'],
  },
  {
    name: "a manifest blob that is a directory",
    spoil: (dir, l) => replace(dir, `blobs/sha256/${l.manifest}`, (p) => Deno.mkdirSync(p)),
    expect: [`the layout's "blobs/sha256/`, '" is a directory, not a regular file'],
  },
];

async function goodLayout(dir: string): Promise<Layout> {
  const tar = buildTar([{ name: "etc/", type: "5" }, { name: "etc/hostname", body: "box\n" }]);
  const layout = await writeImage(dir, [{ tar, compression: "gzip" }]);
  await writeIndex(dir, [manifestDescriptor(layout, { name: "example.com/hostile:1" })]);
  return layout;
}

Deno.test("load refuses a layout directory with symlinked, FIFO or device files and changes nothing", async (t) => {
  const [dir, cleanup] = await tempDir();
  try {
    const root = join(dir, "root");
    // A store with one image in it, and a layout that loads: the control.
    const good = join(dir, "good");
    await goodLayout(good);
    assert.equal(
      await ok(root, ["image", "load", "-i", good]),
      "Loaded image: example.com/hostile:1\n",
    );
    await ok(root, ["image", "rm", "example.com/hostile:1"]);
    const other = join(dir, "other");
    await writeIndex(other, [
      manifestDescriptor(
        await writeImage(other, [{ tar: buildTar([{ name: "a", body: "a" }]) }]),
        { name: "example.com/other:1" },
      ),
    ]);
    await ok(root, ["image", "load", "-i", other]);
    const index = await Deno.readTextFile(join(root, "images", "index.json"));
    const tree = await listTree(root);

    for (const [i, c] of CASES.entries()) {
      await t.step({
        name: c.name,
        ignore: c.root === true && !isRoot,
        fn: async () => {
          const layoutDir = join(dir, `case${i}`);
          const outside = join(dir, `outside${i}`);
          await Deno.mkdir(outside);
          const layout = await goodLayout(layoutDir);
          c.spoil(layoutDir, layout, outside);
          const r = await run(root, ["image", "load", "-i", layoutDir]);
          assert.equal(r.code, 1, r.stderr);
          const lines = r.stderr.trimEnd().split("\n");
          assert.equal(lines.length, 1, r.stderr);
          assert.ok(lines[0]!.startsWith("servin: "), lines[0]);
          for (const e of c.expect) assert.ok(lines[0]!.includes(e), `"${e}" not in: ${lines[0]}`);
          assert.equal(r.stdout, "");
          assert.equal(await Deno.readTextFile(join(root, "images", "index.json")), index);
          assert.deepEqual(await listTree(root), tree);
        },
      });
    }
  } finally {
    await cleanup();
  }
});
