/**
 * Volumes, binds and tmpfs mounts end to end, through the CLI on real runc:
 * `-v`, `--mount`, `--tmpfs`, `--read-only`, the image's `Volumes`, and the
 * `volume` commands. They need root, runc and a static busybox (`.ci/run`
 * installs them); they are reported as ignored, not passed, where those are
 * missing.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { openServin, ServinError } from "../mod.ts";
import { linuxPlatform } from "../plugins/platform/mod.ts";
import { imageTest, runSh, withImage } from "./_busybox.ts";
import { listTree, ok, run, withTempDir, writeFiles } from "./_cli.ts";
import { have, pathOf } from "./_layout.ts";
import { buildTar } from "./_tar.ts";

const ignore = Deno.uid() !== 0 || !have("runc") || !have("busybox");

/** The volume names `volume ls -q` prints. */
async function volumes(root: string): Promise<string[]> {
  return (await ok(root, ["volume", "ls", "-q"])).split("\n").filter(Boolean);
}

/**
 * `vol:test`: busybox and `/data` (owner 1000:50, mode 0750, an xattr, a
 * file, a symlink) declared a volume by the image; `/up` a symlink that
 * climbs out of any root towards `dir/outside`.
 */
async function volumeImage(dir: string, root: string): Promise<void> {
  const busybox = await Deno.readFile(await Deno.realPath(pathOf("busybox")));
  const applets = ["sh", "cat", "ls", "stat", "echo", "test", "mkdir", "grep", "rm", "touch"];
  const tar = buildTar([
    { name: "bin/", type: "5" },
    { name: "bin/busybox", body: busybox, mode: 0o755 },
    ...applets.map((a) => ({ name: `bin/${a}`, type: "2", linkname: "busybox" })),
    { name: "etc/", type: "5" },
    {
      name: "data/",
      type: "5",
      mode: 0o750,
      uid: 1000,
      gid: 50,
      pax: { "SCHILY.xattr.user.tag": "kept" },
    },
    { name: "data/seed", body: "seeded\n", mode: 0o640, uid: 1000, gid: 50 },
    { name: "data/link", type: "2", linkname: "seed" },
    { name: "up", type: "2", linkname: `../../../../../../../..${dir}/outside` },
  ]);
  await Deno.writeFile(join(dir, "vol.tar"), tar);
  await ok(root, ["image", "import", "--change", "VOLUME /data", join(dir, "vol.tar"), "vol:test"]);
}

for (const snapshotter of ["overlay", "copy"]) {
  const s = ["--snapshotter", snapshotter];

  Deno.test({
    name: `volumes (${snapshotter}): a named volume outlives its containers; inspect shows it`,
    ignore,
    fn: withImage(async (root) => {
      const write = await runSh(root, [...s, "-v", "keep1:/srv/data"], "echo kept > /srv/data/f");
      assert.equal(write.code, 0, write.stderr);
      const read = await runSh(root, [...s, "-v", "keep1:/d:ro"], "cat /d/f; echo x > /d/g");
      assert.equal(read.stdout, "kept\n", read.stderr);
      assert.notEqual(read.code, 0, "a :ro volume refuses writes");
      assert.match(read.stderr, /Read-only file system/);
      assert.deepEqual(await volumes(root), ["keep1"]);

      const [v] = JSON.parse(await ok(root, ["volume", "inspect", "keep1"]));
      assert.deepEqual(Object.keys(v).sort(), [
        "CreatedAt",
        "Driver",
        "Labels",
        "Mountpoint",
        "Name",
        "Options",
        "Scope",
      ]);
      assert.equal(v.Name, "keep1");
      assert.equal(v.Driver, "local");
      assert.equal(v.Scope, "local");
      assert.equal(v.Mountpoint, join(root, "volumes", "keep1", "_data"));
      assert.match(v.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(await Deno.readTextFile(join(v.Mountpoint, "f")), "kept\n");

      const id = (await ok(root, ["create", ...s, "-v", "keep1:/d:ro", "busybox:test"])).trim();
      const [c] = JSON.parse(await ok(root, ["container", "inspect", id]));
      assert.deepEqual(c.Mounts, [{
        Type: "volume",
        Name: "keep1",
        Source: v.Mountpoint,
        Destination: "/d",
        Driver: "local",
        Mode: "ro",
        RW: false,
        Propagation: "",
      }]);
    }),
  });

  Deno.test({
    name: `volumes (${snapshotter}): an empty volume takes the image's content, once`,
    ignore,
    fn: withImage(async (root, dir) => {
      await volumeImage(dir, root);
      // The image's /data is a volume: an anonymous one, gone with --rm.
      const anon = await runSh(root, s, "cat /data/seed; stat -c '%u:%g %a' /data", "vol:test");
      assert.equal(anon.stdout, "seeded\n1000:50 750\n", anon.stderr);
      assert.deepEqual(await volumes(root), [], "--rm removed the anonymous volume");

      const named = await runSh(root, [...s, "-v", "init1:/data"], "rm /data/seed", "vol:test");
      assert.equal(named.code, 0, named.stderr);
      const data = join(root, "volumes", "init1", "_data");
      const info = await Deno.lstat(data);
      assert.deepEqual([info.uid, info.gid, info.mode! & 0o7777], [1000, 50, 0o750]);
      assert.equal(await Deno.readLink(join(data, "link")), "seed");
      assert.equal(linuxPlatform().getxattr(data, "user.tag"), "kept");
      // Not empty any more (the symlink is there): not filled again.
      const again = await runSh(root, [...s, "-v", "init1:/data"], "ls /data", "vol:test");
      assert.equal(again.stdout, "link\n", again.stderr);
      // `nocopy`: left empty.
      const nocopy = await runSh(
        root,
        [...s, "-v", "empty1:/data:nocopy"],
        "ls -A /data",
        "vol:test",
      );
      assert.equal(nocopy.stdout, "", nocopy.stderr);

      // A target through a symlink that climbs out of the root stays in the root.
      const up = await runSh(
        root,
        [...s, "-v", `${dir}/host:/up/x`],
        "echo in > /up/x/f",
        "vol:test",
      );
      assert.equal(up.code, 0, up.stderr);
      assert.equal(await Deno.readTextFile(join(dir, "host", "f")), "in\n");
      await assert.rejects(Deno.lstat(join(dir, "outside")), Deno.errors.NotFound);
    }),
  });
}

imageTest(
  "volumes: -v binds a host directory both ways (made when missing), :ro refuses writes",
  ignore,
  async (root, dir) => {
    const host = await writeFiles(join(dir, "host"), { in: "from the host\n" });
    const both = await runSh(
      root,
      ["-v", `${host}:/h`],
      "cat /h/in; echo from the container > /h/out",
    );
    assert.equal(both.stdout, "from the host\n", both.stderr);
    assert.equal(await Deno.readTextFile(join(host, "out")), "from the container\n");

    const ro = await runSh(root, ["-v", `${host}:/h:ro`], "cat /h/in; echo no > /h/in");
    assert.equal(ro.stdout, "from the host\n");
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /Read-only file system/);
    assert.equal(await Deno.readTextFile(join(host, "in")), "from the host\n");

    const made = await runSh(root, ["-v", `${dir}/new/deep:/n`], "echo made > /n/f");
    assert.equal(made.code, 0, made.stderr);
    assert.equal(await Deno.readTextFile(join(dir, "new", "deep", "f")), "made\n");

    // A file binds as a file.
    const file = await runSh(root, ["-v", `${host}/in:/etc/motd:ro`], "cat /etc/motd");
    assert.equal(file.stdout, "from the host\n", file.stderr);
    assert.deepEqual(await volumes(root), [], "a bind makes no volume");
  },
);

imageTest(
  "volumes: --mount bind, volume and tmpfs; --tmpfs; --read-only with a tmpfs",
  ignore,
  async (root, dir) => {
    await Deno.mkdir(join(dir, "src"));
    await Deno.writeTextFile(join(dir, "src", "f"), "bound\n");
    const bind = await runSh(
      root,
      ["--mount", `type=bind,source=${dir}/src,target=/b,readonly`],
      "cat /b/f; echo x > /b/g",
    );
    assert.equal(bind.stdout, "bound\n");
    assert.match(bind.stderr, /Read-only file system/);

    const vol = await runSh(root, ["--mount", "src=mvol,dst=/v"], "echo v > /v/f; cat /v/f");
    assert.equal(vol.stdout, "v\n", vol.stderr);
    assert.deepEqual(await volumes(root), ["mvol"]);

    const tmpfs = await runSh(
      root,
      ["--mount", "type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770"],
      "grep ' /t ' /proc/mounts; stat -c %a /t",
    );
    assert.equal(tmpfs.code, 0, tmpfs.stderr);
    assert.match(tmpfs.stdout, /^tmpfs \/t tmpfs rw,nosuid,nodev,noexec,.*size=1024k,mode=1770/);
    assert.match(tmpfs.stdout, /\n1770\n$/);

    const flag = await runSh(root, ["--tmpfs", "/run:size=64k"], "grep ' /run ' /proc/mounts");
    assert.match(flag.stdout, /^tmpfs \/run tmpfs rw,.*size=64k/, flag.stderr);

    const ro = await runSh(
      root,
      ["--read-only", "--tmpfs", "/tmp"],
      "echo no > /etc/x; echo yes > /tmp/y && cat /tmp/y; cat /etc/hostname >/dev/null && echo hosts",
    );
    assert.match(ro.stderr, /can't create \/etc\/x: Read-only file system/);
    assert.equal(ro.stdout, "yes\nhosts\n");
  },
);

imageTest(
  "volumes: rm refused while a container uses it; prune takes only unused ones; rm -v",
  ignore,
  async (root) => {
    assert.equal((await ok(root, ["volume", "create", "--label", "k=v", "used1"])).trim(), "used1");
    assert.equal((await ok(root, ["volume", "create", "used1"])).trim(), "used1", "idempotent");
    await ok(root, ["create", "--name", "user", "-v", "used1:/u", "-v", "/anon", "busybox:test"]);
    const anon = (await volumes(root)).find((n) => n !== "used1")!;
    assert.match(anon, /^[0-9a-f]{64}$/);

    const refused = await run(root, ["volume", "rm", "used1"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^servin: .*volume is in use - \[[0-9a-f]{64}\]\n$/);
    assert.deepEqual(await volumes(root), [anon, "used1"].sort());

    // Used ones stay; a "no" changes nothing.
    await ok(root, ["volume", "create", "spare1"]);
    const df = await ok(root, [
      "system",
      "df",
      "--format",
      "{{.Type}}: {{.TotalCount}} {{.Active}}",
    ]);
    assert.match(df, /^Local Volumes: 3 2$/m);
    const no = await run(root, ["volume", "prune", "-a"], {
      stdin: new TextEncoder().encode("n\n"),
    });
    assert.match(no.stdout, /WARNING! This will remove all local volumes not used/);
    assert.equal((await volumes(root)).length, 3);
    assert.equal(
      await ok(root, ["volume", "ls", "--filter", "dangling=true", "--format", "{{.Name}}"]),
      "spare1\n",
    );
    assert.equal(await ok(root, ["volume", "ls", "-q", "--filter", "label=k=v"]), "used1\n");
    const pruned = await ok(root, ["volume", "prune", "-af"]);
    assert.match(pruned, /^Deleted Volumes:\nspare1\n\nTotal reclaimed space: /);
    assert.deepEqual(await volumes(root), [anon, "used1"].sort());

    // rm -v takes the anonymous volume, not the named one.
    await ok(root, ["rm", "-v", "user"]);
    assert.deepEqual(await volumes(root), ["used1"]);
    await ok(root, ["volume", "rm", "used1"]);
    assert.deepEqual(await volumes(root), []);
    assert.deepEqual(await listTree(join(root, "volumes")), ["index.json", "index.lock"]);
    const missing = await run(root, ["volume", "rm", "used1"]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, "servin: No such volume: used1\n");
    assert.equal((await run(root, ["volume", "rm", "-f", "used1"])).code, 0);

    // Anonymous volumes go with --rm; prune without -a takes only anonymous ones.
    await ok(root, ["run", "--rm", "-v", "/a", "busybox:test", "true"]);
    await ok(root, ["create", "--name", "left", "-v", "/a", "-v", "named2:/n", "busybox:test"]);
    await ok(root, ["rm", "left"]);
    assert.equal((await volumes(root)).length, 2, "rm without -v keeps volumes");
    await ok(root, ["system", "prune", "-f", "--volumes"]);
    assert.deepEqual(await volumes(root), ["named2"], "system prune --volumes: anonymous only");
  },
);

imageTest(
  "volumes: bad input is one line, exit 125 (1 for volume create), and leaves nothing",
  ignore,
  async (root, dir) => {
    await ok(root, ["rm", (await ok(root, ["create", "busybox:test"])).trim()]);
    const before = await listTree(root);
    const cases: [string[], RegExp][] = [
      [["-v", "bad/name:/d"], /Invalid volume name "bad\/name"/],
      [["-v", "x:/../etc"], /escapes the container's root/],
      [["--mount", "type=volume,src=ok1,dst=/a/../../b"], /escapes the container's root/],
      [["-v", "ok1:relative"], /must be an absolute path/],
      [["--mount", "type=bind,src=relative,dst=/d"], /a host path must be absolute/],
      [["--mount", `type=bind,src=${dir}/missing,dst=/d`], /bind source path does not exist/],
      [["--mount", "type=volume,src=ok1,dst=/d,colour=red"], /unknown key "colour"/],
      [["--mount", "type=nfs,dst=/d"], /unknown type "nfs"/],
      [["--tmpfs", "/t:bogus"], /unknown option "bogus"/],
      [["-v", "ok1:/d:zz"], /unknown mode "zz"/],
      [["-v", "ok1:/d", "--tmpfs", "/d"], /Duplicate mount point: \/d/],
      [["-v", "ok1:/"], /cannot be "\/"/],
    ];
    for (const verb of ["run", "create"]) {
      for (const [flags, message] of cases) {
        const r = await run(root, [verb, ...flags, "busybox:test", "true"]);
        assert.equal(r.code, 125, `${verb} ${flags.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, /^servin: [^\n]+\n$/);
        assert.match(r.stderr, message);
      }
    }
    const names = await run(root, ["volume", "create", "../escape"]);
    assert.equal(names.code, 1);
    assert.match(names.stderr, /^servin: Invalid volume name "\.\.\/escape"[^\n]*\n$/);
    assert.equal((await run(root, ["volume", "create", "x"])).code, 1, "two characters at least");
    assert.deepEqual(await listTree(root), before);
    await assert.rejects(Deno.lstat(join(dir, "missing")), Deno.errors.NotFound);
  },
);

Deno.test(
  "volumes from the library: create, list, in use, remove with the container, bad mounts",
  withTempDir(async ({ dir, root }) => {
    await using servin = await openServin({ root });
    const tar = buildTar([{ name: "etc/", type: "5" }, { name: "etc/f", body: "x\n" }]);
    await servin.importImage({ path: "t", stream: new Blob([tar]).stream() }, "lib:test", {
      config: { cmd: ["/bin/true"] },
    });
    const v = await servin.containers.createVolume("libvol", { team: "a" });
    assert.equal(v.mountpoint, join(root, "volumes", "libvol", "_data"));
    assert.deepEqual(v.labels, { team: "a" });
    const c = await servin.containers.create("lib:test", {
      snapshotter: "copy",
      host: {
        mounts: [
          { type: "volume", name: "libvol", source: "", destination: "/v/", options: [] },
          { type: "volume", source: "", destination: "/anon", options: [] },
        ],
      },
    });
    assert.deepEqual(c.host?.mounts?.map((m) => m.destination), ["/v", "/anon"]);
    const anon = c.host!.mounts![1]!.name!;
    assert.deepEqual(
      (await servin.containers.listVolumes()).map((x) => x.name),
      [anon, "libvol"].sort(),
    );
    assert.ok("com.docker.volume.anonymous" in (await servin.containers.getVolume(anon)).labels);
    await assert.rejects(
      servin.containers.removeVolume("libvol"),
      (err: unknown) => err instanceof ServinError && err.code === "conflict",
    );
    for (
      const bad of [
        { type: "bind" as const, source: "relative", destination: "/b", options: [] },
        { type: "volume" as const, name: "../up", source: "", destination: "/b", options: [] },
        { type: "tmpfs" as const, source: "", destination: "/a/../..", options: [] },
      ]
    ) {
      await assert.rejects(
        servin.containers.create("lib:test", { snapshotter: "copy", host: { mounts: [bad] } }),
        (err: unknown) => err instanceof ServinError && err.code === "invalid-argument",
      );
    }
    assert.equal((await servin.containers.list()).length, 1);
    await servin.containers.remove(c.id, { volumes: true });
    assert.deepEqual((await servin.containers.listVolumes()).map((x) => x.name), ["libvol"]);
    await servin.containers.removeVolume("libvol");
    assert.deepEqual(await servin.containers.listVolumes(), []);
    await assert.rejects(Deno.lstat(join(dir, "up")), Deno.errors.NotFound);
  }),
);
