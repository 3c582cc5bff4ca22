/**
 * A multi-layer test image built by umoci from tars we control: a deleted
 * file, an opaque directory, a directory replaced by a symlink, hardlinks;
 * and the check a container of it must pass.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { run, writeFixture } from "./_cli.ts";
import { buildTar } from "./_tar.ts";
import { linuxPlatform } from "../plugins/platform/mod.ts";

/** Where `tool` is on PATH, or undefined when it is not there. */
function findTool(tool: string): string | undefined {
  for (const d of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(join(d, tool)).isFile) return join(d, tool);
    } catch { /* next */ }
  }
  return undefined;
}

/** Whether `tool` is on PATH. */
export function have(tool: string): boolean {
  return findTool(tool) !== undefined;
}

/** Where `tool` is on PATH; throws when it is not there. */
export function pathOf(tool: string): string {
  const path = findTool(tool);
  if (path === undefined) throw new Error(`${tool} not found`);
  return path;
}

export async function sh(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder();
  if (out.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${text.decode(out.stderr)}`);
  }
  return text.decode(out.stdout);
}

/**
 * podman on a vfs store of its own under `dir`, with its own state directory
 * (`--tmpdir`): not /run/libpod, which another test's `podman system reset`
 * would pull from under it.
 */
export function podmanIn(dir: string): (...args: string[]) => Promise<string> {
  const own = [
    "--root",
    join(dir, "root"),
    "--runroot",
    join(dir, "run"),
    "--tmpdir",
    join(dir, "tmp"),
  ];
  return (...args) => sh("podman", ...own, "--storage-driver", "vfs", ...args);
}

/** An OCI layout with four layers, built by umoci from tars we control. */
export async function buildLayout(dir: string): Promise<string> {
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
  // Layer 2 deletes a file, makes a directory opaque and replaces one by a symlink; layer 3 links.
  const upper = [
    buildTar([
      { name: "etc/", type: "5" },
      { name: "etc/.wh.deleteme", body: "" },
      { name: "opq/", type: "5" },
      { name: "opq/.wh..wh..opq", body: "" },
      { name: "opq/new", body: "new\n" },
      { name: ".wh.swap", body: "" },
      { name: "swap", type: "2", linkname: "etc" },
    ]),
    buildTar([
      { name: "data/", type: "5" },
      { name: "data/a", body: "layer3\n" },
      { name: "data/h1", body: "linked\n" },
      { name: "data/h2", type: "1", linkname: "data/h1" },
    ]),
  ];
  const layers = [layer1];
  for (const [i, tar] of upper.entries()) {
    layers.push(await writeFixture(dir, `layer${i + 2}.tar`, tar));
  }
  return await umociLayout(join(dir, "layout"), layers);
}

/** An OCI layout made by umoci at `layout`, image `v1`: `layers` (tars) and `PATH=/bin`, `sh`. */
export async function umociLayout(layout: string, layers: string[]): Promise<string> {
  await sh("umoci", "init", "--layout", layout);
  await sh("umoci", "new", "--image", `${layout}:v1`);
  for (const l of layers) {
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

const CHECK = "test ! -e /etc/deleteme && cat /etc/keep && ls /opq && readlink /swap && " +
  "cat /data/a /data/h2 && stat -c %i /data/h1 /data/h2";

/** Runs the check script in the image with a snapshotter; returns its output. */
export async function check(root: string, image: string, snapshotter: string): Promise<void> {
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

/**
 * Adds to umoci image `image` (`layout:tag`) the two layers of the
 * symlink-then-whiteout idiom, through `umoci unpack`/`repack` in `bundle`
 * (removed after): first a directory `todir` with children, a `data`
 * directory and a file `tagged` with a `user.test` attribute; then `todir`
 * replaced by a symlink to `/data`, which umoci writes as the symlink
 * followed by whiteouts of the old children under it.
 */
export async function addSymlinkWhiteoutLayers(image: string, bundle: string): Promise<void> {
  const rootfs = join(bundle, "rootfs");
  await sh("umoci", "unpack", "--image", image, bundle);
  await Deno.mkdir(join(rootfs, "todir/sub"), { recursive: true });
  await Deno.mkdir(join(rootfs, "data"), { recursive: true });
  await Deno.writeTextFile(join(rootfs, "todir/inner"), "inner\n");
  await Deno.writeTextFile(join(rootfs, "todir/sub/deep"), "deep\n");
  await Deno.writeTextFile(join(rootfs, "data/x"), "x\n");
  await Deno.writeTextFile(join(rootfs, "tagged"), "tagged\n");
  linuxPlatform().setxattr(join(rootfs, "tagged"), "user.test", "hello");
  await sh("umoci", "repack", "--image", image, bundle);
  await Deno.remove(bundle, { recursive: true });
  await sh("umoci", "unpack", "--image", image, bundle);
  await Deno.remove(join(rootfs, "todir"), { recursive: true });
  await Deno.symlink("/data", join(rootfs, "todir"));
  await sh("umoci", "repack", "--image", image, bundle);
  await Deno.remove(bundle, { recursive: true });
}
