import assert from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_LIMITS } from "../../core/image.ts";
import { compareTrees } from "../formats/compare.ts";
import { sha256Hex } from "../formats/digest.ts";
import { unpack } from "../formats/extract.ts";
import { readTar } from "../formats/tar.ts";
import { linuxPlatform } from "../platform/mod.ts";
import { copyLayers } from "./_copy.ts";
import { containerChanges, diffLayer } from "./diff.ts";
import { overlay } from "./mod.ts";

const platform = linuxPlatform();
const PAST = new Date(1_600_000_000_000);

/** The image: one layer, as the extractor leaves it. */
async function baseLayer(dir: string): Promise<void> {
  for (const d of ["a", "dir", "etc", "deep/n"]) {
    await Deno.mkdir(join(dir, d), { recursive: true });
  }
  const files: Record<string, string> = {
    "a/x": "x",
    "a/y": "y",
    keep: "kept",
    gone: "bye",
    "dir/one": "1",
    "dir/two": "2",
    linked: "link me",
    "deep/n/f": "deep",
    "etc/passwd": "root:x:0:0::/:/bin/sh\n",
  };
  for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(join(dir, name), text);
  for (const name of [...Object.keys(files), "a", "dir", "etc", "deep/n", "deep", "."]) {
    await Deno.utime(join(dir, name), PAST, PAST);
  }
}

/** What the container does: add, modify, delete, replace a directory, link, set an xattr. */
async function mutate(root: string): Promise<void> {
  await Deno.writeTextFile(join(root, "new"), "new file");
  await Deno.writeTextFile(join(root, "keep"), "changed");
  await Deno.remove(join(root, "gone"));
  await Deno.remove(join(root, "dir"), { recursive: true });
  await Deno.mkdir(join(root, "dir"));
  await Deno.writeTextFile(join(root, "dir/three"), "3");
  await Deno.link(join(root, "linked"), join(root, "linked2"));
  await Deno.chmod(join(root, "a/y"), 0o600);
  await Deno.symlink("keep", join(root, "sl"));
  platform.setxattr(join(root, "new"), "user.servin", "yes");
  // What runc makes as mount targets the image lacks.
  await Deno.writeTextFile(join(root, "etc/hosts"), "");
  await Deno.mkdir(join(root, "proc"));
  await Deno.mkdir(join(root, "mnt/vol"), { recursive: true });
}

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Applies the diff on the image and checks that the result is the
 * container's tree without the runtime's mount points.
 */
async function checkApplied(tmp: string, base: string, diff: Uint8Array, expected: string) {
  const layer = join(tmp, `applied-${crypto.randomUUID()}`);
  await Deno.mkdir(layer);
  await unpack(readTar(ReadableStream.from([diff]), DEFAULT_LIMITS), layer, {
    platform,
    warn: () => {},
  });
  const result = join(tmp, `result-${crypto.randomUUID()}`);
  await Deno.mkdir(result);
  await copyLayers([base, layer], result, platform);
  const why = compareTrees(expected, result, {
    owners: true,
    getxattr: platform.getxattr,
    listxattr: platform.listxattr,
  });
  assert.equal(why, undefined);
}

const SPEC = { mounts: [{ destination: "/proc" }, { destination: "/mnt/vol" }] };

/** The container's tree as it should be committed: the mutated image, without mount points. */
async function expectedTree(tmp: string, base: string): Promise<string> {
  const dir = join(tmp, "expected");
  await Deno.mkdir(dir);
  await copyLayers([base], dir, platform);
  await mutate(dir);
  for (const p of ["etc/hosts", "proc", "mnt"]) {
    await Deno.remove(join(dir, p), { recursive: true });
  }
  return dir;
}

function names(entries: { header: { name: string; type: string } }[]): string[] {
  return entries.map((e) => `${e.header.name}:${e.header.type}`).sort();
}

const CHANGES = [
  ".wh.gone:file",
  "a/y:file",
  "a:dir",
  "dir/.wh..wh..opq:file",
  "dir/three:file",
  "dir:dir",
  "keep:file",
  "linked2:file",
  "linked:file",
  "new:file",
  "sl:symlink",
];

Deno.test("diff of a copy snapshot: changes, whiteouts, an opaque directory, links kept", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const base = join(tmp, "layer");
    await Deno.mkdir(base);
    await baseLayer(base);
    const bundle = join(tmp, "bundle");
    await Deno.mkdir(join(bundle, "rootfs"), { recursive: true });
    await Deno.writeTextFile(join(bundle, "config.json"), JSON.stringify(SPEC));
    const rootfs = join(bundle, "rootfs");
    await copyLayers([base], rootfs, platform);
    // Nothing changed yet: an empty layer.
    const none = containerChanges({ kind: "copy", dir: rootfs, bundle, layers: [base], platform });
    assert.deepEqual(names(none), []);
    await mutate(rootfs);
    const source = { kind: "copy" as const, dir: rootfs, bundle, layers: [base], platform };
    const entries = containerChanges(source);
    assert.deepEqual(names(entries), CHANGES);
    const xattrs = entries.find((e) => e.header.name === "new")?.header.xattrs;
    assert.equal(new TextDecoder().decode(xattrs?.["user.servin"]), "yes");
    const diff = await bytesOf(diffLayer(source, { clampMtime: 1_700_000_000 }));
    const again = await bytesOf(diffLayer(source, { clampMtime: 1_700_000_000 }));
    assert.equal(sha256Hex(again), sha256Hex(diff), "the same changes give the same diff_id");
    await checkApplied(tmp, base, diff, await expectedTree(tmp, base));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

const overlayWhy = overlay.unavailable(platform);

Deno.test({
  name: "diff of an overlay snapshot: the upper directory in OCI form, mount points left out",
  ignore: overlayWhy !== undefined, // the overlay snapshotter needs root and overlayfs
  fn: async () => {
    const tmp = await Deno.makeTempDir();
    const bundle = join(tmp, "bundle");
    try {
      const base = join(tmp, "layer");
      await Deno.mkdir(base);
      await baseLayer(base);
      await Deno.mkdir(bundle);
      await overlay.prepare(bundle, [base], platform);
      await Deno.writeTextFile(join(bundle, "config.json"), JSON.stringify(SPEC));
      await overlay.mount(bundle, [base], platform);
      try {
        await mutate(join(bundle, "rootfs"));
      } finally {
        await overlay.unmount(bundle, platform);
      }
      const source = {
        kind: "overlay" as const,
        dir: join(bundle, "upper"),
        bundle,
        layers: [base],
        platform,
      };
      const entries = containerChanges(source);
      // overlayfs whites out each name of a directory removed, and makes the new one opaque.
      assert.deepEqual(names(entries), CHANGES);
      const diff = await bytesOf(await overlay.diff!(bundle, [base], platform));
      assert.equal(
        sha256Hex(await bytesOf(await overlay.diff!(bundle, [base], platform))),
        sha256Hex(diff),
      );
      await checkApplied(tmp, base, diff, await expectedTree(tmp, base));
    } finally {
      await overlay.unmount(bundle, platform).catch(() => {});
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
