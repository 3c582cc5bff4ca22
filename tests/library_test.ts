/**
 * The library API and third-party plugins: what `mod.ts` promises to Deno
 * scripts and plugin authors.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "../plugins/commands/cli.ts";
import { builtinPlugins, definePlugin, type ImageRecord, openServin, ServinError } from "../mod.ts";
import { capture, listTree, tempDir, withTempDir } from "./_cli.ts";
import { buildTar } from "./_tar.ts";

const TAR = buildTar([{ name: "etc/", type: "5" }, { name: "etc/motd", body: "hi\n" }]);

Deno.test(
  "a Deno script imports from a stream, lists, tags and removes",
  withTempDir(async ({ dir: root }) => {
    await using servin = await openServin({ root });
    const image = await servin.importImage(
      { path: "in-memory", stream: new Blob([TAR]).stream() },
      "lib:1",
      { config: { cmd: ["/bin/true"], labels: { a: "b" } } },
    );
    assert.equal(image.metadata.original_path, "in-memory");
    assert.deepEqual(image.config.cmd, ["/bin/true"]);
    assert.equal((await servin.getImage(image.id.slice(0, 4))).id, image.id);
    await servin.tagImage("lib:1", "lib:2");
    assert.deepEqual((await servin.listImages({ label: ["a=b"] }))[0]?.repo_tags, [
      "lib:1",
      "lib:2",
    ]);
    assert.deepEqual(await servin.removeImage("lib:1"), { untagged: ["lib:1"] });
    assert.deepEqual(await servin.removeImage("lib:2"), {
      untagged: ["lib:2"],
      deleted: image.id,
    });
    assert.deepEqual(await servin.listImages(), []);
    await assert.rejects(
      () => servin.getImage("lib:1"),
      (e: unknown) => e instanceof ServinError && e.code === "not-found",
    );
  }),
);

Deno.test(
  "a plugin can veto an import and the store stays as it was",
  withTempDir(async ({ dir: root }) => {
    const policy = definePlugin({
      name: "policy",
      setup(api) {
        api.on("image:commit:before", ({ tags }) => {
          if (tags[0]?.startsWith("forbidden")) throw new Error("forbidden images are not allowed");
        });
      },
    });
    await using servin = await openServin({ root, plugins: [policy] });
    await servin.importImage({ path: "a", stream: new Blob([TAR]).stream() }, "allowed");
    const before = await listTree(root);
    await assert.rejects(
      () => servin.importImage({ path: "b", stream: new Blob([TAR]).stream() }, "forbidden:1"),
      { message: 'plugin "policy": forbidden images are not allowed (in image:commit:before)' },
    );
    assert.deepEqual(await listTree(root), before);
  }),
);

Deno.test(
  "plugins see imports and removals after they happen, and can veto a removal",
  withTempDir(async ({ dir: root }) => {
    const seen: string[] = [];
    const audit = definePlugin({
      name: "audit",
      setup(api) {
        api.on("image:commit:after", ({ image }) => void seen.push(`imported ${image.repo_tags}`));
        api.on("image:remove:before", ({ image, tag }) => {
          if (image.config.labels.protected) throw new Error("image is protected");
          seen.push(`removing ${tag ?? image.id.slice(0, 4)}`);
        });
        api.on(
          "image:remove:after",
          ({ untagged, deleted }) => void seen.push(`removed ${untagged} ${deleted}`),
        );
      },
    });
    await using servin = await openServin({ root, plugins: [audit] });
    const image: ImageRecord = await servin.importImage(
      { path: "a", stream: new Blob([TAR]).stream() },
      "x:1",
    );
    const guarded = await servin.importImage(
      { path: "b", stream: new Blob([TAR]).stream() },
      "guarded",
      { config: { labels: { protected: "yes" } } },
    );
    await servin.removeImage("x:1");
    await assert.rejects(() => servin.removeImage("guarded"), /image is protected/);
    assert.equal((await servin.getImage("guarded")).id, guarded.id);
    assert.deepEqual(seen, [
      "imported x:1",
      "imported guarded:latest",
      `removing ${image.id.slice(0, 4)}`,
      "removed x:1 true",
    ]);
  }),
);

Deno.test(
  "a third-party command runs through the CLI with command hooks around it",
  withTempDir(async ({ dir: root }) => {
    const events: string[] = [];
    const hello = definePlugin({
      name: "hello",
      dependencies: ["commands-image"],
      setup(api) {
        api.provide("command", {
          name: "hello",
          summary: "Say hello",
          usage: "[--shout] NAME",
          args: { min: 1, max: 1 },
          flags: { shout: { type: "boolean", description: "Shout" } },
          async run(ctx) {
            const servin = await ctx.servin();
            const text = `hello ${ctx.args[0]} (${(await servin.listImages()).length} images)`;
            ctx.out(ctx.flags.shout ? text.toUpperCase() : text);
            return 3;
          },
        });
        api.on(
          "command:before",
          ({ command, args }) => void events.push(`before ${command} ${args}`),
        );
        api.on(
          "command:after",
          ({ command, exitCode }) => void events.push(`after ${command} ${exitCode}`),
        );
      },
    });
    const io = capture();
    const code = await runCli(["--root", root, "hello", "--shout", "world"], {
      plugins: [...builtinPlugins(), hello],
      version: "test",
      output: io,
    });
    assert.equal(code, 3);
    assert.deepEqual(io.stdout, ["HELLO WORLD (0 IMAGES)"]);
    assert.deepEqual(events, ["before hello --shout,world", "after hello 3"]);

    const help = capture();
    await runCli(["help"], {
      plugins: [...builtinPlugins(), hello],
      version: "test",
      output: help,
    });
    assert.match(help.stdout.join("\n"), /hello\s+Say hello/);

    const broken = capture();
    const failed = await runCli(["images"], {
      plugins: [
        ...builtinPlugins(),
        definePlugin({ name: "needs-x", dependencies: ["x"], setup() {} }),
      ],
      version: "test",
      output: broken,
    });
    assert.equal(failed, 1);
    assert.deepEqual(broken.stderr, [
      'servin: plugin "needs-x": depends on "x", which is not registered',
    ]);
  }),
);

Deno.test(
  "the default root follows --root, then SERVIN_ROOT, then the platform",
  withTempDir(async ({ dir }) => {
    const servin = await openServin({ root: join(dir, "explicit") });
    assert.equal(servin.root, join(dir, "explicit"));
    await servin.close();
    const { linuxPlatform } = await import("../plugins/platform/mod.ts");
    const platform = linuxPlatform();
    if (Deno.uid() === 0) assert.equal(platform.defaultRoot(), "/var/lib/servin");
    else {
      const xdg = Deno.env.get("XDG_DATA_HOME") || join(Deno.env.get("HOME")!, ".local", "share");
      assert.equal(platform.defaultRoot(), join(xdg, "servin"));
    }
  }),
);

Deno.test(
  "the handle is AsyncDisposable: leaving the scope runs the plugins' disposers",
  withTempDir(async ({ dir: root }) => {
    const events: string[] = [];
    {
      await using servin = await openServin({
        root,
        plugins: [
          definePlugin({
            name: "tidy",
            setup: (api) => api.onDispose(() => void events.push("disposed")),
          }),
        ],
      });
      assert.equal((await servin.listImages()).length, 0);
      assert.deepEqual(events, []);
    }
    assert.deepEqual(events, ["disposed"]);
  }),
);

Deno.test("on macOS and Windows, create works with the copy snapshotter and run says it is not supported", async () => {
  const { darwinPlatform } = await import("../plugins/platform/mod.ts");
  const { windowsPlatform } = await import("../plugins/platform/mod.ts");
  for (const platform of [darwinPlatform(), windowsPlatform()]) {
    const [root, cleanup] = await tempDir();
    // Stands in for the host: the platform plugin of another OS, chosen by name.
    const servin = await openServin({ root, platform: platform.name });
    try {
      assert.equal(servin.platform.name, platform.name);
      await servin.importImage({ path: "a", stream: new Blob([TAR]).stream() }, "stub:1");
      const c = await servin.containers.create("stub:1", { command: ["/bin/true"] });
      assert.equal(c.snapshotter, "copy");
      assert.equal(await Deno.readTextFile(join(c.bundle, "rootfs", "etc", "motd")), "hi\n");
      await assert.rejects(
        () => servin.containers.start(c.id),
        (err: unknown) =>
          err instanceof ServinError && err.code === "unsupported" &&
          /^Cannot run containers: running containers is not supported on (macOS|Windows)$/.test(
            err.message,
          ),
      );
      await servin.containers.remove(c.id);
    } finally {
      await servin.close();
      await cleanup();
    }
  }
});

Deno.test(
  "servin.build builds a Containerfile (FROM scratch, COPY) the same to the byte twice, and names a bad line",
  withTempDir(async ({ dir }) => {
    const context = join(dir, "ctx");
    await Deno.mkdir(join(context, "etc"), { recursive: true });
    await Deno.writeTextFile(join(context, "etc", "motd"), "hi\n");
    await Deno.writeTextFile(
      join(context, "Containerfile"),
      'FROM scratch\nCOPY etc /etc\nENV A=b\nCMD ["/bin/true"]\n',
    );
    const ids: string[] = [];
    for (const root of [join(dir, "a"), join(dir, "b")]) {
      await using servin = await openServin({ root });
      const image = await servin.build({ context, tags: ["built:1"], timestamp: 0 });
      assert.deepEqual(image.repo_tags, ["built:1"]);
      assert.deepEqual(image.config.cmd, ["/bin/true"]);
      ids.push(image.id);
    }
    assert.equal(ids[0], ids[1]);
    await Deno.writeTextFile(join(context, "Containerfile"), "FROM scratch\nFROOB x\n");
    await using servin = await openServin({ root: join(dir, "a") });
    await assert.rejects(
      () => servin.build({ context }),
      (e: unknown) => e instanceof ServinError && /Containerfile:2/.test(e.message),
    );
  }),
);
