/**
 * `servin commit` end to end: a real busybox image, real runc, both
 * snapshotters. A container adds, modifies and deletes files, replaces a
 * directory and makes a hardlink; an extended attribute is set on one of
 * its files from the host while it runs (busybox has no setfattr). The
 * committed image holds exactly those changes. These need root, runc and a
 * static busybox (`.ci/run` installs them); they are reported as ignored,
 * not passed, where those are missing.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { DEFAULT_LIMITS } from "../core/image.ts";
import { openServin } from "../mod.ts";
import { readTar, type TarHeader } from "../plugins/formats/tar.ts";
import { linuxPlatform } from "../plugins/platform/mod.ts";
import { imageTest, runSh, withImage } from "./_busybox.ts";
import { listTree, ok, run, sha256, spawn } from "./_cli.ts";
import { assertSystemCheckClean, tarContents } from "./_invariants.ts";
import { have, podmanIn, sh } from "./_layout.ts";
import { manifest } from "./_tree.ts";

const ignore = Deno.uid() !== 0 || !have("runc") || !have("busybox");

/**
 * podman loads the committed image and applies its layers with its own
 * code (containers/storage): it must see the tree our export gives.
 */
async function checkWithPodman(root: string, dir: string, image: string): Promise<void> {
  const podman = podmanIn(join(dir, "podman"));
  const archive = join(dir, "for-podman.tar");
  await ok(root, ["save", "--format", "oci-archive", "-o", archive, image]);
  const ours = join(dir, "ours");
  await Deno.mkdir(ours);
  await ok(root, ["image", "export", "-o", join(dir, "ours.tar"), image]);
  await sh("tar", "--numeric-owner", "--xattrs", "-xpf", join(dir, "ours.tar"), "-C", ours);
  try {
    const loaded = await podman("load", "-i", archive);
    const name = /Loaded image(?:\(s\))?: (\S+)/.exec(loaded)?.[1];
    assert.ok(name, loaded);
    const mounted = (await podman("image", "mount", name)).trim();
    try {
      const theirs = (await manifest(mounted)).filter((r) => r.path !== ".");
      assert.deepEqual((await manifest(ours)).filter((r) => r.path !== "."), theirs);
    } finally {
      await podman("image", "unmount", name);
    }
  } finally {
    await podman("system", "reset", "-f").catch(() => {});
  }
}

const SCRIPT = [
  "echo hello > /srv/new.txt",
  "ln /srv/new.txt /srv/link.txt",
  "rm /etc/image-file",
  "echo extra >> /etc/passwd",
  "rm -rf /home && mkdir /home && echo x > /home/new",
  "echo kept apart > /mnt/vol/f && echo gone with the tmpfs > /scratch/f",
  "touch /tmp/ready",
  "exec sleep 600",
].join(" && ");

/** Waits (a bounded number of times) until `path` exists. */
async function waitFor(path: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      await Deno.lstat(path);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${path} never appeared`);
}

/** The headers of the newest layer of `image` as saved in an OCI archive. */
async function savedTopLayer(root: string, dir: string, image: string): Promise<TarHeader[]> {
  const out = join(dir, `saved-${crypto.randomUUID()}`);
  await ok(root, ["save", "--format", "oci-archive", "-o", `${out}.tar`, image]);
  await Deno.mkdir(out);
  const untar = await new Deno.Command("tar", { args: ["-C", out, "-xf", `${out}.tar`] }).output();
  assert.equal(untar.code, 0);
  const index = JSON.parse(await Deno.readTextFile(join(out, "index.json")));
  const blob = (d: string) => join(out, "blobs/sha256", d.slice(7));
  const manifest = JSON.parse(await Deno.readTextFile(blob(index.manifests[0].digest)));
  const top = manifest.layers.at(-1).digest;
  const headers: TarHeader[] = [];
  const stream = (await Deno.open(blob(top))).readable;
  for await (const e of readTar(stream, DEFAULT_LIMITS)) headers.push(e.header);
  return headers;
}

/** The tree of an export with hardlinks resolved to their content. */
function resolved(tree: Map<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [path, what] of tree) {
    const link = /^link (.*)$/.exec(what)?.[1];
    out.set(path, link ? tree.get(link.replace(/^\.\//, ""))! : what);
  }
  return out;
}

for (const snapshotter of ["overlay", "copy"]) {
  Deno.test({
    name: `commit (${snapshotter}): the container's changes, canonical, whiteouts, --change`,
    ignore,
    fn: withImage(async (root, dir) => {
      const s = ["--snapshotter", snapshotter, "--network", "none"];
      // A volume and a tmpfs, whose mount targets the image lacks: not the image's to keep.
      const mounts = ["-v", "/mnt/vol", "--tmpfs", "/scratch"];
      await ok(root, [
        "run",
        "-d",
        ...s,
        ...mounts,
        "--name",
        "c",
        "busybox:test",
        "sh",
        "-c",
        SCRIPT,
      ]);
      const servin = await openServin({ root });
      try {
        const { bundle } = await servin.containers.get("c");
        await waitFor(join(bundle, "rootfs/tmp/ready"));
        // From the host, through the container's root filesystem while it runs.
        linuxPlatform().setxattr(join(bundle, "rootfs/srv/new.txt"), "user.servin", "yes");

        const id = (await ok(root, [
          "commit",
          "-a",
          "Jane Doe",
          "-m",
          "a message",
          "-c",
          "ENV FOO=bar",
          "-c",
          'CMD ["cat", "/srv/new.txt"]',
          "-c",
          "LABEL stage=committed",
          "c",
          "committed:1",
        ])).trim();
        assert.match(id, /^sha256:[0-9a-f]{64}$/);
        assert.equal((await servin.containers.get("c")).status, "running", "unpaused");

        // The same container at the same time: the same layer and the same image.
        const created = new Date(1_700_000_000_000);
        const one = await servin.commit("c", { created, pause: false });
        const two = await servin.commit("c", { created });
        assert.equal(two.id, one.id);
        const committed = await servin.getImage("committed:1");
        assert.equal(committed.id, id.slice(7));
        assert.deepEqual(one.layers, committed.layers);
        const base = await servin.getImage("busybox:test");
        assert.deepEqual(committed.layers.slice(0, -1), base.layers);
        assert.equal(committed.layers.length, base.layers.length + 1);
        // Docker's config: the container's command, unless --change says otherwise.
        assert.deepEqual(one.config.cmd, ["sh", "-c", SCRIPT]);
        assert.deepEqual(committed.config.cmd, ["cat", "/srv/new.txt"]);
        assert.ok(committed.config.env.includes("FOO=bar"));
        assert.ok(!committed.config.env.some((e) => e.startsWith("HOSTNAME=")));
        assert.equal(committed.config.labels.stage, "committed");
        const inspect = JSON.parse(await ok(root, ["image", "inspect", "committed:1"]))[0];
        assert.equal(inspect.Author, "Jane Doe");
        const history = JSON.parse(await ok(root, ["history", "--format", "json", "committed:1"]));
        assert.equal(history[0].comment, "a message");
        // Stopped (the overlay unmounted), the container commits to the same image.
        await ok(root, ["stop", "-t", "0", "c"]);
        assert.equal((await servin.commit("c", { created })).id, one.id);
      } finally {
        await servin.close();
      }
      await ok(root, ["rm", "-f", "c"]);

      // The committed image runs with the changes.
      const shown = await runSh(
        root,
        s,
        "cat /srv/link.txt; tail -n 1 /etc/passwd; ls /home; test -e /etc/image-file || echo gone; echo $FOO",
        "committed:1",
      );
      assert.equal(shown.code, 0, shown.stderr);
      assert.equal(shown.stdout, "hello\nextra\nnew\ngone\nbar\n");
      const cmd = await run(root, ["run", "--rm", ...s, "committed:1"]);
      assert.equal(cmd.stdout, "hello\n", cmd.stderr);

      // Its filesystem: the image's with exactly these changes (no mount points the runtime made).
      await ok(root, ["image", "export", "-o", join(dir, "base.tar"), "busybox:test"]);
      await ok(root, ["image", "export", "-o", join(dir, "committed.tar"), "committed:1"]);
      const expected = resolved(await tarContents(join(dir, "base.tar")));
      const passwd = await Deno.readTextFile(join(dir, "bb/etc/passwd"));
      expected.delete("etc/image-file");
      for (const k of [...expected.keys()]) if (k.startsWith("home/")) expected.delete(k);
      expected.set("etc/passwd", `file ${sha256(`${passwd}extra\n`)}`);
      expected.set("home/new", `file ${sha256("x\n")}`);
      expected.set("srv/new.txt", `file ${sha256("hello\n")}`);
      expected.set("srv/link.txt", `file ${sha256("hello\n")}`);
      expected.set("tmp/ready", `file ${sha256("")}`);
      assert.deepEqual(
        [...resolved(await tarContents(join(dir, "committed.tar")))].sort(),
        [...expected].sort(),
      );

      // The saved layer: deletions as whiteouts, the replaced directory opaque, the link, the xattr.
      const layer = await savedTopLayer(root, dir, "committed:1");
      const byName = new Map(layer.map((h) => [h.name, h]));
      assert.ok(byName.has("etc/.wh.image-file"), [...byName.keys()].join(" "));
      assert.ok(byName.has("home/.wh..wh..opq"), [...byName.keys()].join(" "));
      assert.equal(byName.get("srv/new.txt")?.type, "link");
      assert.equal(byName.get("srv/new.txt")?.linkname, "srv/link.txt");
      const xattr = byName.get("srv/link.txt")?.xattrs?.["user.servin"];
      assert.equal(new TextDecoder().decode(xattr), "yes");
      for (const name of byName.keys()) {
        assert.doesNotMatch(
          name,
          /^(etc\/(hosts|hostname|resolv\.conf)|proc|sys|dev|mnt|scratch)(\/|$)/,
        );
      }
      await assertSystemCheckClean(root, "after commits");
      if (have("podman")) await checkWithPodman(root, dir, "committed:1");
    }),
  });
}

imageTest(
  "commit: an unchanged container adds no layer; a missing container changes nothing",
  ignore,
  async (root) => {
    await ok(root, ["create", "--network", "none", "--name", "idle", "busybox:test", "true"]);
    const id = (await ok(root, ["container", "commit", "idle", "idle:1"])).trim();
    const servin = await openServin({ root });
    try {
      const [image, base] = [
        await servin.getImage("idle:1"),
        await servin.getImage("busybox:test"),
      ];
      assert.equal(image.id, id.slice(7));
      assert.deepEqual(image.layers, base.layers);
      const history = await servin.history("idle:1");
      assert.equal(history[0]?.empty_layer, true);
    } finally {
      await servin.close();
    }
    const before = await listTree(root);
    const missing = await run(root, ["commit", "nosuch", "x:1"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^servin: .*nosuch.*\n$/);
    const bad = await run(root, ["commit", "-c", "FROM scratch", "idle", "x:1"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Invalid --change/);
    assert.deepEqual(await listTree(root), before);
  },
);

imageTest(
  "commit and inspect keep where --entrypoint ends and the command begins, as Docker does",
  ignore,
  async (root) => {
    const n = ["--network", "none"];
    // An image with an entrypoint of its own, which --entrypoint replaces.
    await ok(root, ["commit", "-c", 'ENTRYPOINT ["echo", "image"]', ...await idle(root), "ep:1"]);
    const cases: [string[], string[] | null, string[] | null][] = [
      [["--entrypoint", "sh", "ep:1", "-c", "echo one"], ["sh"], ["-c", "echo one"]],
      [["ep:1", "two"], ["echo", "image"], ["two"]],
      [["--entrypoint", "", "ep:1", "echo", "three"], null, ["echo", "three"]],
      [["--entrypoint", "/bin/true", "ep:1"], ["/bin/true"], null],
    ];
    for (const [i, [args, entrypoint, cmd]] of cases.entries()) {
      await ok(root, ["create", ...n, "--name", `c${i}`, ...args]);
      const config = JSON.parse(await ok(root, ["inspect", `c${i}`]))[0].Config;
      assert.deepEqual([config.Entrypoint, config.Cmd], [entrypoint, cmd], `inspect ${args}`);
      await ok(root, ["commit", `c${i}`, `ep:c${i}`]);
      const image = JSON.parse(await ok(root, ["image", "inspect", `ep:c${i}`]))[0].Config;
      assert.deepEqual([image.Entrypoint ?? null, image.Cmd ?? null], [entrypoint, cmd], `${args}`);
    }
    // The committed image runs what the container ran.
    assert.equal(await ok(root, ["run", "--rm", ...n, "ep:c0"]), "one\n");
    assert.equal(await ok(root, ["run", "--rm", ...n, "ep:c1"]), "image two\n");
    assert.equal(await ok(root, ["run", "--rm", ...n, "ep:c2"]), "three\n");
  },
);

/** The arguments of commit that name a new container of busybox:test, doing nothing. */
async function idle(root: string): Promise<string[]> {
  await ok(root, ["create", "--network", "none", "--name", "base", "busybox:test", "true"]);
  return ["base"];
}

imageTest(
  "a signal while commit holds the container paused: it runs on, and no image is made",
  ignore,
  async (root) => {
    // 256 MiB of changes, so that the commit is still under way when the signal comes.
    const script = "dd if=/dev/zero of=/big bs=1M count=256 2>/dev/null && touch /ready && " +
      "while :; do sleep 1; done";
    await ok(
      root,
      ["run", "-d", "--network", "none", "--name", "busy", "busybox:test", "sh"]
        .concat(["-c", script]),
    );
    const status = async () =>
      (await ok(root, ["inspect", "-f", "{{.State.Status}}", "busy"])).trim();
    const until = async (what: () => Promise<boolean>, why: string) => {
      for (let i = 0; i < 200 && !await what(); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(await what(), why);
    };
    try {
      await until(
        async () => (await run(root, ["exec", "busy", "test", "-e", "/ready"])).code === 0,
        "ready",
      );
      const before = await ok(root, ["images", "-a", "-q", "--no-trunc"]);
      const commit = spawn(root, ["commit", "busy", "big:1"]);
      await until(async () => await status() === "paused", "the commit pauses the container");
      commit.kill("SIGINT");
      const out = await commit.output();
      assert.equal(out.code, 130, new TextDecoder().decode(out.stderr));
      assert.equal(await status(), "running");
      assert.equal(await ok(root, ["images", "-a", "-q", "--no-trunc"]), before);
      assert.equal((await run(root, ["exec", "busy", "true"])).code, 0);
    } finally {
      await run(root, ["rm", "-f", "busy"]);
    }
    await assertSystemCheckClean(root, "after the interrupted commit");
  },
);
