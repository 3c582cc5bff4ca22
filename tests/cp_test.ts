/**
 * `servin cp` end to end, with real runc and conmon: both directions, files,
 * directories and `/.` contents, tar streams on stdin and stdout, a stopped
 * container (its overlay mounted for the copy only), owners with and
 * without `-a`, `-L`, and escapes: symlinks in the container pointing at
 * host paths, in either direction, and hostile tars on stdin. Ignored (not
 * passed) where root, runc, busybox or conmon are missing.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { imageTest, mountsUnder } from "./_busybox.ts";
import { listTree, ok, run, writeFiles, writeFixture } from "./_cli.ts";
import { have } from "./_layout.ts";
import { buildTar, gnuTarList, gzip } from "./_tar.ts";

const ignore = Deno.uid() !== 0 || !have("runc") || !have("busybox") || !have("conmon");

/** `servin exec C sh -c SCRIPT`'s output. */
async function sh(root: string, c: string, script: string): Promise<string> {
  return await ok(root, ["exec", c, "sh", "-c", script]);
}

/** Asserts a failure: exit 1 and one line on stderr matching `message`. */
async function fails(root: string, args: string[], message: RegExp, stdin?: Uint8Array) {
  const r = await run(root, args, { stdin });
  assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /^servin: [^\n]+\n$/, r.stderr);
  assert.match(r.stderr, message);
}

/** The entries `tar -tv` lists in `bytes`: `mode owner/group name` (GNU tar's numeric listing). */
async function tarList(bytes: Uint8Array): Promise<string[]> {
  const out = await gnuTarList(bytes);
  return out.trim().split("\n").map((l) => {
    const f = l.split(/\s+/);
    return `${f[0]} ${f[1]} ${f.slice(5).join(" ")}`;
  });
}

/** `servin cp C:PATH -`, as raw bytes. */
async function cpOut(root: string, from: string, flags: string[] = []): Promise<Uint8Array> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../main.ts", import.meta.url).pathname, "cp", ...flags, from, "-"],
    env: { SERVIN_ROOT: root, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return out.stdout;
}

imageTest(
  "cp copies files and directories both ways, as docker cp does, running or stopped",
  ignore,
  async (root, dir) => {
    const host = join(dir, "host");
    await Deno.mkdir(join(host, "tree", "sub"), { recursive: true });
    await Deno.writeTextFile(join(host, "file"), "a file\n");
    await Deno.writeTextFile(join(host, "tree", "top"), "top\n");
    await Deno.writeTextFile(join(host, "tree", "sub", "deep"), "deep\n");
    await Deno.symlink("top", join(host, "tree", "link"));
    await Deno.chown(join(host, "file"), 1234, 4321);

    // A created container has never run: its overlay is mounted for each copy only.
    await ok(root, ["create", "--name", "box", "busybox:test", "sleep", "300"]);
    await ok(root, ["cp", join(host, "file"), "box:/tmp"]); // into a directory
    await ok(root, ["cp", join(host, "file"), "box:/tmp/renamed"]); // a new name
    await ok(root, ["cp", join(host, "tree"), "box:/srv"]); // a directory into one
    await ok(root, ["cp", join(host, "tree"), "box:/newdir"]); // a directory, new name
    await ok(root, ["cp", `${join(host, "tree")}/.`, "box:/tmp"]); // its contents
    await ok(root, ["container", "cp", "-a", join(host, "file"), "box:/tmp/kept"]);
    assert.deepEqual(mountsUnder(root), [], "the stopped container's rootfs is unmounted");
    assert.equal((await ok(root, ["ps", "-a", "--format", "{{.Status}}"])).trim(), "Created");

    await ok(root, ["start", "box"]);
    assert.equal(
      await sh(root, "box", "cat /tmp/file /tmp/renamed /srv/tree/top /newdir/sub/deep /tmp/top"),
      "a file\na file\ntop\ndeep\ntop\n",
    );
    assert.equal(await sh(root, "box", "busybox readlink /srv/tree/link"), "top\n");
    // Docker's rule: root owns what is copied in, unless -a keeps the owners.
    assert.match(await sh(root, "box", "ls -ln /tmp/file"), /^-\S+\s+1\s+0\s+0\s/);
    assert.match(await sh(root, "box", "ls -ln /tmp/kept"), /^-\S+\s+1\s+1234\s+4321\s/);

    // Over an existing file; a directory cannot replace a file, nor a file a directory.
    await Deno.writeTextFile(join(host, "file"), "changed\n");
    await ok(root, ["cp", join(host, "file"), "box:/tmp/renamed"]);
    assert.equal(await sh(root, "box", "cat /tmp/renamed"), "changed\n");
    await fails(root, ["cp", join(host, "tree"), "box:/tmp/renamed"], /directory to the file/);
    await fails(
      root,
      ["cp", "-", "box:/srv/tree"],
      /Cannot overwrite the directory "[^"]*\/srv\/tree\/sub" with a non-directory/,
      buildTar([{ name: "sub", body: "x" }]),
    );
    await fails(root, ["cp", join(host, "file"), "box:/nodir/"], /no such directory/);
    await fails(root, ["cp", join(host, "file"), "box:/no/such/x"], /does not exist/);

    // Out: a file, a directory, its contents, and a symlink itself or (-L) its target.
    const out = join(dir, "out");
    await Deno.mkdir(out);
    await ok(root, ["cp", "box:/tmp/file", out]);
    await ok(root, ["cp", "box:/srv/tree", join(out, "copy")]);
    await ok(root, ["cp", "box:/srv/tree/.", out]);
    await ok(root, ["cp", "-L", "box:/srv/tree/link", join(out, "followed")]);
    assert.deepEqual(await listTree(out), [
      "copy/",
      "copy/link",
      "copy/sub/",
      "copy/sub/deep",
      "copy/top",
      "file",
      "followed",
      "link",
      "sub/",
      "sub/deep",
      "top",
    ]);
    assert.equal(await Deno.readTextFile(join(out, "followed")), "top\n");

    // stdout: a tar named as Docker names it, the owners kept.
    assert.deepEqual(await tarList(await cpOut(root, "box:/tmp/kept")), [
      "-rw-r--r-- 1234/4321 kept",
    ]);
    const tree = await tarList(await cpOut(root, "box:/srv/tree"));
    assert.deepEqual(tree.map((l) => l.split(" ").slice(2).join(" ")), [
      "tree/",
      "tree/link -> top",
      "tree/sub/",
      "tree/sub/deep",
      "tree/top",
    ]);

    // Stopped again: the copy sees what the container wrote.
    await ok(root, ["exec", "box", "sh", "-c", "echo from inside > /tmp/inside"]);
    await ok(root, ["stop", "-t", "0", "box"]);
    await ok(root, ["cp", "box:/tmp/inside", join(out, "inside")]);
    assert.equal(await Deno.readTextFile(join(out, "inside")), "from inside\n");
    assert.deepEqual(mountsUnder(root), []);

    await fails(
      root,
      ["cp", "box:/nope", out],
      /^servin: Could not find the file \/nope in container box\n$/,
    );
    await fails(root, ["cp", "nosuch:/etc", out], /^servin: No such container: nosuch\n$/);
    await fails(root, ["cp", join(host, "file"), join(out, "x")], /must be CONTAINER:PATH/);
  },
);

imageTest(
  "cp - extracts a tar from stdin into a container: root owns it unless -a; into a directory only",
  ignore,
  async (root) => {
    await ok(root, ["run", "-d", "--name", "box", "busybox:test", "sleep", "300"]);
    const tar = buildTar([
      { name: "in/", type: "5", uid: 1234, gid: 1234 },
      { name: "in/a", body: "a\n", uid: 1234, gid: 1234, mode: 0o600 },
      { name: "in/l", type: "2", linkname: "a" },
    ]);
    await ok(root, ["cp", "-", "box:/tmp"], { stdin: tar });
    assert.equal(await sh(root, "box", "cat /tmp/in/a; busybox readlink /tmp/in/l"), "a\na\n");
    assert.match(await sh(root, "box", "ls -ln /tmp/in/a"), /^-rw-------\s+1\s+0\s+0\s/);
    await ok(root, ["cp", "-a", "-", "box:/srv"], { stdin: await gzip(tar) }); // compressed too
    assert.match(await sh(root, "box", "ls -ln /srv/in/a"), /^-rw-------\s+1\s+1234\s+1234\s/);
    await fails(root, ["cp", "-", "box:/tmp/in/a"], /must be an existing directory/, tar);
    await fails(root, ["cp", "-", "box:/nodir"], /must be an existing directory/, tar);
  },
);

imageTest(
  "cp never follows a container's symlink out of its rootfs, in either direction",
  ignore,
  async (root, dir) => {
    const secret = await writeFiles(join(dir, "secret"), { key: "host secret\n" });
    const file = await writeFixture(dir, "payload", "payload\n");
    const before = await listTree(secret);
    await ok(root, ["run", "-d", "--name", "box", "busybox:test", "sleep", "300"]);
    // Links a hostile container could make to host paths: absolute, and climbing with `..`.
    await sh(
      root,
      "box",
      `mkdir -p /x && busybox ln -s ${secret} /x/abs && ` +
        `busybox ln -s ../../../../../../..${secret} /x/up && ` +
        `busybox ln -s ${secret}/key /x/keylink && busybox ln -s / /x/root && mkdir -p ${secret} && ` +
        `echo container key > ${secret}/key`,
    );
    const out = join(dir, "out");
    await Deno.mkdir(out);
    // Out of the container: each resolves inside it, to its own copy of that path.
    for (const path of ["/x/abs/key", "/x/up/key", "/x/root" + secret + "/key"]) {
      await ok(root, ["cp", `box:${path}`, join(out, "got")]);
      assert.equal(await Deno.readTextFile(join(out, "got")), "container key\n", path);
    }
    await ok(root, ["cp", "-L", "box:/x/keylink", join(out, "got")]);
    assert.equal(await Deno.readTextFile(join(out, "got")), "container key\n");
    await ok(root, ["cp", "box:/x/keylink", join(out, "link")]);
    assert.equal(await Deno.readLink(join(out, "link")), `${secret}/key`, "the link itself");

    // Into the container: through the same links, it lands inside it, never on the host.
    await ok(root, ["cp", file, "box:/x/abs/"]);
    await ok(root, ["cp", file, "box:/x/up/dropped"]);
    await ok(root, ["cp", file, "box:/x/keylink"]); // the final link is followed: inside
    assert.equal(
      await sh(root, "box", `cat ${secret}/payload ${secret}/dropped ${secret}/key`),
      "payload\npayload\npayload\n",
    );
    // A file in the way of a directory is replaced, never written through.
    await sh(root, "box", `mkdir -p /d && busybox ln -s ${secret} /d/sub`);
    const host = join(dir, "tree");
    await Deno.mkdir(join(host, "sub"), { recursive: true });
    await Deno.writeTextFile(join(host, "sub", "key"), "overwritten?\n");
    await ok(root, ["cp", `${host}/.`, "box:/d"]);
    assert.equal(await sh(root, "box", "cat /d/sub/key"), "overwritten?\n");
    assert.deepEqual(await listTree(secret), before);
    assert.equal(await Deno.readTextFile(join(secret, "key")), "host secret\n");
  },
);

imageTest(
  "cp - refuses a hostile tar on stdin: nothing escapes, the container is left as it was",
  ignore,
  async (root, dir) => {
    const outside = join(dir, "outside");
    await Deno.mkdir(outside);
    await ok(root, ["run", "-d", "--name", "box", "busybox:test", "sleep", "300"]);
    await sh(root, "box", `mkdir -p /dst ${outside}`);
    const cases: [string, Parameters<typeof buildTar>[0]][] = [
      ["a .. component", [{ name: "../../../../../../..".concat(outside, "/dotdot"), body: "x" }]],
      ["an absolute name", [{ name: `${outside}/abs`, body: "x" }]],
      ["a parent that is an absolute symlink", [
        { name: "root", type: "2", linkname: "/" },
        { name: `root${outside}/via-root`, body: "x" },
      ]],
      ["a parent that is a climbing symlink", [
        { name: "up", type: "2", linkname: "../../../../../../.." },
        { name: `up${outside}/via-up`, body: "x" },
      ]],
      ["a hardlink out of the archive", [{ name: "hl", type: "1", linkname: "../../etc/passwd" }]],
    ];
    for (const [what, entries] of cases) {
      await fails(root, ["cp", "-", "box:/dst"], /entry "[^"]+"/, buildTar(entries));
      assert.equal(await sh(root, "box", "ls -A /dst"), "", what);
    }
    // A symlink to anywhere is only a symlink inside the container; what follows it lands inside.
    const fine = buildTar([{ name: "esc", type: "2", linkname: outside }]);
    await ok(root, ["cp", "-", "box:/dst"], { stdin: fine });
    await ok(root, ["cp", "-", "box:/dst/esc"], { stdin: buildTar([{ name: "in", body: "y" }]) });
    await ok(root, ["exec", "box", "test", "-f", `${outside}/in`]);
    assert.deepEqual(await listTree(outside), []);
  },
);

imageTest(
  "cp sees a running container as its process does (volumes in, /proc out); a stopped one refuses its mount paths and a read-only rootfs",
  ignore,
  async (root, dir) => {
    const file = await writeFixture(dir, "file", "to the volume\n");
    await ok(root, [
      "run",
      "-d",
      "--name",
      "vol",
      "-v",
      "data:/data",
      "busybox:test",
      "sleep",
      "300",
    ]);
    await ok(root, ["cp", file, "vol:/data/"]);
    assert.equal(await sh(root, "vol", "cat /data/file"), "to the volume\n");
    const names = (await tarList(await cpOut(root, "vol:/"))).map((l) => l.split(" ")[2]);
    assert.ok(names.includes("./proc/") && names.includes("./data/file"), names.join());
    assert.ok(!names.some((n) => /^\.\/(proc|sys|dev)\/./.test(n!)), "kernel filesystems pruned");

    await ok(root, ["stop", "-t", "0", "vol"]);
    await fails(root, ["cp", file, "vol:/data/again"], /volume mount \(\/data\).*start it first/);
    await fails(root, ["cp", file, "vol:/data/no/such/dir/"], /volume mount \(\/data\)/);
    await fails(
      root,
      ["cp", "-", "vol:/data"],
      /volume mount/,
      buildTar([{ name: "x", body: "" }]),
    );
    await fails(root, ["cp", "vol:/data/file", join(dir, "out")], /volume mount \(\/data\)/);
    await ok(root, ["cp", file, "vol:/tmp/"]); // the rootfs itself is fine
    assert.deepEqual(mountsUnder(root), []);

    await ok(root, ["create", "--name", "ro", "--read-only", "busybox:test", "sleep", "300"]);
    await fails(root, ["cp", file, "ro:/tmp/"], /root filesystem is read-only/);
    await ok(root, ["cp", "ro:/etc/image-file", join(dir, "image-file")]); // reading is fine
    assert.equal(await Deno.readTextFile(join(dir, "image-file")), "from the image\n");
  },
);
