import assert from "node:assert/strict";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { DEFAULT_CONFIG } from "../plugins/ingest/config.ts";
import { listTree, ok, run, type RunResult, sha256, withTempDir, writeFixture } from "./_cli.ts";
import { buildTar, type FixtureEntry } from "./_tar.ts";

const ROOTFS: FixtureEntry[] = [
  { name: "./", type: "5", mode: 0o755 },
  { name: "./bin/", type: "5" },
  { name: "./bin/hello", body: "#!/bin/sh\necho hello\n", mode: 0o755 },
  { name: "./etc/", type: "5" },
  { name: "./etc/os-release", body: "NAME=fixture\n" },
];

async function fixture(dir: string, entries = ROOTFS, name = "rootfs.tar.gz") {
  const tar = buildTar(entries);
  const path = await writeFixture(dir, name, gzipSync(tar));
  return { path, tar, diffId: sha256(tar) };
}

/** `servin image import ARGS…`, which must succeed; returns the new image's ID, hex. */
async function importId(root: string, ...args: string[]): Promise<string> {
  return (await ok(root, ["image", "import", ...args])).trim().slice(7);
}

/**
 * `servin ARGS…`, which must fail with exit 1 and one `servin: …` line on
 * stderr that holds every one of `fragments`; returns the result.
 */
async function fails(root: string, args: string[], ...fragments: string[]): Promise<RunResult> {
  const r = await run(root, args);
  assert.equal(r.code, 1, args.join(" "));
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^servin: /);
  for (const f of fragments) assert.ok(lines[0]!.includes(f), `"${f}" not in: ${lines[0]}`);
  return r;
}

Deno.test(
  "import stores a content-addressed image that ls and inspect show",
  withTempDir(async ({ dir, root }) => {
    const { path, diffId } = await fixture(dir);
    const r = await run(root, ["image", "import", path, "fixture:1.0"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "", "no progress output when stderr is not a terminal");
    const id = r.stdout.trim().replace(/^sha256:/, "");
    assert.match(id, /^[0-9a-f]{64}$/);

    const [image] = JSON.parse(await ok(root, ["image", "inspect", "fixture:1.0"]));
    assert.equal(image.id, id);
    assert.deepEqual(image.repo_tags, ["fixture:1.0"]);
    assert.ok(!Number.isNaN(Date.parse(image.created)) && image.created.endsWith("Z"));
    assert.deepEqual(image.layers, [diffId]);
    assert.equal(image.size, "#!/bin/sh\necho hello\n".length + "NAME=fixture\n".length);
    assert.equal(image.rootfs_type, "tarball");
    assert.equal(image.rootfs_path, join(root, "images", "layers", diffId));
    assert.deepEqual(image.config, DEFAULT_CONFIG, "an import without flags gets the defaults");
    assert.equal(image.metadata.source, "tarball");
    assert.equal(image.metadata.original_path, path);
    assert.equal(
      await Deno.readTextFile(join(image.rootfs_path, "etc/os-release")),
      "NAME=fixture\n",
    );

    // The ID is the sha256 of the stored OCI config, whose diff_ids name the layer.
    const config = await Deno.readFile(join(root, "images", "blobs", "sha256", id));
    assert.equal(sha256(config), id);
    const oci = JSON.parse(new TextDecoder().decode(config));
    assert.deepEqual(oci.rootfs, { type: "layers", diff_ids: [`sha256:${diffId}`] });
    assert.deepEqual(oci.config.Cmd, ["/bin/sh"]);

    // index.json holds the same record: inspect's own fields, without Docker's (capitalized) ones.
    const index = JSON.parse(await Deno.readTextFile(join(root, "images", "index.json")));
    const seed = Object.fromEntries(Object.entries(image).filter(([k]) => /^[a-z]/.test(k)));
    assert.deepEqual(index, [seed]);
    assert.equal(image.Id, `sha256:${id}`);

    const table = await ok(root, ["image", "ls"]);
    const lines = table.trimEnd().split("\n");
    assert.match(lines[0]!, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    assert.match(
      lines[1]!,
      new RegExp(`^fixture\\s+1\\.0\\s+${id.slice(0, 12)}\\s+.+ ago\\s+34B$`),
    );
  }),
);

Deno.test(
  "two imports of one tarball get different IDs but share their layer",
  withTempDir(async ({ dir, root }) => {
    const { path, diffId } = await fixture(dir);
    const a = (await ok(root, ["image", "import", path, "a"])).trim();
    await new Promise((r) => setTimeout(r, 5));
    const b = (await ok(root, ["image", "import", path, "b"])).trim();
    assert.notEqual(a, b);
    assert.deepEqual(await listTree(join(root, "images", "layers")), [
      `${diffId}/`,
      ...[
        "bin/",
        "bin/hello",
        "etc/",
        "etc/os-release",
      ].map((p) => `${diffId}/${p}`),
      `${diffId}.json`, // the completeness marker, written last
    ]);
    await ok(root, ["rmi", "a"]);
    assert.ok((await listTree(join(root, "images", "layers"))).includes(`${diffId}/`));
    await ok(root, ["rmi", "b"]);
    assert.deepEqual(await listTree(join(root, "images", "layers")), []);
    assert.deepEqual(await listTree(join(root, "images", "blobs", "sha256")), []);
    assert.deepEqual(await listTree(join(root, "tmp")), []);
  }),
);

Deno.test(
  "import reads stdin, zstd, plain tar and multi-member gzip alike",
  withTempDir(async ({ dir, root }) => {
    const { tar, diffId } = await fixture(dir);
    const plain = await writeFixture(dir, "rootfs.gz", tar); // the name lies: content decides
    const zst = join(dir, "rootfs.tar.zst");
    const zstd = new Deno.Command("zstd", { args: ["-q", "-o", zst], stdin: "piped" }).spawn();
    const w = zstd.stdin.getWriter();
    await w.write(tar);
    await w.close();
    assert.equal((await zstd.status).code, 0);
    const half = tar.length / 2;
    const members = new Uint8Array([
      ...gzipSync(tar.subarray(0, half)),
      ...gzipSync(tar.subarray(half)),
    ]);
    const multi = await writeFixture(dir, "multi.tgz", members);

    await ok(root, ["image", "import", "-", "stdin:1"], { stdin: gzipSync(tar) });
    await ok(root, ["image", "import", zst, "zstd:1"]);
    await ok(root, ["image", "import", plain, "plain:1"]);
    await ok(root, ["image", "import", multi, "multi:1"]);
    const images = JSON.parse(await ok(root, ["image", "ls", "--format", "json"]));
    assert.equal(images.length, 4);
    for (const img of images) assert.deepEqual(img.layers, [diffId]);
    const compressions = Object.fromEntries(
      images.map((i: { repo_tags: string[]; metadata: Record<string, string> }) => [
        i.repo_tags[0],
        i.metadata.compression,
      ]),
    );
    assert.deepEqual(compressions, {
      "stdin:1": "gzip",
      "zstd:1": "zstd",
      "plain:1": "none",
      "multi:1": "gzip",
    });
  }),
);

Deno.test(
  "import flags set the image config and its history",
  withTempDir(async ({ dir, root }) => {
    const { path } = await fixture(dir);
    const id = await importId(
      root,
      "--cmd",
      '["/bin/echo", "hi there"]',
      "--entrypoint",
      "/bin/sh -c",
      "--env",
      "A=1",
      "-e",
      "PATH=/opt/bin",
      "--workdir",
      "/srv",
      "--user",
      "1000:1000",
      "--label",
      "org.example=yes",
      "--message",
      "first cut",
      path,
      "flags",
    );
    const [image] = JSON.parse(await ok(root, ["image", "inspect", id.slice(0, 6)]));
    assert.deepEqual(image.config.cmd, ["/bin/echo", "hi there"]);
    assert.deepEqual(image.config.entrypoint, ["/bin/sh", "-c"]);
    assert.deepEqual(image.config.env, ["PATH=/opt/bin", "A=1"]);
    assert.equal(image.config.working_dir, "/srv");
    assert.equal(image.config.user, "1000:1000");
    assert.deepEqual(image.config.labels, { "org.example": "yes" });
    assert.equal(image.metadata.comment, "first cut");
    const oci = JSON.parse(
      await Deno.readTextFile(join(root, "images", "blobs", "sha256", id)),
    );
    assert.deepEqual(oci.config.Entrypoint, ["/bin/sh", "-c"]);
    assert.equal(oci.history[0].comment, "first cut");

    await fails(root, ["image", "import", "--cmd", "[oops", path, "x"], "--cmd");
    await fails(root, ["image", "import", "--workdir", "srv", path, "x"], "--workdir");
  }),
);

Deno.test(
  "ls lists newest first and supports -q, --no-trunc, json and filters",
  withTempDir(async ({ dir, root }) => {
    const { path } = await fixture(dir);
    const old = await importId(root, "--label", "tier=base", path, "alpha:1");
    await new Promise((r) => setTimeout(r, 10));
    const neu = await importId(root, path, "localhost:5000/team/app:2");
    await ok(root, ["image", "tag", "alpha:1", "alpha:stable"]);

    const lines = (await ok(root, ["images"])).trimEnd().split("\n").slice(1);
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^localhost:5000\/team\/app\s+2\s+/);
    assert.match(lines[1]!, /^alpha\s+1\s+/);
    assert.match(lines[2]!, /^alpha\s+stable\s+/);

    assert.equal(
      await ok(root, ["image", "ls", "-q"]),
      `${neu.slice(0, 12)}\n${old.slice(0, 12)}\n`,
    );
    assert.equal(
      await ok(root, ["image", "list", "-q", "--no-trunc"]),
      `sha256:${neu}\nsha256:${old}\n`,
    );
    const json = JSON.parse(await ok(root, ["image", "ls", "--format", "json"]));
    assert.deepEqual(json.map((i: { id: string }) => i.id), [neu, old]);

    const q = (...f: string[]) =>
      ok(root, ["image", "ls", "-q", ...f.flatMap((x) => ["--filter", x])]);
    assert.equal(await q("reference=alpha"), `${old.slice(0, 12)}\n`);
    assert.equal(await q("reference=alpha:st*"), `${old.slice(0, 12)}\n`);
    assert.equal(await q("reference=localhost:5000/*/app"), `${neu.slice(0, 12)}\n`);
    assert.equal(await q("label=tier"), `${old.slice(0, 12)}\n`);
    assert.equal(await q("label=tier=other"), "");
    assert.equal(await q("dangling=true"), "");

    await fails(root, ["image", "ls", "--filter", "colour=red"], "colour=red");
    await fails(root, ["image", "ls", "--format", "yaml"], "yaml");
  }),
);

Deno.test(
  "tag implies :latest and moving a tag leaves the other image untagged",
  withTempDir(async ({ dir, root }) => {
    const { path } = await fixture(dir);
    const a = await importId(root, path, "app:1");
    await new Promise((r) => setTimeout(r, 5));
    const b = await importId(root, path, "other:1");
    await ok(root, ["image", "tag", "app:1", "app"]);
    await ok(root, ["tag", b.slice(0, 8), "app:1"]); // moves app:1 from a to b
    const tags = async () => {
      const images = JSON.parse(await ok(root, ["image", "ls", "--format", "json"]));
      return Object.fromEntries(
        images.map((i: { id: string; repo_tags: string[] }) => [i.id, i.repo_tags]),
      );
    };
    assert.deepEqual(await tags(), { [a]: ["app:latest"], [b]: ["other:1", "app:1"] });
    await ok(root, ["tag", b, "app"]); // a loses its last tag but stays, as <none>
    assert.deepEqual(await tags(), { [a]: [], [b]: ["other:1", "app:1", "app:latest"] });
    assert.match(await ok(root, ["images"]), new RegExp(`<none>\\s+<none>\\s+${a.slice(0, 12)}`));
    assert.equal(await ok(root, ["images", "-q", "-f", "dangling=true"]), `${a.slice(0, 12)}\n`);

    await fails(root, ["tag", "nope:1", "x"], "No such image: nope:1");
    await fails(root, ["tag", a, "Bad:Name"], "Bad:Name");
  }),
);

Deno.test(
  "rm untags, deletes by ID with -f, and goes on after a failure",
  withTempDir(async ({ dir, root }) => {
    const { path } = await fixture(dir);
    const id = await importId(root, path, "app:1");
    await ok(root, ["tag", "app:1", "app:2"]);
    assert.equal(await ok(root, ["rmi", "app:2"]), "Untagged: app:2\n");
    await ok(root, ["tag", "app:1", "app:3"]);

    await fails(root, ["image", "rm", id.slice(0, 12)], "app:1", "app:3", "-f");

    const mixed = await fails(root, ["rmi", "nope", "-f", id.slice(0, 5)], "No such image: nope");
    assert.equal(mixed.stdout, `Untagged: app:1\nUntagged: app:3\nDeleted: sha256:${id}\n`);
    assert.equal(await ok(root, ["images", "-q"]), "");
    assert.deepEqual(await listTree(join(root, "images", "layers")), []);
  }),
);

Deno.test(
  "an ambiguous ID prefix is an error that lists the candidates",
  withTempDir(async ({ dir, root }) => {
    const { path } = await fixture(dir);
    await ok(root, ["image", "import", path, "seed"]);
    const indexPath = join(root, "images", "index.json");
    const [seed] = JSON.parse(await Deno.readTextFile(indexPath));
    const twin = (id: string, tag: string) => ({ ...seed, id, repo_tags: [tag] });
    await Deno.writeTextFile(
      indexPath,
      JSON.stringify([twin("abcd1".padEnd(64, "0"), "one"), twin("abcd2".padEnd(64, "0"), "two")]),
    );
    const r = await run(root, ["image", "inspect", "abcd"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ambiguous.*abcd10000000.*abcd20000000/);
    assert.equal(JSON.parse(await ok(root, ["image", "inspect", "abcd2"]))[0].repo_tags[0], "two");
    const short = await run(root, ["image", "inspect", "abc"]);
    assert.equal(short.code, 1);
    assert.match(short.stderr, /No such image: abc/);
  }),
);

Deno.test(
  "help, version, pull and usage errors",
  withTempDir(async ({ dir: root }) => {
    const version = JSON.parse(
      await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
    ).version;
    assert.equal(await ok(root, ["--version"]), `servin version ${version}\n`);
    const help = await ok(root, ["help"]);
    for (
      const c of [
        "image import",
        "image ls",
        "image inspect",
        "image rm",
        "image tag",
        "image pull",
      ]
    ) {
      assert.ok(help.includes(c), `help lists ${c}`);
    }
    assert.match(
      await ok(root, ["image", "import", "--help"]),
      /Usage: servin image import .*TARBALL\|- NAME\[:TAG\]/,
    );
    assert.equal(await ok(root, ["help", "image", "ls"]), await ok(root, ["images", "--help"]));
    assert.match(await ok(root, ["image"]), /image ls/);

    await fails(root, ["image", "pull", "127.0.0.1:59999/nothing/here"], "127.0.0.1:59999");

    for (
      const args of [["frobnicate"], ["image", "ls", "--bogus"], ["image", "tag", "x"], ["--bogus"]]
    ) {
      await fails(root, args);
    }
    const debug = await run(root, ["--debug", "image", "tag", "nope", "x"]);
    assert.equal(debug.code, 1);
    assert.match(debug.stderr, /at .*servin\.ts/);
  }),
);

Deno.test(
  "import shows progress on a terminal and nothing otherwise",
  withTempDir(async ({ dir, root }) => {
    const { path } = await fixture(dir);
    const main = new URL("../main.ts", import.meta.url).pathname;
    // util-linux `script` gives the command a pseudo-terminal.
    const out = await new Deno.Command("script", {
      args: ["-qec", `${Deno.execPath()} run -A ${main} image import ${path} tty:1`, "/dev/null"],
      env: { SERVIN_ROOT: root },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, text);
    assert.match(text, /Importing \d+(\.\d+)?[kMG]?B \/ \d+(\.\d+)?[kMG]?B \(100%\)/);
    assert.match(text, /sha256:[0-9a-f]{64}/);
  }),
);
