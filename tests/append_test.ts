/**
 * `servin.append`: a base image plus one step, the primitive `commit` and
 * `build` store images with.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { definePlugin, openServin, ServinError } from "../mod.ts";
import { layerTar } from "../plugins/formats/layer_writer.ts";
import type { TarHeader } from "../plugins/formats/tar.ts";
import { listTree, sha256, withTempDir } from "./_cli.ts";
import { checkStore, tarContents } from "./_invariants.ts";
import { manifestDescriptor, writeImage, writeIndex } from "./_oci.ts";
import { buildTar, tarHeader } from "./_tar.ts";

const BASE = buildTar([
  { name: "etc/", type: "5" },
  { name: "etc/motd", body: "hi\n" },
  { name: "etc/gone", body: "bye\n" },
]);

const header = (name: string, extra: Partial<TarHeader> = {}): TarHeader =>
  tarHeader(name, 1_600_000_000, extra);

function step(): ReadableStream<Uint8Array> {
  return layerTar([
    { header: header("etc", { type: "dir", mode: 0o755 }) },
    { header: header("etc/new", { size: 4 }), content: new TextEncoder().encode("new\n") },
    { header: header("etc/.wh.gone") },
  ]);
}

async function blobJson(root: string, hex: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(join(root, "images/blobs/sha256", hex)));
}

Deno.test(
  "append stores a base plus a layer canonically: the same inputs give the same image ID",
  withTempDir(async ({ dir: tmp, root }) => {
    const seen: string[] = [];
    const hooks = definePlugin({
      name: "hooks",
      setup(api) {
        api.on("image:commit:before", (p) => void seen.push(`before:${p.verb}:${p.tags}`));
        api.on("image:commit:after", (p) => void seen.push(`after:${p.verb}`));
      },
    });
    await using servin = await openServin({ root, plugins: [hooks] });
    const base = await servin.importImage(
      { path: "base", stream: new Blob([BASE]).stream() },
      "base",
    );
    const created = new Date(1_700_000_000_000);
    const config = { Env: ["A=1"], Cmd: ["/bin/sh"], Labels: { z: "1", a: "2" }, WorkingDir: "/" };
    const history = { created_by: "servin commit", comment: "msg", author: "me" };
    const one = await servin.append({
      base: "base",
      layer: step(),
      config,
      history,
      created,
      reference: "app:1",
    });
    assert.deepEqual(one.repo_tags, ["app:1"]);
    assert.deepEqual(one.layers.slice(0, 1), base.layers);
    assert.equal(one.layers.length, 2);
    assert.deepEqual(one.config.labels, { a: "2", z: "1" });
    assert.equal(one.created, created.toISOString());
    const oci = await blobJson(root, one.id);
    assert.equal(oci.created, "2023-11-14T22:13:20Z");
    assert.equal(oci.author, "me");
    assert.deepEqual((oci.config as Record<string, unknown>).Cmd, ["/bin/sh"]);
    const history2 = oci.history as Record<string, unknown>[];
    assert.deepEqual(history2.at(-1), {
      author: "me",
      comment: "msg",
      created: "2023-11-14T22:13:20Z",
      created_by: "servin commit",
    });
    // Keys in order: the same config given with other key orders is the same image.
    const again = await servin.append({
      base: base.id,
      layer: step(),
      config: { WorkingDir: "/", Labels: { a: "2", z: "1" }, Cmd: ["/bin/sh"], Env: ["A=1"] },
      history: { author: "me", comment: "msg", created_by: "servin commit" },
      created,
    });
    assert.equal(again.id, one.id);
    assert.deepEqual(seen, [
      "before:import:base:latest",
      "after:import",
      "before:commit:app:1",
      "after:commit",
      "before:commit:",
      "after:commit",
    ]);
    // What the image holds: the base's files, the whiteout applied.
    const out = join(tmp, "rootfs.tar");
    await servin.exportImage("app:1", out);
    const files = await tarContents(out);
    assert.equal(files.get("etc/new"), `file ${sha256("new\n")}`);
    assert.equal(files.get("etc/motd"), `file ${sha256("hi\n")}`);
    assert.equal(files.has("etc/gone"), false);
    // An empty step adds no layer and says so in the history.
    const empty = await servin.append({
      base: "app:1",
      config: { Cmd: ["/x"] },
      history: { created_by: "CMD /x" },
      created,
      verb: "build",
    });
    assert.deepEqual(empty.layers, one.layers);
    const emptyOci = await blobJson(root, empty.id);
    assert.deepEqual((emptyOci.history as unknown[]).at(-1), {
      created: "2023-11-14T22:13:20Z",
      created_by: "CMD /x",
      empty_layer: true,
    });
    assert.equal(seen.at(-1), "after:build");
    await checkStore(root, "after append");
  }),
);

Deno.test(
  "append from scratch, and a layer already stored is shared",
  withTempDir(async ({ root }) => {
    await using servin = await openServin({ root });
    // The same step from scratch, under two commands and names.
    const fromScratch = (name: string) =>
      servin.append({
        layer: step(),
        config: { Cmd: [`/${name}`] },
        history: {},
        created: new Date(0),
        reference: name,
      });
    const a = await fromScratch("a");
    const b = await fromScratch("b");
    assert.equal(a.layers.length, 1);
    assert.deepEqual(a.layers, b.layers);
    assert.notEqual(a.id, b.id);
    const oci = await blobJson(root, a.id);
    assert.equal(oci.os, servin.platform.os);
    assert.equal(oci.architecture, servin.platform.architecture);
    const layers = [...Deno.readDirSync(join(root, "images/layers"))].filter((e) => e.isDirectory);
    assert.equal(layers.length, 1);
    await checkStore(root, "after scratch appends");
  }),
);

Deno.test(
  "append refuses a missing base, a layer that is no tar, and a vetoed image, storing nothing",
  withTempDir(async ({ root }) => {
    const veto = definePlugin({
      name: "veto",
      setup(api) {
        api.on("image:commit:before", (p) => {
          if (p.tags.includes("no:latest")) throw new ServinError("vetoed", "not this one");
        });
      },
    });
    await using servin = await openServin({ root, plugins: [veto] });
    await servin.importImage({ path: "base", stream: new Blob([BASE]).stream() }, "base");
    const before = await listTree(root);
    const base = { config: {}, history: {}, created: new Date(0) };
    await assert.rejects(
      servin.append({ ...base, base: "missing" }),
      (e: unknown) => e instanceof ServinError && e.code === "not-found",
    );
    await assert.rejects(
      servin.append({ ...base, base: "base", layer: ReadableStream.from([new Uint8Array(600)]) }),
      (e: unknown) => e instanceof ServinError && e.code === "invalid-archive",
    );
    await assert.rejects(
      servin.append({ ...base, base: "base", layer: step(), reference: "no" }),
      (e: unknown) => e instanceof ServinError && e.code === "vetoed",
    );
    assert.deepEqual(await listTree(root), before);
  }),
);

Deno.test(
  "append on an image with Docker layer media types writes them as OCI's in its OCI manifest",
  withTempDir(async ({ dir, root }) => {
    const layout = join(dir, "layout");
    const written = await writeImage(layout, [{ tar: BASE, compression: "gzip" }]);
    const blobs = join(layout, "blobs/sha256");
    const text = (await Deno.readTextFile(join(blobs, written.manifest))).replace(
      "application/vnd.oci.image.layer.v1.tar+gzip",
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
    );
    const manifest = sha256(text);
    await Deno.writeTextFile(join(blobs, manifest), text);
    await writeIndex(layout, [
      manifestDescriptor({ ...written, manifest, manifestSize: text.length }, { name: "b:1" }),
    ]);
    await using servin = await openServin({ root });
    const [loaded] = await servin.loadImages(layout);
    const stored = await blobJson(root, loaded!.image.manifest!);
    assert.equal(
      (stored.layers as { mediaType: string }[])[0]!.mediaType,
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
    );
    const image = await servin.append({
      base: loaded!.image.id,
      layer: step(),
      config: {},
      history: {},
      created: new Date(0),
    });
    const types = (await blobJson(root, image.manifest!)).layers as { mediaType: string }[];
    assert.deepEqual(types.map((l) => l.mediaType), [
      "application/vnd.oci.image.layer.v1.tar+gzip",
      "application/vnd.oci.image.layer.v1.tar",
    ]);
    await checkStore(root, "after append on a Docker-typed image");
  }),
);
