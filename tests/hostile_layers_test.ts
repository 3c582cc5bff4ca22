/**
 * The hostile-input table (`_hostile.ts`) run for every verb that unpacks a
 * layer: `image import` of the layer itself, `image load` of an OCI layout
 * directory and of a docker-archive whose one layer it is, and `image pull`
 * of such an image from the real distribution registry on 127.0.0.1 (pushed
 * blob by blob over HTTP, since Servin refuses to hold it). Each is refused
 * with exit 1 and one line naming the problem; the store, its index and a
 * canary directory outside are left as they were.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { listTree, ok, run, tempDir, writeFixture } from "./_cli.ts";
import { HOSTILE_CASES, type HostileCase, hostileLayer } from "./_hostile.ts";
import { have } from "./_layout.ts";
import {
  type LayerSpec,
  type Layout,
  manifestDescriptor,
  tarDir,
  writeDockerManifest,
  writeImage,
  writeIndex,
} from "./_oci.ts";
import { startRegistry } from "./_registry.ts";
import { buildTar } from "./_tar.ts";

/** A control layer every verb must accept, so that a refusal is the case's doing. */
const GOOD: LayerSpec = { tar: buildTar([{ name: "ok", body: "fine" }]), compression: "gzip" };

/**
 * How one verb is given an input: `prepare` writes case `i`'s input (the
 * `layer` in an image where the verb needs one) and returns the CLI arguments
 * and the name the error line quotes.
 */
interface Verb {
  /** Writes into `dir` the input of case `i` (-1: the control) whose layer is `layer`. */
  prepare(dir: string, i: number, layer: LayerSpec): Promise<{ args: string[]; input: string }>;
  verb: "import" | "load" | "pull";
}

/** Runs every case through `verb` against a store that already holds the control image. */
async function refuseAll(t: Deno.TestContext, v: Verb): Promise<void> {
  const [dir, cleanup] = await tempDir();
  try {
    await refuseIn(t, dir, v);
  } finally {
    await cleanup();
  }
}

async function refuseIn(t: Deno.TestContext, dir: string, v: Verb): Promise<void> {
  const root = join(dir, "root");
  const outside = join(dir, "outside");
  await Deno.mkdir(outside);
  await Deno.writeTextFile(join(outside, "canary"), "canary");
  await ok(root, (await v.prepare(dir, -1, GOOD)).args);
  const index = await Deno.readTextFile(join(root, "images", "index.json"));
  assert.equal(JSON.parse(index).length, 1, index);
  const tree = await listTree(root);

  for (const [i, c] of HOSTILE_CASES.entries()) {
    await t.step(c.name, async () => {
      const { args, input } = await v.prepare(dir, i, hostileLayer(c, outside));
      const r = await run(root, args);
      assertRefused(r, c, `servin: Cannot ${v.verb} "${input}": `);
      assert.equal(await Deno.readTextFile(join(root, "images", "index.json")), index);
      assert.deepEqual(await listTree(root), tree);
      assert.deepEqual(await listTree(outside), ["canary"]);
      assert.equal(await Deno.readTextFile(join(outside, "canary")), "canary");
    });
  }
}

function assertRefused(
  r: { code: number; stdout: string; stderr: string },
  c: HostileCase,
  prefix: string,
): void {
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, "");
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.ok(lines[0]!.startsWith(prefix), `"${prefix}" does not start: ${lines[0]}`);
  for (const e of c.expect) assert.ok(lines[0]!.includes(e), `"${e}" not in: ${lines[0]}`);
}

Deno.test("import refuses hostile and broken layers and leaves the store as it was", async (t) => {
  await refuseAll(t, {
    verb: "import",
    async prepare(dir, i, layer) {
      // The layer is the input itself.
      const path = await writeFixture(dir, `layer${i}.tar`, layer.blob ?? layer.tar);
      return { args: ["image", "import", path, `case${i}:1`], input: path };
    },
  });
});

Deno.test("load of an OCI layout refuses hostile and broken layers and leaves the store as it was", async (t) => {
  await refuseAll(t, {
    verb: "load",
    async prepare(dir, i, layer) {
      const layoutDir = join(dir, `layout${i}`);
      const layout = await writeImage(layoutDir, [layer]);
      await writeIndex(layoutDir, [manifestDescriptor(layout, { name: `case${i}:1` })]);
      return { args: ["image", "load", "-i", layoutDir], input: layoutDir };
    },
  });
});

Deno.test("load of a docker-archive refuses hostile and broken layers and leaves the store as it was", async (t) => {
  await refuseAll(t, {
    verb: "load",
    async prepare(dir, i, layer) {
      const archiveDir = join(dir, `archive${i}`);
      await writeDockerManifest(archiveDir, await writeImage(archiveDir, [layer]), [`case${i}:1`]);
      const path = join(dir, `archive${i}.tar`);
      await tarDir(archiveDir, path);
      return { args: ["image", "load", "-i", path], input: path };
    },
  });
});

/** Uploads `bytes` as a blob of `repo` (monolithic upload: POST, then PUT with the digest). */
async function pushBlob(host: string, repo: string, digest: string, bytes: Uint8Array) {
  const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  await start.body?.cancel();
  assert.equal(start.status, 202, `upload of sha256:${digest} not started`);
  const location = new URL(start.headers.get("location")!, `http://${host}`);
  location.searchParams.set("digest", `sha256:${digest}`);
  const put = await fetch(location, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream" },
    body: bytes as Uint8Array<ArrayBuffer>,
  });
  const text = await put.text();
  assert.equal(put.status, 201, `upload of sha256:${digest}: ${text}`);
}

/** Pushes the image of the layout at `dir` (its config, layer and manifest blobs) as `repo:tag`. */
async function pushLayout(host: string, dir: string, layout: Layout, repo: string, tag: string) {
  const blob = (hex: string) => Deno.readFile(join(dir, "blobs", "sha256", hex));
  for (const hex of [layout.config, ...layout.blobs]) {
    await pushBlob(host, repo, hex, await blob(hex));
  }
  const put = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, {
    method: "PUT",
    headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
    body: await blob(layout.manifest),
  });
  const text = await put.text();
  assert.equal(put.status, 201, `manifest of ${repo}:${tag}: ${text}`);
}

Deno.test({
  name: "pull refuses hostile and broken layers from a registry and leaves the store as it was" +
    // The real distribution registry is the point of this test; a fake one is no substitute.
    (have("docker-registry") ? "" : " (ignored: docker-registry is not installed)"),
  ignore: !have("docker-registry"),
  sanitizeResources: false,
  async fn(t) {
    const [dir, cleanup] = await tempDir();
    const registry = await startRegistry(dir);
    try {
      await refuseIn(t, dir, {
        verb: "pull",
        async prepare(dir, i, layer) {
          const layoutDir = join(dir, `push${i}`);
          const repo = i < 0 ? "hostile/good" : `hostile/case${i}`;
          await pushLayout(
            registry.host,
            layoutDir,
            await writeImage(layoutDir, [layer]),
            repo,
            "1",
          );
          const ref = `${registry.host}/${repo}:1`;
          return { args: ["image", "pull", ref], input: ref };
        },
      });
    } finally {
      await registry.stop();
      await cleanup();
    }
  },
});
