/**
 * Fidelity: a real directory tree, archived by GNU tar in its formats, comes
 * out of `servin image import` identical (type, mode, owner, size, content,
 * link target, device number, mtime, hardlink sharing).
 */

import assert from "node:assert/strict";
import { chownSync, lchownSync, lutimesSync } from "node:fs";
import { join } from "node:path";
import { ok, run, tempDir, withTempDir } from "./_cli.ts";
import { manifest } from "./_tree.ts";

const OLD = 1_000_000_000; // 2001-09-09
const LONG = ["a".repeat(100), "b".repeat(100), "c".repeat(90) + ".txt"].join("/");
const UNICODE = "héllo-世界 ünïcode.txt";

function sh(cmd: string, args: string[]): void {
  const out = new Deno.Command(cmd, { args, stderr: "piped" }).outputSync();
  if (out.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Builds a tree with every kind of entry and attribute an image can carry. */
async function buildTree(src: string): Promise<void> {
  const p = (rel: string) => join(src, rel);
  await Deno.mkdir(src, { mode: 0o755 });
  for (const d of ["bin", "etc", "data", "home/user", "tmp", "ro-dir", "dev", "run", "olddir"]) {
    await Deno.mkdir(p(d), { recursive: true });
  }
  await Deno.mkdir(p(LONG.slice(0, LONG.lastIndexOf("/"))), { recursive: true });
  const write = async (rel: string, text: string, mode: number) => {
    await Deno.writeTextFile(p(rel), text);
    await Deno.chmod(p(rel), mode);
  };
  await write("bin/setuid", "#!/bin/sh\n", 0o4755);
  await write("bin/setgid", "sgid\n", 0o2711);
  chownSync(p("bin/setgid"), 0, 42);
  await Deno.chmod(p("bin/setgid"), 0o2711);
  await Deno.chmod(p("tmp"), 0o1777);
  await Deno.symlink("/etc/hostname", p("etc/absolute-link"));
  await Deno.symlink("../bin/setuid", p("etc/relative-link"));
  await Deno.symlink("nowhere/at/all", p("etc/dangling-link"));
  await Deno.symlink("/etc/passwd", p("home/user/owned-link"));
  lchownSync(p("home/user/owned-link"), 1234, 1234);
  lutimesSync(p("home/user/owned-link"), OLD, OLD);
  await write("data/original", "shared content\n".repeat(100), 0o644);
  await Deno.link(p("data/original"), p("data/hardlink"));
  await write("home/user/file", "mine\n", 0o640);
  chownSync(p("home/user/file"), 1234, 1234);
  chownSync(p("home/user"), 1234, 1234);
  await write("old", "old\n", 0o644);
  await Deno.utime(p("old"), OLD, OLD);
  await write(LONG, "long name\n", 0o644);
  await write(UNICODE, "unicode\n", 0o644);
  await write("empty", "", 0o644);
  await write("zero-mode", "no permissions\n", 0o000);
  const big = new Uint8Array(3 * 1024 * 1024 + 17);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  await Deno.writeFile(p("data/big.bin"), big);
  await write("ro-dir/inside", "inside a read-only directory\n", 0o444);
  await Deno.chmod(p("ro-dir"), 0o555);
  sh("mknod", ["-m", "666", p("dev/null"), "c", "1", "3"]);
  sh("mknod", ["-m", "660", p("dev/loop-big-minor"), "b", "7", "300"]);
  sh("mkfifo", ["-m", "600", p("run/fifo")]);
  await write("olddir/child", "child\n", 0o644);
  await Deno.utime(p("olddir"), OLD, OLD);
}

for (const format of ["posix", "gnu", "ustar"]) {
  Deno.test({
    name: `import keeps every file attribute of a GNU tar --format=${format} archive`,
    ignore: Deno.uid() !== 0, // ownership and device nodes need root
    fn: withTempDir(async ({ dir, root }) => {
      const src = join(dir, "src");
      await buildTree(src);
      const expected = await manifest(src);
      const archive = join(dir, "rootfs.tar");
      // ustar cannot hold names over 255 bytes: leave the long one out there.
      const exclude = format === "ustar" ? ["--exclude", "./a*"] : [];
      sh("tar", [
        `--format=${format}`,
        "--numeric-owner",
        ...exclude,
        "-C",
        src,
        "-cf",
        archive,
        ".",
      ]);
      await ok(root, ["image", "import", archive, `fidelity:${format}`]);
      const [image] = JSON.parse(await ok(root, ["image", "inspect", `fidelity:${format}`]));
      const actual = await manifest(image.rootfs_path);
      const wanted = format === "ustar"
        ? expected.filter((r) => !r.path.startsWith("a"))
        : expected;
      assert.deepEqual(actual, wanted);
      // Sanity: the manifest really covers what the test is about.
      const types = new Set(actual.map((r) => r.type));
      for (const t of ["file", "dir", "symlink", "char", "block", "fifo"]) {
        assert.ok(types.has(t), t);
      }
      assert.ok(actual.some((r) => r.mode === "4755"));
      assert.ok(actual.some((r) => r.uid === 1234 && r.type === "symlink"));
      assert.ok(
        actual.some((r) => r.linkGroup === "data/hardlink" || r.linkGroup === "data/original"),
      );
      const files = actual.filter((r) => r.type === "file");
      const unique = new Map(files.map((r) => [r.linkGroup ?? r.path, r.size ?? 0]));
      assert.equal(image.size, [...unique.values()].reduce((a, b) => a + b, 0));
    }),
  });
}

Deno.test({
  name: "import of a real Debian root filesystem (debootstrap) matches GNU tar's extraction",
  ignore: Deno.uid() !== 0 || !Deno.env.get("SERVIN_DEBOOTSTRAP_TARBALL"),
  async fn() {
    const tarball = Deno.env.get("SERVIN_DEBOOTSTRAP_TARBALL")!;
    const [dir, cleanup] = await tempDir();
    try {
      const byTar = join(dir, "tar");
      await Deno.mkdir(byTar);
      sh("tar", ["--numeric-owner", "-xpf", tarball, "-C", byTar]);
      const root = join(dir, "root");
      await ok(root, ["image", "import", tarball, "debian:bookworm"]);
      const [image] = JSON.parse(await ok(root, ["image", "inspect", "debian:bookworm"]));
      assert.deepEqual(await manifest(image.rootfs_path), await manifest(byTar));
    } finally {
      await cleanup();
    }
  },
});

Deno.test({
  name:
    "as a non-root user, import keeps content and modes, and warns once that owners and devices are not kept",
  ignore: Deno.uid() !== 0, // root is needed to build the fixture and to switch to nobody
  fn: withTempDir(async ({ dir }) => {
    const nobody = 65534;
    await Deno.chmod(dir, 0o755);
    const src = join(dir, "src");
    await buildTree(src);
    const archive = join(dir, "rootfs.tar");
    sh("tar", ["--format=posix", "--numeric-owner", "-C", src, "-cf", archive, "."]);
    const home = join(dir, "home");
    await Deno.mkdir(home);
    chownSync(home, nobody, nobody);
    const r = await run(join(home, "root"), ["image", "import", archive, "rootless"], {
      as: nobody,
      env: { HOME: home, DENO_DIR: join(home, ".deno"), XDG_DATA_HOME: join(home, ".local") },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stderr.trimEnd().split("\n").sort(), [
      "servin: warning: device nodes from archives are skipped: not running as root",
      "servin: warning: file ownership from archives is not kept: not running as root",
    ]);
    const id = r.stdout.trim().slice(7);
    const [image] = JSON.parse(await ok(join(home, "root"), ["image", "inspect", id]));
    const expected = (await manifest(src))
      .filter((e) => e.type !== "char" && e.type !== "block")
      .map((e) => ({ ...e, uid: nobody, gid: nobody }));
    assert.deepEqual(await manifest(image.rootfs_path), expected);
  }),
});
