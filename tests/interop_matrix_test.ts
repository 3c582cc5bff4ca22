/**
 * The interop matrix of issue 11: images real tools write, each loaded and
 * pulled from the real registry, exported and compared file by file (modes,
 * owners, sizes, contents, link targets, hardlink groups, xattrs) with what
 * podman mounts or umoci unpacks, and run on both snapshotters.
 *
 * Images: built by `buildah bud --layers` (RUN steps that delete a file,
 * replace a directory with a symlink, remake a directory, hardlink, setuid,
 * chown) on a static busybox base; committed by `podman commit`; built by
 * umoci with the symlink-then-whiteout idiom. Ways in: podman's
 * docker-archive and oci-archive, skopeo's zstd oci-archive, the registry
 * with gzip layers and with zstd layers (pushed by skopeo), umoci's layout.
 * podman and buildah keep their images in a vfs store under the test's
 * directory. Needs root and the tools below (`.ci/run` installs them);
 * ignored where they are missing.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ok, run, toolTest } from "./_cli.ts";
import { addSymlinkWhiteoutLayers, have, pathOf, sh, umociLayout } from "./_layout.ts";
import { startRegistry } from "./_registry.ts";
import { manifest, untar, xattrsOf } from "./_tree.ts";
import { linuxPlatform } from "../plugins/platform/mod.ts";

const TOOLS = ["runc", "busybox", "buildah", "podman", "skopeo", "umoci", "docker-registry", "tar"];
const ignore = Deno.uid() !== 0 || !TOOLS.every(have);

/** The RUN steps of the Containerfile: each is one layer buildah writes. */
const STEPS = [
  "mkdir -p /swap /opq /data && echo gone > /etc/deleteme && echo in > /swap/inner && " +
  "echo old > /opq/old && echo a > /data/a",
  "rm /etc/deleteme && rm -rf /swap && ln -s /data /swap && rm -rf /opq && mkdir /opq && " +
  "touch /opq/new",
  "echo linked > /data/h1 && ln /data/h1 /data/h2 && echo suid > /bin/suid && " +
  "chmod 4755 /bin/suid && chown 1000:50 /data/a",
];

/** A filesystem as the reference tool shows it. */
interface Reference {
  tree: Awaited<ReturnType<typeof manifest>>;
  xattrs: ReturnType<typeof xattrsOf>;
}

/** How a reference tree is read: without its root, whose metadata no image format carries. */
async function reference(rootfs: string): Promise<Reference> {
  return {
    tree: (await manifest(rootfs)).filter((r) => r.path !== "."),
    xattrs: xattrsOf(rootfs),
  };
}

/** One cell of the matrix: how the image gets into a fresh Servin root. */
interface Case {
  name: string;
  /** Brings the image in; returns the reference Servin then knows it by. */
  bring(root: string): Promise<string>;
  want: Reference;
  /** A command and what it prints in a container of the image. */
  argv: string[];
  prints: string;
}

toolTest(
  "images of buildah, podman, skopeo and umoci load and pull, export as their tools " +
    "show them and run on both snapshotters",
  ignore,
  async ({ dir }) => {
    const storage = join(dir, "storage");
    const store = `[vfs@${storage}/root+${storage}/run]`;
    const common = ["--root", `${storage}/root`, "--runroot", `${storage}/run`];
    const podman = (...args: string[]) =>
      sh("podman", ...common, "--storage-driver", "vfs", ...args);
    const buildah = (...args: string[]) =>
      sh("buildah", ...common, "--storage-driver", "vfs", ...args);
    await using registry = await startRegistry(dir);
    // skopeo reuses a blob a registry already has (its blob info cache knows the gzip one of
    // the same layer) even when told to compress with zstd: zstd pushes go to a registry of
    // their own.
    await Deno.mkdir(join(dir, "zstd"));
    await using zstdRegistry = await startRegistry(join(dir, "zstd"));
    const push = (src: string, dest: string, ...flags: string[]) =>
      sh("skopeo", "copy", "-q", "--dest-tls-verify=false", ...flags, src, `docker://${dest}`);
    try {
      // The base: static busybox and the applets the RUN steps use, as an umoci layout.
      const base = join(dir, "base");
      for (const d of ["bin", "etc", "tmp"]) await Deno.mkdir(join(base, d), { recursive: true });
      await Deno.copyFile(await Deno.realPath(pathOf("busybox")), join(base, "bin/busybox"));
      const applets = ["sh", "rm", "mkdir", "touch", "ln", "chmod", "chown", "echo", "cat"];
      for (const a of [...applets, "readlink"]) await Deno.symlink("busybox", join(base, "bin", a));
      const baseTar = join(dir, "base.tar");
      await sh("tar", "--numeric-owner", "-C", base, "-cf", baseTar, ".");
      const busyboxLayout = (layout: string) => umociLayout(layout, [baseTar]);
      const layout = await busyboxLayout(join(dir, "base-layout"));
      await sh(
        "skopeo",
        "copy",
        "-q",
        `oci:${layout}:v1`,
        `containers-storage:${store}localhost/matrix-base:v1`,
      );

      // buildah bud --layers: one layer per RUN step.
      const context = join(dir, "context");
      await Deno.mkdir(context);
      await Deno.writeTextFile(
        join(context, "Containerfile"),
        ["FROM localhost/matrix-base:v1", ...STEPS.map((s) => `RUN ${s}`)].join("\n") + "\n",
      );
      await buildah(
        "bud",
        "--runtime",
        "runc",
        "--ulimit",
        "nofile=1024:1024",
        "--layers",
        "-t",
        "localhost/matrix:bud",
        context,
      );

      // podman commit of a container whose filesystem changed: a hardlink broken, a file with
      // a user.* attribute added, a directory remade. (`podman run` cannot set its rlimits in
      // this sandbox, so the change is made through `podman mount`.)
      await podman("create", "--name", "changed", "localhost/matrix:bud");
      const rw = (await podman("mount", "changed")).trim();
      await Deno.remove(join(rw, "data/h2"));
      await Deno.writeTextFile(join(rw, "data/c"), "committed\n");
      linuxPlatform().setxattr(join(rw, "data/c"), "user.matrix", "podman");
      await Deno.remove(join(rw, "opq"), { recursive: true });
      await Deno.mkdir(join(rw, "opq"));
      await Deno.writeTextFile(join(rw, "opq/again"), "again\n");
      await podman("unmount", "changed");
      await podman("commit", "-q", "changed", "localhost/matrix:commit");

      // What podman mounts, for each image.
      const mounted = async (image: string) => {
        const at = (await podman("image", "mount", image)).trim();
        try {
          return await reference(at);
        } finally {
          await podman("image", "unmount", image);
        }
      };
      const bud = await mounted("localhost/matrix:bud");
      const commit = await mounted("localhost/matrix:commit");
      // The cases are really there in the references.
      const at = (r: Reference, path: string) => r.tree.find((e) => e.path === path);
      assert.equal(at(bud, "bin/suid")?.mode, "4755");
      assert.deepEqual([at(bud, "data/a")?.uid, at(bud, "data/a")?.gid], [1000, 50]);
      assert.equal(at(bud, "swap")?.target, "/data");
      assert.equal(at(bud, "data/h2")?.linkGroup, "data/h1");
      assert.ok(!at(bud, "etc/deleteme") && !at(bud, "opq/old") && at(bud, "opq/new"));
      assert.ok(at(commit, "opq/again") && !at(commit, "opq/new") && !at(commit, "data/h2"));
      assert.ok(commit.xattrs["data/c"]?.["user.matrix"], JSON.stringify(commit.xattrs));
      const budLayers = JSON.parse(await podman("image", "inspect", "localhost/matrix:bud"))[0]
        .RootFS.Layers;
      assert.equal(budLayers.length, 1 + STEPS.length, "bud --layers: one layer per RUN");

      // umoci: the busybox base, then the symlink-then-whiteout idiom; umoci unpacks it.
      const umoci = await busyboxLayout(join(dir, "umoci-layout"));
      await addSymlinkWhiteoutLayers(`${umoci}:v1`, join(dir, "bundle"));
      await sh("umoci", "unpack", "--image", `${umoci}:v1`, join(dir, "unpacked"));
      const idiom = await reference(join(dir, "unpacked/rootfs"));
      assert.equal(at(idiom, "todir")?.target, "/data");

      const archive = async (name: string, make: (path: string) => Promise<unknown>) => {
        const path = join(dir, name);
        await make(path);
        return path;
      };
      const load = (path: string) => async (root: string) => {
        const out = await ok(root, ["image", "load", "-i", path]);
        const ref = out.match(/^Loaded image(?: ID)?: (\S+)\n$/)?.[1];
        assert.ok(ref, out);
        return ref;
      };
      const pull = (ref: string) => async (root: string) => {
        await ok(root, ["image", "pull", ref]);
        return ref;
      };
      const cases: Case[] = [];
      for (
        const [tag, want, argv, prints] of [
          ["bud", bud, ["cat", "/swap/h2"], "linked\n"],
          ["commit", commit, ["cat", "/data/c"], "committed\n"],
        ] as const
      ) {
        const image = `localhost/matrix:${tag}`;
        const src = `containers-storage:${store}${image}`;
        const cell = (name: string, bring: Case["bring"]) =>
          cases.push({ name: `${tag} ${name}`, bring, want, argv: [...argv], prints });
        const docker = await archive(
          `${tag}-docker.tar`,
          (p) => podman("save", "-q", "--format", "docker-archive", "-o", p, image),
        );
        const oci = await archive(
          `${tag}-oci.tar`,
          (p) => podman("save", "-q", "--format", "oci-archive", "-o", p, image),
        );
        const zstd = await archive(
          `${tag}-zstd.tar`,
          (p) =>
            sh("skopeo", "copy", "-q", "--dest-compress-format", "zstd", src, `oci-archive:${p}`),
        );
        cell("podman docker-archive, loaded", load(docker));
        cell("podman oci-archive, loaded", load(oci));
        cell("skopeo zstd oci-archive, loaded", load(zstd));
        const gz = `${registry.host}/matrix/${tag}:gzip`;
        await push(src, gz);
        cell("pushed by skopeo (gzip), pulled", pull(gz));
        const zs = `${zstdRegistry.host}/matrix/${tag}:zstd`;
        await push(src, zs, "--format", "oci", "--dest-compress-format", "zstd");
        const pushed = JSON.parse(
          await sh("skopeo", "inspect", "--raw", "--tls-verify=false", `docker://${zs}`),
        );
        assert.ok(pushed.layers.every((l: { mediaType: string }) => l.mediaType.endsWith("zstd")));
        cell("pushed by skopeo (zstd), pulled", pull(zs));
      }
      const um = `${registry.host}/matrix/umoci:idiom`;
      await push(`oci:${umoci}:v1`, um);
      for (
        const [name, bring] of [["umoci layout, loaded", load(umoci)], [
          "umoci, pulled",
          pull(um),
        ]] as const
      ) {
        cases.push({ name, bring, want: idiom, argv: ["cat", "/tagged"], prints: "tagged\n" });
      }

      // Every cell, in a fresh root; a failure names its cell and the others still run.
      const failures: string[] = [];
      for (const [i, c] of cases.entries()) {
        try {
          const root = join(dir, `servin-${i}`);
          const ref = await c.bring(root);
          const exported = join(dir, `export-${i}.tar`);
          await ok(root, ["image", "export", ref, "-o", exported]);
          const ours = await reference(await untarTo(exported, join(dir, `ours-${i}`)));
          assert.deepEqual(
            ours.tree,
            c.want.tree,
            "export differs from the tool's tree",
          );
          assert.deepEqual(ours.xattrs, c.want.xattrs, "xattrs differ");
          for (const snapshotter of ["copy", "overlay"]) {
            const r = await run(root, [
              "run",
              "--rm",
              "--snapshotter",
              snapshotter,
              ref,
              ...c.argv,
            ]);
            assert.equal(r.code, 0, `on ${snapshotter}: ${r.stderr}`);
            assert.equal(r.stdout, c.prints, `on ${snapshotter}`);
          }
        } catch (e) {
          failures.push(`${c.name}: ${e instanceof Error ? e.message : e}`);
        }
      }
      assert.equal(failures.length, 0, failures.join("\n\n"));
      assert.equal(cases.length, 12);
    } finally {
      await podman("system", "reset", "-f").catch(() => {});
    }
  },
);

/** Extracts `tarball` into `dest`; returns `dest`. */
async function untarTo(tarball: string, dest: string): Promise<string> {
  await untar(tarball, dest);
  return dest;
}
