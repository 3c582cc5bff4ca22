/**
 * Exit codes of failures that are not bugs: a read-only or full file system
 * under the store (a small tmpfs mounted as the root, so these need root)
 * and malformed JSON in an archive are exit 1 with one clear line, and the
 * store is left as it was. Exit 2 stays for bugs.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { listTree, ok, run, withTempDir, writeFixture } from "./_cli.ts";
import { sh } from "./_layout.ts";
import * as oci from "./_oci.ts";
import { buildTar, gzip } from "./_tar.ts";

/** Whether this process can mount a tmpfs: root, and a kernel and sandbox that let it. */
function canMount(): boolean {
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) return false;
  const dir = Deno.makeTempDirSync({ prefix: "servin-mount-probe-" });
  try {
    const r = new Deno.Command("mount", { args: ["-t", "tmpfs", "tmpfs", dir], stderr: "null" })
      .outputSync();
    if (r.code !== 0) return false;
    new Deno.Command("umount", { args: [dir] }).outputSync();
    return true;
  } catch {
    return false;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

// A read-only or full file system can only be made by mounting one, which needs root.
const MOUNTS = canMount();
if (!MOUNTS) console.warn("os_errors_test: not root or cannot mount a tmpfs: mount tests ignored");

/**
 * A test, ignored unless this process can mount, in a fresh tmpfs of `size` mounted at
 * `<dir>/root` whose store already holds `small.tar` imported as `kept`.
 */
function tmpfsTest(
  name: string,
  size: string,
  fn: (places: { dir: string; root: string; small: string }) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: !MOUNTS,
    fn: withTempDir(async ({ dir, root }) => {
      await Deno.mkdir(root);
      await sh("mount", "-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", root);
      try {
        const small = await writeFixture(dir, "small.tar", SMALL);
        await ok(root, ["image", "import", small, "kept"]);
        await fn({ dir, root, small });
      } finally {
        await sh("umount", root);
      }
    }),
  });
}

const SMALL = buildTar([{ name: "etc/", type: "5" }, { name: "etc/hello", body: "hi\n" }]);

function random(n: number): Uint8Array {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  return bytes;
}

tmpfsTest(
  'a read-only store is exit 1 with "read-only file system", and it still lists',
  "8m",
  async ({ root, small }) => {
    const before = await listTree(root);
    await sh("mount", "-o", "remount,ro", root);
    for (const args of [["image", "import", small, "more"], ["image", "rm", "kept"]]) {
      const r = await run(root, args);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^servin: [^\n]*read-only file system: \S+ '\/[^\n]*'\n$/);
    }
    assert.match(await ok(root, ["images"]), /kept/);
    assert.deepEqual(await listTree(root), before);
  },
);

tmpfsTest(
  'a full store is exit 1 with "no space left on device", and nothing changes',
  "1m",
  async ({ dir, root }) => {
    const index = await Deno.readTextFile(join(root, "images", "index.json"));
    const before = await listTree(root);
    const tar = buildTar([{ name: "big", body: random(3 * 1024 * 1024) }]);
    const plain = await writeFixture(dir, "big.tar", tar);
    const gzipped = await writeFixture(dir, "big.tar.gz", await gzip(tar));
    const layoutDir = join(dir, "layout");
    const layout: oci.Layout = await oci.writeImage(layoutDir, [{ tar }]);
    await oci.writeIndex(layoutDir, [oci.manifestDescriptor(layout, { name: "big:1" })]);
    const archive = join(dir, "big-oci.tar");
    await oci.tarDir(layoutDir, archive);
    for (
      const args of [
        ["image", "import", plain, "big"],
        ["image", "import", gzipped, "big"],
        ["image", "load", "-i", archive],
        ["image", "load", "-i", layoutDir],
      ]
    ) {
      const r = await run(root, args);
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^servin: [^\n]*no space left on device[^\n]*\n$/, args.join(" "));
      assert.deepEqual(await listTree(root), before, args.join(" "));
      assert.equal(await Deno.readTextFile(join(root, "images", "index.json")), index);
    }
  },
);

const enc = new TextEncoder();
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Puts `bytes` in the layout's blobs and returns its member name. */
async function putBlob(dir: string, bytes: Uint8Array): Promise<string> {
  const name = `blobs/sha256/${sha256(bytes)}`;
  await Deno.writeFile(join(dir, name), bytes);
  return name;
}

function manifestOf(config: Uint8Array, layout: oci.Layout, layerSize: number): Uint8Array {
  return enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: `sha256:${sha256(config)}`,
      size: config.length,
    },
    layers: [{
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      digest: `sha256:${layout.blobs[0]}`,
      size: layerSize,
    }],
  }));
}

function descriptorOf(manifest: Uint8Array) {
  return {
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: `sha256:${sha256(manifest)}`,
    size: manifest.length,
  };
}

Deno.test(
  "malformed JSON anywhere in an archive is exit 1 naming the file, and loads nothing",
  withTempDir(async ({ dir }) => {
    const bad = enc.encode("{not json");
    /** Each case breaks one file of a good layout (OCI, plus docker's manifest.json). */
    const cases: Record<string, (d: string, l: oci.Layout) => Promise<string>> = {
      "manifest.json": async (d) => {
        await Deno.writeFile(join(d, "manifest.json"), bad);
        return "manifest.json";
      },
      "docker config": async (d, l) => {
        const config = await putBlob(d, bad);
        await Deno.writeTextFile(
          join(d, "manifest.json"),
          JSON.stringify([{
            Config: config,
            RepoTags: ["x:1"],
            Layers: [`blobs/sha256/${l.blobs[0]}`],
          }]),
        );
        return config;
      },
      "index.json": async (d) => {
        await Deno.remove(join(d, "manifest.json"));
        await Deno.writeFile(join(d, "index.json"), bad);
        return "index.json";
      },
      "oci-layout": async (d) => {
        await Deno.remove(join(d, "manifest.json"));
        await Deno.writeFile(join(d, "oci-layout"), bad);
        return "oci-layout";
      },
      "OCI manifest": async (d) => {
        await Deno.remove(join(d, "manifest.json"));
        const manifest = await putBlob(d, bad);
        await oci.writeIndex(d, [descriptorOf(bad)]);
        return manifest;
      },
      "OCI config": async (d, l) => {
        await Deno.remove(join(d, "manifest.json"));
        const config = await putBlob(d, bad);
        const manifest = manifestOf(bad, l, SMALL.length);
        await putBlob(d, manifest);
        await oci.writeIndex(d, [descriptorOf(manifest)]);
        return config;
      },
    };
    for (const [what, breakIt] of Object.entries(cases)) {
      const layoutDir = join(dir, what.replace(/\W/g, "_"));
      const layout = await oci.writeImage(layoutDir, [{ tar: SMALL }]);
      await oci.writeIndex(layoutDir, [oci.manifestDescriptor(layout, { name: "x:1" })]);
      await oci.writeDockerManifest(layoutDir, layout, ["x:1"]);
      const file = await breakIt(layoutDir, layout);
      const archive = `${layoutDir}.tar`;
      await oci.tarDir(layoutDir, archive);
      for (const input of [archive, layoutDir]) {
        const root = join(dir, "root");
        const r = await run(root, ["image", "load", "-i", input]);
        assert.equal(r.code, 1, `${what}: ${r.stderr}`);
        assert.ok(r.stderr.includes(`"${file}" is not valid JSON`), `${what}: ${r.stderr}`);
        assert.equal(r.stderr.split("\n").length, 2, r.stderr);
        assert.equal(await ok(root, ["images", "-q"]), "");
      }
    }
  }),
);

tmpfsTest(
  "load stages only what an archive references: a large member nobody names never reaches the store",
  "2m",
  async ({ dir, root }) => {
    const image = join(dir, "image");
    const layout = await oci.writeImage(image, [{ tar: SMALL }]);
    await oci.writeDockerManifest(image, layout, ["junk:1"]);
    // Larger than the whole store's file system: staged, it could only fail.
    await Deno.writeFile(join(image, "junk.bin"), random(3 * 1024 * 1024));
    const archive = join(dir, "junk.tar");
    await oci.tarDir(image, archive);
    const compressed = await writeFixture(
      dir,
      "junk.tar.gz",
      await gzip(await Deno.readFile(archive)),
    );
    for (const input of [archive, compressed]) {
      assert.equal((await ok(root, ["image", "load", "-i", input])).trim(), "Loaded image: junk:1");
      assert.deepEqual(await listTree(join(root, "tmp")), []);
    }
  },
);

Deno.test(
  "a root that is a file is exit 1 with one line, for --root and SERVIN_ROOT, and stays as it was",
  withTempDir(async ({ dir }) => {
    const file = join(dir, "not-a-dir");
    await Deno.writeTextFile(file, "keep\n");
    for (const [args, env] of [[["--root", file], {}], [[], { SERVIN_ROOT: file }]] as const) {
      for (const command of [["image", "ls"], ["ps", "-a"], ["volume", "ls"]]) {
        const r = await run(join(dir, "unused"), [...args, ...command], { env });
        assert.equal(r.code, 1, `${args} ${command}: ${r.stderr}`);
        assert.equal(r.stderr.split("\n").length, 2, r.stderr);
        assert.ok(
          r.stderr.startsWith(`servin: Cannot use "${file}" as the Servin root: `),
          r.stderr,
        );
      }
    }
    assert.equal(await Deno.readTextFile(file), "keep\n");
  }),
);
