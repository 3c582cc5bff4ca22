/**
 * `image load | save | export | history | prune` and `system df` on archives
 * the tests build themselves: every compression, multi-platform indexes,
 * broken digests, shared layers. No root and no external tool but GNU tar.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { listTree, ok, run, sha256, withTempDir, writeFixture } from "./_cli.ts";
import * as oci from "./_oci.ts";
import { buildTar } from "./_tar.ts";

const BASE = buildTar([
  { name: "etc/", type: "5" },
  { name: "etc/os-release", body: "NAME=base\n" },
  { name: "etc/gone", body: "deleted above\n" },
  { name: "usr/", type: "5" },
  { name: "usr/lib/", type: "5" },
  { name: "usr/lib/libx.so", body: "x".repeat(5000) },
]);
const MIDDLE = buildTar([
  { name: "etc/", type: "5" },
  { name: "etc/.wh.gone", body: "" },
  { name: "app/", type: "5" },
  { name: "app/run", body: "#!/bin/sh\necho app\n", mode: 0o755 },
]);
const TOP = buildTar([{ name: "app/config", body: "debug=false\n" }]);

async function exportedNames(root: string, image: string, dir: string): Promise<string[]> {
  const out = join(dir, `export-${sha256(new TextEncoder().encode(image)).slice(0, 8)}.tar`);
  await ok(root, ["image", "export", image, "-o", out]);
  const list = await new Deno.Command("tar", { args: ["-tf", out], stdout: "piped" }).output();
  return new TextDecoder().decode(list.stdout).trim().split("\n").sort();
}

Deno.test(
  "load takes plain, gzip and zstd layers, applies whiteouts, and keeps the archive's digests",
  withTempDir(async ({ dir, root }) => {
    const layoutDir = join(dir, "layout");
    const layout = await oci.writeImage(layoutDir, [
      { tar: BASE, compression: "none" },
      { tar: MIDDLE, compression: "gzip" },
      { tar: TOP, compression: "zstd" },
    ]);
    await oci.writeIndex(layoutDir, [
      oci.manifestDescriptor(layout, { name: "example.com/app:1" }),
    ]);
    const archive = join(dir, "app.tar");
    await oci.tarDir(layoutDir, archive);

    assert.equal(
      await ok(root, ["image", "load", "-i", archive]),
      "Loaded image: example.com/app:1\n",
    );
    const [image] = JSON.parse(await ok(root, ["image", "inspect", "example.com/app:1"]));
    assert.equal(image.id, layout.config);
    assert.deepEqual(image.layers, layout.diffIds);
    assert.equal(image.manifest, layout.manifest);
    assert.equal(image.metadata.source, "oci-archive");
    assert.deepEqual(await exportedNames(root, "example.com/app:1", dir), [
      "./",
      "./app/",
      "./app/config",
      "./app/run",
      "./etc/",
      "./etc/os-release",
      "./usr/",
      "./usr/lib/",
      "./usr/lib/libx.so",
    ]);
    // oci-archive keeps every blob as received: same manifest, same layer digests.
    const saved = join(dir, "saved.tar");
    await ok(root, ["image", "save", "--format", "oci-archive", "-o", saved, "example.com/app:1"]);
    const x = join(dir, "x");
    await Deno.mkdir(x);
    await new Deno.Command("tar", { args: ["-xf", saved, "-C", x] }).output();
    const index = JSON.parse(await Deno.readTextFile(join(x, "index.json")));
    assert.equal(index.manifests[0].digest, `sha256:${layout.manifest}`);
    for (const b of [...layout.blobs, layout.config, layout.manifest]) {
      assert.equal(sha256(await Deno.readFile(join(x, "blobs", "sha256", b))), b);
    }
    // History comes from the config.
    assert.match(
      await ok(root, ["image", "history", "example.com/app:1"]),
      /step 2[\s\S]*step 1[\s\S]*step 0/,
    );
  }),
);

Deno.test(
  "load from a docker-archive on stdin; save as docker-archive reproduces its layer digests",
  withTempDir(async ({ dir, root }) => {
    const d = join(dir, "docker");
    const layout = await oci.writeImage(d, [{ tar: BASE }, { tar: MIDDLE }]);
    await oci.writeDockerManifest(d, layout, ["app:1", "app:latest"]);
    await Deno.writeTextFile(join(d, "repositories"), "{}");
    const archive = join(dir, "docker.tar");
    await oci.tarDir(d, archive);
    const loaded = await run(root, ["load"], { stdin: await Deno.readFile(archive) });
    assert.equal(loaded.stdout, "Loaded image: app:1\nLoaded image: app:latest\n", loaded.stderr);
    const saved = join(dir, "saved.tar");
    await ok(root, ["save", "--format", "docker-archive", "-o", saved, layout.config.slice(0, 12)]);
    const manifest = JSON.parse(
      new TextDecoder().decode(
        (await new Deno.Command("tar", { args: ["-xOf", saved, "manifest.json"], stdout: "piped" })
          .output())
          .stdout,
      ),
    );
    assert.deepEqual(manifest[0].RepoTags, ["app:1", "app:latest"], "saved by ID: all its tags");
    assert.deepEqual(manifest[0].Layers, layout.blobs.map((b) => `blobs/sha256/${b}`));
    assert.equal(manifest[0].Config, `blobs/sha256/${layout.config}`);
  }),
);

Deno.test(
  "a multi-platform index loads the host's platform, or the one --platform names",
  withTempDir(async ({ dir, root }) => {
    const d = join(dir, "multi");
    const amd = await oci.writeImage(d, [{ tar: BASE }], { cmd: ["amd64"] });
    const arm = await oci.writeImage(d, [{ tar: TOP }], { cmd: ["arm64"] });
    await oci.writeMultiPlatformLayout(d, arm, amd, "multi/app:1");
    const host = Deno.build.arch === "aarch64" ? arm : amd;
    await ok(root, ["load", "-i", d]);
    assert.equal(
      JSON.parse(await ok(root, ["image", "inspect", "multi/app:1"]))[0].id,
      host.config,
    );
    await ok(root, ["load", "--platform", "linux/arm64/v8", "-i", d]);
    assert.equal(JSON.parse(await ok(root, ["image", "inspect", "multi/app:1"]))[0].id, arm.config);
    const none = await run(root, ["load", "--platform", "linux/s390x", "-i", d]);
    assert.equal(none.code, 1);
    assert.match(
      none.stderr,
      /no image for platform linux\/s390x .*linux\/arm64\/v8, linux\/amd64/,
    );
  }),
);

Deno.test(
  "a corrupt blob, a wrong diff_id or the wrong kind of input loads nothing",
  withTempDir(async ({ dir, root }) => {
    const good = join(dir, "good.tar");
    await writeFixture(dir, "good.tar", buildTar([{ name: "f", body: "f" }]));
    await ok(root, ["image", "import", good, "kept:1"]);
    const before = await listTree(root);
    const index = await Deno.readTextFile(join(root, "images", "index.json"));

    const corrupt = join(dir, "corrupt");
    const layout: oci.Layout = await oci.writeImage(corrupt, [{ tar: BASE, compression: "gzip" }, {
      tar: TOP,
    }]);
    await oci.writeIndex(corrupt, [oci.manifestDescriptor(layout, { name: "bad:1" })]);
    const blob = join(corrupt, "blobs", "sha256", layout.blobs[1]!);
    const bytes = await Deno.readFile(blob);
    bytes[bytes.length - 1] = bytes.at(-1)! ^ 1;
    await Deno.writeFile(blob, bytes);

    const wrongDiff = join(dir, "wrongdiff");
    const w = await oci.writeImage(wrongDiff, [{ tar: BASE }, { tar: TOP }], {
      diffIds: [sha256(BASE), sha256(MIDDLE)],
    });
    await oci.writeIndex(wrongDiff, [oci.manifestDescriptor(w, { name: "bad:2" })]);

    // Compressed layers, whose digests the decompression worker takes: a
    // blob that inflates to the right tar but is not the bytes described,
    // and a right blob whose tar is not the diff_id the config says.
    const regzipped = join(dir, "regzipped");
    const r = await oci.writeImage(regzipped, [{ tar: BASE, compression: "gzip" }]);
    await oci.writeIndex(regzipped, [oci.manifestDescriptor(r, { name: "bad:3" })]);
    const blob0 = join(regzipped, "blobs", "sha256", r.blobs[0]!);
    const other = await Deno.readFile(blob0);
    other[9] = other[9]! ^ 1; // the gzip header's OS byte: inflates the same, same size
    await Deno.writeFile(blob0, other);
    const wrongGzDiff = join(dir, "wronggzdiff");
    const g = await oci.writeImage(wrongGzDiff, [{ tar: BASE, compression: "gzip" }], {
      diffIds: [sha256(MIDDLE)],
    });
    await oci.writeIndex(wrongGzDiff, [oci.manifestDescriptor(g, { name: "bad:4" })]);

    const cases: [string, RegExp][] = [
      // Streamed: whichever check meets the damage first refuses it.
      [corrupt, /has digest sha256:[0-9a-f]{64}, expected sha256:|invalid tar header/],
      [wrongDiff, /has diff_id sha256:[0-9a-f]{64}, but the config says sha256:/],
      [regzipped, /has digest sha256:[0-9a-f]{64}, expected sha256:/],
      [wrongGzDiff, /has diff_id sha256:[0-9a-f]{64}, but the config says sha256:/],
      [good, /not an image archive .*use "servin image import"/],
    ];
    for (const [input, message] of cases) {
      const r = await run(root, ["image", "load", "-i", input]);
      assert.equal(r.code, 1, input);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
      assert.deepEqual(await listTree(root), before, input);
      assert.equal(await Deno.readTextFile(join(root, "images", "index.json")), index);
    }

    const archive = join(dir, "archive.tar");
    await oci.tarDir(wrongDiff, archive);
    const imported = await run(root, ["image", "import", archive, "oops:1"]);
    assert.equal(imported.code, 1);
    assert.match(
      imported.stderr,
      /it is an image archive, not a root filesystem: use "servin image load"/,
    );
    assert.deepEqual(await listTree(root), before);
  }),
);

Deno.test(
  "layers are shared between images; df shows shared and unique bytes; prune removes dangling then unused",
  withTempDir(async ({ dir, root }) => {
    const d = join(dir, "two");
    const one = await oci.writeImage(d, [{ tar: BASE }, { tar: MIDDLE }], { cmd: ["one"] });
    const two = await oci.writeImage(d, [{ tar: BASE }, { tar: TOP }], { cmd: ["two"] });
    await oci.writeIndex(d, [
      oci.manifestDescriptor(one, { name: "shared/one:1" }),
      oci.manifestDescriptor(two, { name: "shared/two:1" }),
    ]);
    assert.equal(
      await ok(root, ["load", "-i", d]),
      "Loaded image: shared/one:1\nLoaded image: shared/two:1\n",
    );
    const layers = (await listTree(join(root, "images", "layers"))).filter((p) =>
      /^[0-9a-f]{64}\/$/.test(p)
    );
    assert.equal(layers.length, 3, "the base layer is stored once");
    const json = JSON.parse(await ok(root, ["image", "ls", "--format", "json"]));
    const baseSize = 10 + 14 + 5000;
    for (const img of json) assert.equal(img.shared_size, baseSize);
    const df = JSON.parse(await ok(root, ["system", "df", "--format", "json"]));
    assert.equal(df.images.length, 2);
    assert.match(
      await ok(root, ["system", "df", "-v"]),
      /shared\/one:1\s+[0-9a-f]{12}\s+\S+\s+5.02kB/,
    );

    assert.match(await ok(root, ["image", "prune", "-f"]), /^Total reclaimed space: 0B\n$/);
    await ok(root, ["tag", "shared/two:1", "shared/one:1"]); // `one` loses its only tag
    assert.equal(
      (await ok(root, ["images", "-q", "-f", "dangling=true"])).trim(),
      one.config.slice(0, 12),
    );
    const pruned = await ok(root, ["image", "prune", "-f"]);
    assert.match(
      pruned,
      new RegExp(`deleted: sha256:${one.config}\n\nTotal reclaimed space: \\d+B`),
    );
    assert.equal((await ok(root, ["images", "-q"])).trim(), two.config.slice(0, 12));
    await ok(root, ["image", "prune", "-a", "-f"]);
    assert.equal(await ok(root, ["images", "-q"]), "");
    assert.deepEqual(await listTree(join(root, "images", "layers")), []);
    assert.deepEqual(await listTree(join(root, "images", "blobs", "sha256")), []);
  }),
);
