/**
 * Layers as real tools write them: an image umoci built from a directory
 * replaced by a symlink (`todir -> /data`, then `todir/.wh.inner`) loads and
 * exports the filesystem `umoci unpack` makes; a GNU tar `--xattrs` rootfs
 * keeps a file capability and a `user.*` attribute through import, both
 * snapshotters and export. Needs root, umoci, tar and setcap; reported as
 * ignored where they are missing.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ok, toolTest, withTempDir } from "./_cli.ts";
import { addSymlinkWhiteoutLayers, have, sh } from "./_layout.ts";
import { manifest, untar, xattrsOf } from "./_tree.ts";
import { linuxPlatform } from "../plugins/platform/mod.ts";
import { overlay } from "../plugins/snapshot/mod.ts";

const isRoot = Deno.uid() === 0;

Deno.test({
  name:
    "an umoci image with a directory replaced by a symlink loads and exports as umoci unpacks it",
  ignore: !isRoot || !have("umoci") || !have("tar"),
  fn: withTempDir(async ({ dir, root }) => {
    const layout = join(dir, "layout");
    const bundle = join(dir, "bundle");
    const rootfs = join(bundle, "rootfs");
    await sh("umoci", "init", "--layout", layout);
    await sh("umoci", "new", "--image", `${layout}:v1`);
    await addSymlinkWhiteoutLayers(`${layout}:v1`, bundle);

    // The idiom is really there: the top layer has the symlink, then whiteouts under it.
    const index = JSON.parse(await Deno.readTextFile(join(layout, "index.json")));
    const blob = (d: string) => join(layout, "blobs/sha256", d.slice(7));
    const m = JSON.parse(await Deno.readTextFile(blob(index.manifests[0].digest)));
    const top = (await sh("tar", "-tzf", blob(m.layers.at(-1).digest))).split("\n");
    assert.ok(top.includes("todir") && top.some((n) => n.startsWith("todir/.wh.")), String(top));

    const loaded = await ok(root, ["image", "load", "-i", layout]);
    const id = loaded.match(/^Loaded image ID: sha256:([0-9a-f]{64})\n$/)?.[1];
    assert.ok(id, loaded);
    const exported = join(dir, "export.tar");
    await ok(root, ["image", "export", id, "-o", exported]);
    const ours = join(dir, "ours");
    await untar(exported, ours);
    await sh("umoci", "unpack", "--image", `${layout}:v1`, bundle);
    const theirs = (await manifest(rootfs)).filter((r) => r.path !== ".");
    assert.deepEqual((await manifest(ours)).filter((r) => r.path !== "."), theirs);
    assert.deepEqual(xattrsOf(ours), xattrsOf(rootfs));
    assert.ok(theirs.some((r) => r.path === "todir" && r.target === "/data"));
    assert.ok(!theirs.some((r) => r.path.startsWith("todir/")));
    assert.deepEqual(xattrsOf(ours).tagged, {
      "user.test": [..."hello"].map((c) => c.charCodeAt(0)).join(","),
    });
  }),
});

toolTest(
  "a tar --xattrs rootfs keeps its file capability and user xattr through import, both snapshotters and export",
  !isRoot || !have("setcap") || !have("getcap") || !have("tar"),
  async ({ dir, root }) => {
    const platform = linuxPlatform();
    const src = join(dir, "src");
    await Deno.mkdir(join(src, "bin"), { recursive: true });
    await Deno.writeTextFile(join(src, "bin/ping"), "#!/bin/sh\n");
    await Deno.chmod(join(src, "bin/ping"), 0o755);
    await sh("setcap", "cap_net_raw+ep", join(src, "bin/ping"));
    platform.setxattr(join(src, "bin/ping"), "user.test", "pinged");
    platform.setxattr(join(src, "bin"), "user.dir", "on a directory");
    const wanted = xattrsOf(src);
    assert.ok(wanted["bin/ping"]?.["security.capability"], JSON.stringify(wanted));
    const tarball = join(dir, "rootfs.tar");
    await sh("tar", "--xattrs", "--xattrs-include=*", "-C", src, "-cf", tarball, ".");

    // Import: the layer directory has them.
    await ok(root, ["image", "import", tarball, "caps:1"]);
    const [image] = JSON.parse(await ok(root, ["image", "inspect", "caps:1"]));
    const layer = image.rootfs_path as string;
    assert.deepEqual(xattrsOf(layer), wanted);
    const getcap = async (path: string) => (await sh("getcap", path)).trim();
    assert.match(await getcap(join(layer, "bin/ping")), /cap_net_raw[=+]ep$/);

    // The copy snapshotter's rootfs.
    await ok(root, ["container", "create", "--snapshotter", "copy", "--name", "c", "caps:1", "x"]);
    const [c] = JSON.parse(await ok(root, ["container", "inspect", "c"]));
    assert.deepEqual(xattrsOf(join(c.bundle, "rootfs")), wanted);

    // The overlay snapshotter sees them through the mount of the layer directories.
    const ov = join(dir, "ov");
    await Deno.mkdir(ov);
    await overlay.prepare(ov, [layer], platform);
    await overlay.mount(ov, [layer], platform);
    try {
      assert.deepEqual(xattrsOf(join(ov, "rootfs")), wanted);
    } finally {
      await overlay.unmount(ov, platform);
    }

    // Export writes them back: GNU tar restores them, and they survive a re-import.
    const exported = join(dir, "export.tar");
    await ok(root, ["image", "export", "caps:1", "-o", exported]);
    const out = join(dir, "out");
    await untar(exported, out);
    assert.deepEqual(xattrsOf(out), wanted);
    assert.match(await getcap(join(out, "bin/ping")), /cap_net_raw[=+]ep$/);
    await ok(root, ["image", "import", exported, "caps:2"]);
    const [again] = JSON.parse(await ok(root, ["image", "inspect", "caps:2"]));
    assert.deepEqual(xattrsOf(again.rootfs_path), wanted);
  },
);
