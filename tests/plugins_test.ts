/**
 * Third-party plugins through the real CLI: the examples in
 * `examples/plugins/`, the three ways of naming plugins, failing plugins, and
 * `docs/plugins.md` kept in step with the hooks and kinds in the code.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { listTree, ok, run, withTempDir, writeFixture } from "./_cli.ts";
import { manifestDescriptor, writeImage, writeIndex } from "./_oci.ts";
import { buildTar } from "./_tar.ts";

const EXAMPLES = new URL("../examples/plugins/", import.meta.url).pathname;
const HELLO = join(EXAMPLES, "hello.ts");
const HTTP = join(EXAMPLES, "http_source.ts");
const POLICY = join(EXAMPLES, "policy.ts");

const ROOTFS = buildTar([{ name: "etc/", type: "5" }, { name: "etc/motd", body: "hello\n" }]);

Deno.test(
  "a command plugin, named by --plugin, SERVIN_PLUGINS or <root>/config.json",
  withTempDir(async ({ dir: root }) => {
    assert.equal(
      await ok(root, ["--plugin", HELLO, "hello", "--shout", "deno"]),
      "HELLO, DENO! THIS STORE HOLDS 0 IMAGES.\n",
    );
    assert.equal(
      await ok(root, ["hello"], { env: { SERVIN_PLUGINS: HELLO } }),
      "Hello, world! This store holds 0 images.\n",
    );
    await Deno.writeTextFile(join(root, "config.json"), JSON.stringify({ plugins: [HELLO] }));
    assert.equal(
      await ok(root, ["hello", "config"]),
      "Hello, config! This store holds 0 images.\n",
    );
    const listed = await ok(root, ["plugin", "ls"]);
    assert.match(
      listed,
      new RegExp(`^hello\\s+${HELLO.replaceAll("/", "\\/")}\\s+command hello$`, "m"),
    );
    assert.match(listed, /^storage-local\s+builtin\s+storage local$/m);
    assert.match(await ok(root, ["help"]), /hello\s+Say hello and count the images/);
  }),
);

Deno.test(
  "the http source plugin streams a tarball from a URL into an import",
  withTempDir(async ({ dir: root }) => {
    const body = new Uint8Array(gzipSync(ROOTFS));
    let served = 0;
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      served++;
      if (new URL(req.url).pathname !== "/rootfs.tar.gz") {
        return new Response("no", { status: 404 });
      }
      return new Response(body, { headers: { "content-type": "application/gzip" } });
    });
    try {
      const base = `http://127.0.0.1:${server.addr.port}`;
      const id =
        (await ok(root, ["--plugin", HTTP, "image", "import", `${base}/rootfs.tar.gz`, "web:1"]))
          .trim();
      assert.match(id, /^sha256:[0-9a-f]{64}$/);
      const [image] = JSON.parse(await ok(root, ["image", "inspect", "web:1"]));
      assert.equal(image.metadata.original_path, `${base}/rootfs.tar.gz`);
      assert.equal(await Deno.readTextFile(join(image.rootfs_path, "etc/motd")), "hello\n");
      const missing = await run(root, [
        "--plugin",
        HTTP,
        "image",
        "import",
        `${base}/nope.tar`,
        "web:2",
      ]);
      assert.equal(missing.code, 1);
      assert.equal(
        missing.stderr,
        `servin: cannot fetch ${base}/nope.tar: HTTP 404\n`,
      );
      assert.equal(served, 2);
    } finally {
      await server.shutdown();
    }
  }),
);

Deno.test(
  "the policy plugin labels imports and refuses root images, leaving the store as it was",
  withTempDir(async ({ dir, root }) => {
    const tarball = await writeFixture(dir, "rootfs.tar", ROOTFS);
    await ok(root, ["image", "import", tarball, "before"]);
    const tree = await listTree(root);
    const refused = await run(root, ["--plugin", POLICY, "image", "import", tarball, "app:1"]);
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr,
      'servin: plugin "policy": images must not run as root: give --user, or set SERVIN_ALLOW_ROOT=1 (in image:commit:before)\n',
    );
    assert.deepEqual(await listTree(root), tree);
    await ok(root, ["--plugin", POLICY, "image", "import", "--user", "1000", tarball, "app:1"]);
    const [image] = JSON.parse(await ok(root, ["image", "inspect", "app:1"]));
    assert.ok(image.config.labels["org.servin.imported-by"]);
    assert.equal(image.config.user, "1000");

    // The same hook sees images that load (and pull) brings, before anything is stored.
    const layout = join(dir, "layout");
    await writeIndex(layout, [
      manifestDescriptor(await writeImage(layout, [{ tar: ROOTFS }]), { name: "loaded:1" }),
    ]);
    const before = await listTree(root);
    const vetoed = await run(root, ["--plugin", POLICY, "image", "load", "-i", layout]);
    assert.equal(vetoed.code, 1);
    assert.match(vetoed.stderr, /^servin: plugin "policy": images must not run as root/);
    assert.deepEqual(await listTree(root), before);
    await ok(root, ["--plugin", POLICY, "image", "load", "-i", layout], {
      env: { SERVIN_ALLOW_ROOT: "1" },
    });
    const [loaded] = JSON.parse(await ok(root, ["image", "inspect", "loaded:1"]));
    assert.ok(loaded.config.labels["org.servin.imported-by"]);
  }),
);

Deno.test({
  name:
    "config.json that others can write is refused in one line; --plugin stays the caller's choice",
  ignore: Deno.build.os === "windows", // no owners or mode bits there
  fn: withTempDir(async ({ dir, root }) => {
    await Deno.mkdir(root, { mode: 0o700 });
    const plugin = join(dir, "hello.ts");
    await Deno.copyFile(HELLO, plugin);
    await Deno.chmod(plugin, 0o664);
    const config = join(root, "config.json");
    await Deno.writeTextFile(config, JSON.stringify({ plugins: [plugin] }));
    await Deno.chmod(config, 0o644);
    const refused = await run(root, ["hello"]);
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr,
      `servin: Refusing to load plugins from ${config}: the plugin "${plugin}" it names is ` +
        `writable by its group (mode 0664); run "chmod go-w ${plugin}", or name the plugins ` +
        "with --plugin or SERVIN_PLUGINS instead\n",
    );
    await Deno.chmod(config, 0o646);
    assert.match((await run(root, ["image", "ls"])).stderr, /: it is writable by others/);
    assert.deepEqual(await listTree(root), ["config.json"]);
    await Deno.remove(config);
    assert.equal(
      await ok(root, ["--plugin", plugin, "hello"]),
      "Hello, world! This store holds 0 images.\n",
    );
  }),
});

Deno.test(
  "a plugin that fails to load or to set up is named in one line, and nothing runs",
  withTempDir(async ({ dir, root }) => {
    const broken = join(dir, "broken.ts");
    await Deno.writeTextFile(
      broken,
      'export default { name: "broken", setup() { throw new Error("no database configured"); } };',
    );
    const notPlugin = join(dir, "not_plugin.ts");
    await Deno.writeTextFile(notPlugin, "export const x = 1;");
    const cases: [string, string][] = [
      [broken, 'servin: plugin "broken": no database configured (while setting up)\n'],
      [
        notPlugin,
        `servin: plugin "${notPlugin}": its default export is not a plugin (make it with definePlugin)\n`,
      ],
      [join(dir, "missing.ts"), `servin: plugin "${join(dir, "missing.ts")}": cannot load it: `],
    ];
    for (const [plugin, message] of cases) {
      const r = await run(root, ["--plugin", plugin, "image", "ls"]);
      assert.equal(r.code, 1, plugin);
      assert.ok(r.stderr.startsWith(message), r.stderr);
      assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
      assert.equal(r.stdout, "");
    }
    assert.deepEqual(await listTree(root), []);
  }),
);

Deno.test("docs/plugins.md documents exactly the hooks and kinds the code declares", async () => {
  const doc = await Deno.readTextFile(new URL("../docs/plugins.md", import.meta.url));
  const hooks = await Deno.readTextFile(new URL("../core/hooks.ts", import.meta.url));
  const map = hooks.slice(hooks.indexOf("export interface HookMap"));
  const declared = [...map.matchAll(/^\s+"([a-z]+:[a-z:]+)":/gm)].map((m) => m[1]).sort();
  const documented = [...doc.matchAll(/^### `([a-z]+:[a-z:]+)`/gm)].map((m) => m[1]).sort();
  assert.ok(declared.length >= 6, `found the hook map: ${declared}`);
  assert.deepEqual(documented, declared);

  const api = await Deno.readTextFile(new URL("../core/api.ts", import.meta.url));
  const kindMap = api.slice(api.indexOf("export interface KindMap"));
  const kinds = [...kindMap.slice(0, kindMap.indexOf("\n}")).matchAll(/^ {2}([a-z]+):/gm)]
    .map((m) => m[1]).sort();
  const table = [...doc.matchAll(/^\| `([a-z]+)` +\|/gm)].map((m) => m[1]).sort();
  assert.ok(kinds.length >= 10, `found the kind map: ${kinds}`);
  assert.deepEqual(table, kinds);
});
