/**
 * Interop with the tools the rest of the container world uses: a
 * multi-layer image built with umoci (a deleted file, an opaque directory, a
 * directory replaced by a symlink, hardlinks), moved through skopeo and
 * podman, loaded, run on both snapshotters, saved back and exported.
 * Needs root, runc, busybox, umoci, skopeo and podman (`.ci/run` installs
 * them); reported as ignored where they are missing.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ok, run, tempDir } from "./_cli.ts";
import { buildTar } from "./_tar.ts";
import { manifest } from "./_tree.ts";

function have(tool: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((d) => {
    try {
      return Deno.statSync(join(d, tool)).isFile;
    } catch {
      return false;
    }
  });
}

const TOOLS = ["runc", "busybox", "umoci", "skopeo", "podman", "tar"];
const ignore = Deno.uid() !== 0 || !TOOLS.every(have);

async function sh(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder();
  if (out.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${text.decode(out.stderr)}`);
  }
  return text.decode(out.stdout);
}

/** An OCI layout with four layers, built by umoci from tars we control. */
async function buildLayout(dir: string): Promise<string> {
  const base = join(dir, "base");
  for (const d of ["bin", "etc", "swap", "opq", "data"]) {
    await Deno.mkdir(join(base, d), { recursive: true });
  }
  await Deno.copyFile(await Deno.realPath(pathOf("busybox")), join(base, "bin", "busybox"));
  for (const a of ["sh", "ls", "cat", "test", "readlink", "stat", "echo"]) {
    await Deno.symlink("busybox", join(base, "bin", a));
  }
  await Deno.writeTextFile(join(base, "etc", "deleteme"), "gone in layer 2\n");
  await Deno.writeTextFile(join(base, "etc", "keep"), "kept\n");
  await Deno.writeTextFile(join(base, "swap", "inner"), "hidden by a symlink\n");
  await Deno.writeTextFile(join(base, "opq", "old"), "hidden by an opaque dir\n");
  await Deno.writeTextFile(join(base, "data", "a"), "layer1\n");
  const layer1 = join(dir, "layer1.tar");
  await sh("tar", "--numeric-owner", "-C", base, "-cf", layer1, ".");
  const layer2 = join(dir, "layer2.tar");
  await Deno.writeFile(
    layer2,
    buildTar([
      { name: "etc/", type: "5" },
      { name: "etc/.wh.deleteme", body: "" },
      { name: "opq/", type: "5" },
      { name: "opq/.wh..wh..opq", body: "" },
      { name: "opq/new", body: "new\n" },
      { name: ".wh.swap", body: "" },
      { name: "swap", type: "2", linkname: "etc" },
    ]),
  );
  const layer3 = join(dir, "layer3.tar");
  await Deno.writeFile(
    layer3,
    buildTar([
      { name: "data/", type: "5" },
      { name: "data/a", body: "layer3\n" },
      { name: "data/h1", body: "linked\n" },
      { name: "data/h2", type: "1", linkname: "data/h1" },
    ]),
  );
  const layout = join(dir, "layout");
  await sh("umoci", "init", "--layout", layout);
  await sh("umoci", "new", "--image", `${layout}:v1`);
  for (const l of [layer1, layer2, layer3]) {
    await sh("umoci", "raw", "add-layer", "--image", `${layout}:v1`, l);
  }
  await sh(
    "umoci",
    "config",
    "--image",
    `${layout}:v1`,
    "--config.env",
    "PATH=/bin",
    "--config.cmd",
    "/bin/sh",
  );
  return layout;
}

function pathOf(tool: string): string {
  for (const d of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(join(d, tool)).isFile) return join(d, tool);
    } catch { /* next */ }
  }
  throw new Error(`${tool} not found`);
}

const CHECK = "test ! -e /etc/deleteme && cat /etc/keep && ls /opq && readlink /swap && " +
  "cat /data/a /data/h2 && stat -c %i /data/h1 /data/h2";

/** Runs the check script in the image with a snapshotter; returns its output. */
async function check(root: string, image: string, snapshotter: string): Promise<void> {
  const r = await run(root, [
    "run",
    "--rm",
    "--snapshotter",
    snapshotter,
    image,
    "sh",
    "-c",
    CHECK,
  ]);
  assert.equal(r.code, 0, `${image} (${snapshotter}): ${r.stderr}${r.stdout}`);
  const lines = r.stdout.trimEnd().split("\n");
  assert.deepEqual(lines.slice(0, 5), ["kept", "new", "etc", "layer3", "linked"], r.stdout);
  assert.equal(lines[5], lines[6], "hardlinks share an inode");
}

Deno.test({
  name:
    "umoci, skopeo and podman archives load, run with whiteouts applied, and save back for podman",
  ignore,
  sanitizeResources: false,
  async fn() {
    const [dir, cleanup] = await tempDir();
    const podmanRoot = join(dir, "podman");
    const podman = (...args: string[]) =>
      sh(
        "podman",
        "--root",
        join(podmanRoot, "root"),
        "--runroot",
        join(podmanRoot, "run"),
        "--storage-driver",
        "vfs",
        ...args,
      );
    try {
      const root = join(dir, "root");
      const layout = await buildLayout(dir);
      const ociTar = join(dir, "umoci.tar");
      await sh("tar", "-C", layout, "-cf", ociTar, ".");

      // An OCI archive whose only name is a bare tag loads untagged.
      const loaded = await ok(root, ["image", "load", "-i", ociTar]);
      const id = loaded.match(/^Loaded image ID: sha256:([0-9a-f]{64})\n$/)?.[1];
      assert.ok(id, loaded);
      for (const s of ["overlay", "copy"]) await check(root, id, s);
      // The layout directory itself loads too, as the same image.
      assert.equal(await ok(root, ["load", "-i", layout]), loaded);

      // skopeo: docker-archive and oci-archive, with names.
      const skDocker = join(dir, "skopeo-docker.tar");
      const skOci = join(dir, "skopeo-oci.tar");
      await sh(
        "skopeo",
        "copy",
        `oci:${layout}:v1`,
        `docker-archive:${skDocker}:interop/app:docker`,
      );
      await sh("skopeo", "copy", `oci:${layout}:v1`, `oci-archive:${skOci}:interop/app:oci`);
      // skopeo names docker-archive images the Docker way (docker.io/...); names stay as written.
      assert.equal(
        await ok(root, ["load", "-i", skDocker]),
        "Loaded image: docker.io/interop/app:docker\n",
      );
      assert.equal(await ok(root, ["load", "-i", skOci]), "Loaded image: interop/app:oci\n");
      for (const s of ["overlay", "copy"]) {
        await check(root, "docker.io/interop/app:docker", s);
        await check(root, "interop/app:oci", s);
      }

      // podman's own docker-archive.
      await podman("load", "-i", skDocker);
      const pdArchive = join(dir, "podman-docker.tar");
      await podman("save", "--format", "docker-archive", "-o", pdArchive, "interop/app:docker");
      await ok(root, ["rmi", "-f", "docker.io/interop/app:docker"]);
      assert.equal(
        await ok(root, ["load", "-i", pdArchive]),
        "Loaded image: docker.io/interop/app:docker\n",
      );
      await check(root, "docker.io/interop/app:docker", "overlay");

      // save -> podman load, in every format; podman sees the same image.
      const [image] = JSON.parse(await ok(root, ["image", "inspect", "interop/app:oci"]));
      for (const format of ["docker+oci", "docker-archive", "oci-archive"]) {
        const out = join(dir, `saved-${format}.tar`);
        await ok(root, ["image", "save", "--format", format, "-o", out, "interop/app:oci"]);
        const podmanLoaded = await podman("load", "-i", out);
        assert.match(podmanLoaded, /interop\/app:oci/, `${format}: ${podmanLoaded}`);
        const inspected = JSON.parse(await podman("image", "inspect", "interop/app:oci"));
        assert.equal(inspected[0].Id, image.id, format);
        await podman("rmi", "-f", "interop/app:oci");
      }

      // save after load keeps the manifest and layer digests (oci-archive keeps blobs as received).
      const resaved = join(dir, "resaved.tar");
      await ok(root, ["image", "save", "--format", "oci-archive", "-o", resaved, id]);
      const original =
        JSON.parse(await Deno.readTextFile(join(layout, "index.json"))).manifests[0].digest;
      const index = JSON.parse(await sh("tar", "-xOf", resaved, "index.json"));
      assert.equal(index.manifests[0].digest, original);

      // export -> import round-trips the filesystem, and matches podman's view of the image.
      const exported = join(dir, "export.tar");
      await ok(root, ["image", "export", id, "-o", exported]);
      await ok(root, ["image", "import", exported, "roundtrip:1"]);
      const again = join(dir, "export2.tar");
      await ok(root, ["image", "export", "roundtrip:1", "-o", again]);
      const x1 = join(dir, "x1");
      const x2 = join(dir, "x2");
      await Deno.mkdir(x1);
      await Deno.mkdir(x2);
      await sh("tar", "--numeric-owner", "-xpf", exported, "-C", x1);
      await sh("tar", "--numeric-owner", "-xpf", again, "-C", x2);
      const m1 = await manifest(x1);
      assert.deepEqual(await manifest(x2), m1);
      assert.ok(
        !m1.some((r) =>
          r.path.includes(".wh.") || r.path === "etc/deleteme" || r.path === "opq/old"
        ),
      );
      await podman("load", "-i", skOci);
      const mounted = (await podman("image", "mount", "interop/app:oci")).trim();
      try {
        const theirs = (await manifest(mounted)).filter((r) => r.path !== ".");
        assert.deepEqual(m1.filter((r) => r.path !== "."), theirs);
      } finally {
        await podman("image", "unmount", "interop/app:oci");
      }
    } finally {
      await sh(
        "podman",
        "--root",
        join(podmanRoot, "root"),
        "--runroot",
        join(podmanRoot, "run"),
        "--storage-driver",
        "vfs",
        "system",
        "reset",
        "-f",
      ).catch(() => {});
      await cleanup();
    }
  },
});
