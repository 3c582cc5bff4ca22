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
import { ok, toolTest } from "./_cli.ts";
import { buildLayout, check, have, podmanIn, sh } from "./_layout.ts";
import { manifest } from "./_tree.ts";

const TOOLS = ["runc", "busybox", "umoci", "skopeo", "podman", "tar"];
const ignore = Deno.uid() !== 0 || !TOOLS.every(have);

toolTest(
  "umoci, skopeo and podman archives load, run with whiteouts applied, and save back for podman",
  ignore,
  async ({ dir, root }) => {
    const podman = podmanIn(join(dir, "podman"));
    try {
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
      await podman("system", "reset", "-f").catch(() => {});
    }
  },
);
