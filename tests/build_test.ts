/**
 * `servin build` end to end: Containerfiles built by servin and by
 * `buildah bud --layers` (runc) from the same busybox base and context give
 * the same filesystem (types, modes, owners, contents, links) and the same
 * runtime configuration; the cache is observed through a RUN that records
 * the time; two clean builds with a timestamp give the same image ID; a
 * failing step leaves no image, tag or container; ignore rules and context
 * escapes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { withImage } from "./_busybox.ts";
import { ok, run, sha256, spawn, writeFiles } from "./_cli.ts";
import { startRegistry } from "./_registry.ts";
import { manifest, type Record as TreeRecord, untar } from "./_tree.ts";

function has(tool: string): boolean {
  try {
    return new Deno.Command(tool, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

const root = Deno.uid() === 0;
const canRun = root && has("runc");
const runIgnore = !canRun;
if (runIgnore) console.warn("build_test: RUN steps skipped: they need root and runc");
const buildahIgnore = !canRun || !has("buildah");
if (buildahIgnore && canRun) console.warn("build_test: buildah comparison skipped: no buildah");

async function sh(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

/** What builds left in the store's scratch directory (nothing, once they are done). */
function scratchLeft(root: string): string[] {
  return [...Deno.readDirSync(join(root, "tmp"))].map((e) => e.name)
    .filter((n) => n.startsWith("build-"));
}

/**
 * A test of a build in a store holding busybox:test, from the context `files`
 * written under its directory `dir` (`ctx`); `ignore`: skipped (warned above).
 */
function buildTest(
  name: string,
  ignore: boolean,
  files: Record<string, string>,
  fn: (root: string, ctx: string, dir: string) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore,
    sanitizeResources: false,
    fn: withImage(async (root, dir) =>
      await fn(root, await writeFiles(join(dir, "ctx"), files), dir)
    ),
  });
}

function lastLine(text: string): string {
  return text.trim().split("\n").at(-1) ?? "";
}

/** Image IDs in the store. */
async function images(root: string): Promise<string[]> {
  return (await ok(root, ["images", "-a", "-q", "--no-trunc"])).trim().split("\n").filter(Boolean)
    .sort();
}

/** The exported filesystem of `image`, as a tree manifest without times. */
async function servinTree(root: string, dir: string, image: string): Promise<TreeRecord[]> {
  const tar = join(dir, `${image.replace(/\W/g, "_")}.tar`);
  await ok(root, ["image", "export", "-o", tar, image]);
  const tree = join(dir, `${image.replace(/\W/g, "_")}.tree`);
  await untar(tar, tree);
  return withoutTimes(await manifest(tree));
}

function withoutTimes(records: TreeRecord[]): TreeRecord[] {
  // The root's own mode is the export's, not the image's; times differ by design.
  return records.filter((r) => r.path !== ".").map(({ mtime: _, ...r }) => r as TreeRecord);
}

/** The config fields both builders set, buildah's own version label left out. */
function runtimeConfig(config: Record<string, unknown>): Record<string, unknown> {
  const labels = { ...(config.Labels as Record<string, string> | undefined) };
  delete labels["io.buildah.version"];
  const pick: Record<string, unknown> = {};
  for (const k of ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes"]) {
    const v = config[k];
    if (v !== undefined && v !== null && v !== "" && !(Array.isArray(v) && !v.length)) {
      pick[k] = v;
    }
  }
  for (const k of ["StopSignal", "Healthcheck", "OnBuild"]) if (config[k]) pick[k] = config[k];
  pick.Labels = labels;
  return pick;
}

const COMPARED = {
  "Containerfile": [
    "ARG BASE",
    "FROM ${BASE} AS build",
    "RUN mkdir -p /out && echo built > /out/artifact && ln -s artifact /out/link",
    "",
    "FROM ${BASE}",
    "ARG GREETING=hello",
    'ENV GREETING=${GREETING} SPACED="a b"',
    "WORKDIR /app",
    "COPY a.txt dir ./",
    "COPY --chown=alice:staff --chmod=640 a.txt /home/alice/mine",
    "COPY --from=build /out/ /from-build/",
    "ADD files.tar /unpacked/",
    "COPY *.md /docs/",
    "COPY --chown=alice:staff a.txt /new/parent/file",
    "COPY links /links/",
    "COPY a.txt /etc",
    "COPY --chown=alice a.txt /owners/alice",
    "COPY --chown=7 dir/b.txt /owners/seven",
    "RUN ln -s srv /linked",
    "COPY a.txt /linked/through-link/",
    "COPY dir /linked/",
    'RUN echo "$GREETING" > greeting && rm /etc/image-file && mkdir -p /srv/x && ' +
    "ln /app/greeting /app/hard && chmod 4755 /app/greeting",
    "USER alice",
    "LABEL org.example.kind=test other=${GREETING}",
    "EXPOSE 8080 53/udp",
    "VOLUME /data",
    "STOPSIGNAL SIGTERM",
    'ENTRYPOINT ["/bin/sh", "-c"]',
    'CMD ["echo hi"]',
  ].join("\n") + "\n",
  "a.txt": "a\n",
  "dir/b.txt": "b\n",
  "dir/sub/c.txt": "c\n",
  "one.md": "1\n",
  "two.md": "2\n",
  "ignored.log": "never copied\n",
  ".dockerignore": "*.log\n",
};

buildTest(
  "servin build and buildah bud --layers make the same filesystem and configuration",
  buildahIgnore,
  COMPARED,
  async (root, ctx, dir) => {
    await Deno.mkdir(join(ctx, "links"));
    await Deno.writeTextFile(join(ctx, "links/one"), "linked\n");
    await Deno.link(join(ctx, "links/one"), join(ctx, "links/two"));
    // A tar archive ADD unpacks, with owners and modes of its own.
    const files = join(dir, "files");
    await Deno.mkdir(join(files, "t"), { recursive: true });
    await Deno.writeTextFile(join(files, "t/in-tar"), "from the tar\n");
    await sh(
      "tar",
      "--owner=7",
      "--group=8",
      "--mode=go-w",
      "-C",
      files,
      "-cf",
      join(ctx, "files.tar"),
      "t",
    );
    const storage = join(dir, "buildah");
    const buildah = (...args: string[]) =>
      sh(
        "buildah",
        "--root",
        `${storage}/root`,
        "--runroot",
        `${storage}/run`,
        "--storage-driver",
        "vfs",
        ...args,
      );
    try {
      await ok(root, [
        "save",
        "--format",
        "oci-archive",
        "-o",
        join(dir, "bb.tar"),
        "busybox:test",
      ]);
      const pulled = lastLine(await buildah("pull", "-q", `oci-archive:${join(dir, "bb.tar")}`));
      await buildah("tag", pulled, "localhost/busybox:test");
      await buildah(
        "bud",
        "--layers",
        "--runtime",
        "runc",
        "--ulimit",
        "nofile=1024:1024",
        "--build-arg",
        "BASE=localhost/busybox:test",
        "-t",
        "localhost/compared:bud",
        ctx,
      );
      const out = await ok(root, [
        "build",
        "-q",
        "--build-arg",
        "BASE=busybox:test",
        "-t",
        "compared:servin",
        ctx,
      ]);
      assert.match(out.trim(), /^sha256:[0-9a-f]{64}$/);

      const container = lastLine(await buildah("from", "localhost/compared:bud"));
      const mounted = lastLine(await buildah("mount", container));
      const theirs = withoutTimes(await manifest(mounted)).filter((r) =>
        !/^(dev|proc|sys|run)(\/|$)|^etc\/(hosts|hostname|resolv\.conf)$/.test(r.path)
      );
      await buildah("umount", container);
      await buildah("rm", container);
      const ours = await servinTree(root, dir, "compared:servin");
      assert.deepEqual(ours, theirs);

      const inspect = JSON.parse(
        await buildah("inspect", "--type", "image", "localhost/compared:bud"),
      );
      const ourConfig = JSON.parse(
        await ok(root, ["image", "inspect", "--format", "{{json .Config}}", "compared:servin"]),
      );
      assert.deepEqual(runtimeConfig(ourConfig), runtimeConfig(inspect.Docker.config));
    } finally {
      await buildah("rm", "--all").catch(() => {});
      await sh("rm", "-rf", storage).catch(() => {});
    }
  },
);

buildTest(
  "the cache answers unchanged steps (RUN not run again) and misses after a change",
  runIgnore,
  {
    "Containerfile": "FROM busybox:test\nRUN cat /proc/uptime > /stamp\nCOPY a.txt /a.txt\n" +
      "RUN cat /proc/uptime > /stamp2\n",
    "a.txt": "one\n",
  },
  async (root, ctx) => {
    const stamps = async (tag: string) =>
      await ok(root, ["run", "--rm", tag, "cat", "/stamp", "/stamp2"]);
    const first = await run(root, ["build", "-t", "c:1", ctx]);
    assert.equal(first.code, 0, first.stderr);
    assert.doesNotMatch(first.stderr, /CACHED/);
    const s1 = await stamps("c:1");
    const second = await run(root, ["build", "-t", "c:2", ctx]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal((second.stderr.match(/CACHED/g) ?? []).length, 3, second.stderr);
    assert.equal(lastLine(second.stdout), lastLine(first.stdout));
    assert.equal(await stamps("c:2"), s1);
    // The steps' images are intermediate: hidden without -a, kept by image prune.
    const shown = (await ok(root, ["images", "-q", "--no-trunc"])).trim().split("\n");
    const all = (await ok(root, ["images", "-a", "-q", "--no-trunc"])).trim().split("\n");
    assert.equal(shown.length, 3); // busybox:test, configured:test, c:1 and c:2 (one ID)
    assert.equal(all.length, 5);
    await ok(root, ["image", "prune", "-f"]);
    assert.equal((await ok(root, ["images", "-a", "-q"])).trim().split("\n").length, 5);
    const pruned = await run(root, ["build", "-t", "c:2", ctx]);
    assert.equal((pruned.stderr.match(/CACHED/g) ?? []).length, 3, pruned.stderr);
    // A changed source: the COPY and what follows miss; the first RUN still hits.
    await Deno.writeTextFile(join(ctx, "a.txt"), "two\n");
    const third = await run(root, ["build", "-t", "c:3", ctx]);
    assert.equal((third.stderr.match(/CACHED/g) ?? []).length, 1, third.stderr);
    const s3 = (await stamps("c:3")).split("\n");
    const old = s1.split("\n");
    assert.equal(s3[0], old[0]);
    assert.notEqual(s3[1], old[1]);
    // --no-cache runs everything again.
    const fourth = await run(root, ["build", "--no-cache", "-t", "c:4", ctx]);
    assert.doesNotMatch(fourth.stderr, /CACHED/);
    assert.notEqual((await stamps("c:4")).split("\n")[0], old[0]);
  },
);

buildTest("two clean builds with --timestamp 0 give the same image ID", runIgnore, {
  "Containerfile": "FROM busybox:test\nCOPY . /src/\nRUN <<EOF\necho fixed > /f\ntouch /g\nEOF\n" +
    'ENV A=1\nCMD ["sh"]\n',
  "x/y.txt": "y\n",
}, async (root, ctx, dir) => {
  const a = lastLine(await ok(root, ["build", "-q", "--no-cache", "--timestamp", "0", ctx]));
  await Deno.utime(join(ctx, "x/y.txt"), new Date(), new Date());
  const b = lastLine(
    await ok(root, ["build", "-q", "--no-cache", ctx], { env: { SOURCE_DATE_EPOCH: "0" } }),
  );
  assert.equal(a, b);
  const inspect = JSON.parse(await ok(root, ["image", "inspect", a.slice(7)]))[0];
  assert.equal(inspect.Created, "1970-01-01T00:00:00Z");
  const tree = await servinTree(root, dir, a.slice(7));
  assert.equal(tree.find((r) => r.path === "f")?.sha256, sha256("fixed\n"));
  // --timestamp wins over SOURCE_DATE_EPOCH; a malformed one is refused, not ignored.
  const c = lastLine(
    await ok(root, ["build", "-q", "--timestamp", "0", ctx], { env: { SOURCE_DATE_EPOCH: "9" } }),
  );
  assert.equal(c, a);
  const bad = await run(root, ["build", "-q", ctx], { env: { SOURCE_DATE_EPOCH: "yesterday" } });
  const why = 'servin: SOURCE_DATE_EPOCH must be whole seconds since the epoch, not "yesterday"\n';
  assert.deepEqual([bad.code, bad.stderr], [1, why]);
});

buildTest(
  "a failing RUN exits 1 with its code and line, and leaves no image, tag or container",
  runIgnore,
  {
    "Containerfile": "FROM busybox:test\n\nRUN echo before; exit 3\n",
  },
  async (root, ctx) => {
    const before = await images(root);
    const r = await run(root, ["build", "-t", "fails:1", ctx]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Containerfile:3: RUN echo before; exit 3: exit code 3/);
    assert.match(r.stderr, /#\d+ [\d.]+ before/);
    assert.deepEqual(await images(root), before);
    assert.equal((await ok(root, ["ps", "-aq"])).trim(), "");
    assert.equal((await run(root, ["image", "inspect", "fails:1"])).code, 1);
  },
);

Deno.test({
  name: "build errors: unknown instruction, context escapes, ignored sources, missing stage",
  sanitizeResources: false,
  fn: withImage(async (root, dir) => {
    const build = async (files: Record<string, string>, ...flags: string[]) => {
      const ctx = join(dir, `ctx${Math.random().toString(36).slice(2)}`);
      await writeFiles(ctx, files);
      return await run(root, ["build", ...flags, ctx]);
    };
    let r = await build({ "Dockerfile": "FROM busybox:test\nLABEL a=b\nFROOB x\n" });
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), "servin: Dockerfile:3: unknown instruction: FROOB");
    r = await build({ "Containerfile": "FROM busybox:test\nCOPY ../outside /x\n" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Containerfile:2: COPY: .*escapes the build context/);
    // A symlink pointing out resolves inside the context: /etc/passwd of the host is not read.
    r = await build({
      "Containerfile": "FROM busybox:test\nCOPY out/passwd /x\n",
      "out": "->/etc",
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /was not found in the build context/);
    r = await build({
      "Containerfile": "FROM busybox:test\nCOPY secret.key /x\n",
      "secret.key": "k",
      ".containerignore": "*.key\n",
      ".dockerignore": "nothing\n",
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /secret\.key" was not found/);
    r = await build({ "Containerfile": "FROM busybox:test\n" }, "--target", "nope");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /No build stage "nope"/);
    assert.equal((await images(root)).length, 2);
  }),
});

buildTest("ignore rules, a context on stdin, --target skipping unneeded stages, ONBUILD", false, {
  "Containerfile": [
    "FROM busybox:test AS unused",
    "COPY nothing-here /",
    "FROM busybox:test AS base",
    "ONBUILD COPY a.txt /onbuild.txt",
    "COPY . /ctx/",
    "FROM busybox:test AS other",
  ].join("\n") + "\n",
  "a.txt": "a\n",
  "keep.log": "kept\n",
  "drop.log": "dropped\n",
  "sub/deep.log": "deep\n",
  ".dockerignore": "*.log\n!keep.log\n",
}, async (root, ctx, dir) => {
  const tar = join(dir, "ctx.tar");
  await sh("tar", "-C", ctx, "-cf", tar, ".");
  const id = lastLine(
    await ok(root, ["build", "-q", "--target", "base", "-t", "base:1", "-"], {
      stdin: await Deno.readFile(tar),
    }),
  );
  assert.match(id, /^sha256:/);
  assert.deepEqual(scratchLeft(root), []);
  const files = (await servinTree(root, dir, "base:1")).map((r) => r.path).filter((p) =>
    p.startsWith("ctx/")
  );
  assert.deepEqual(files, [
    "ctx/.dockerignore",
    "ctx/Containerfile",
    "ctx/a.txt",
    "ctx/keep.log",
    "ctx/sub",
    "ctx/sub/deep.log",
  ]);
  const baseConfig = JSON.parse(
    await ok(root, ["image", "inspect", "--format", "{{json .Config}}", "base:1"]),
  );
  assert.deepEqual(baseConfig.OnBuild, ["COPY a.txt /onbuild.txt"]);
  // ONBUILD triggers run in the image that uses base:1 as its base.
  const child = await writeFiles(join(dir, "child"), {
    "Containerfile": "FROM base:1\n",
    "a.txt": "child's\n",
  });
  await ok(root, ["build", "-q", "-t", "child:1", child]);
  const tree = await servinTree(root, dir, "child:1");
  assert.ok(tree.some((r) => r.path === "onbuild.txt"));
  const config = JSON.parse(
    await ok(root, ["image", "inspect", "--format", "{{json .Config}}", "child:1"]),
  );
  assert.equal(config.OnBuild, null);
});

Deno.test({
  name: "FROM pulls through the registry per --pull; ADD downloads a URL with --checksum",
  ignore: !canRun || !has("docker-registry"),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: withImage(async (root, dir) => {
    await using registry = await startRegistry(dir);
    const ref = `127.0.0.1:${registry.port}/test/busybox:1`;
    await ok(root, ["push", "busybox:test", ref]);
    const body = "downloaded\n";
    const digest = `sha256:${sha256(body)}`;
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => new Response(body),
    );
    try {
      const url = `http://127.0.0.1:${server.addr.port}/files/got.txt`;
      const fresh = join(dir, "fresh");
      const ctx = await writeFiles(join(dir, "ctx"), {
        "Containerfile": `FROM ${ref}\nADD --checksum=${digest} ${url} /dl/\n`,
        "bad/Containerfile": `FROM ${ref}\nADD --checksum=sha256:${"0".repeat(64)} ${url} /dl/\n`,
      });
      const never = await run(fresh, ["build", "--pull", "never", ctx]);
      assert.equal(never.code, 1);
      assert.match(never.stderr, /not found|No such image/i);
      await ok(fresh, ["build", "-q", "-t", "dl:1", ctx]);
      const tree = await servinTree(fresh, dir, "dl:1");
      const file = tree.find((r) => r.path === "dl/got.txt");
      assert.equal(file?.mode, "600");
      assert.equal(file?.sha256, sha256(body));
      const bad = await run(fresh, ["build", "-f", join(ctx, "bad/Containerfile"), ctx]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /Checksum of .* is sha256:/);
    } finally {
      await server.shutdown();
    }
  }),
});

buildTest(
  "SHELL, HEALTHCHECK, VOLUME, STOPSIGNAL, --label: config and Docker-like history",
  runIgnore,
  {
    "Containerfile": [
      "FROM busybox:test",
      'SHELL ["/bin/sh", "-ec"]',
      'RUN echo "flags $-"',
      "HEALTHCHECK --interval=5s --timeout=1m30s --retries=2 CMD true",
      "STOPSIGNAL SIGUSR1",
      "EXPOSE 9000-9002/udp",
      'VOLUME ["/v1", "/v2"]',
      "ENTRYPOINT echo hi",
    ].join("\n") + "\n",
  },
  async (root, ctx) => {
    const r = await run(root, ["build", "--label", "a=b", "-t", "meta:1", ctx]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /#\d+ [\d.]+ flags [a-z]*e/);
    const config = JSON.parse(
      await ok(root, ["image", "inspect", "--format", "{{json .Config}}", "meta:1"]),
    );
    assert.deepEqual(config.Healthcheck, {
      Test: ["CMD-SHELL", "true"],
      Interval: 5e9,
      Timeout: 90e9,
      Retries: 2,
    });
    assert.deepEqual(config.Shell, ["/bin/sh", "-ec"]);
    assert.deepEqual(config.Entrypoint, ["/bin/sh", "-ec", "echo hi"]);
    assert.deepEqual(config.Volumes, { "/v1": {}, "/v2": {} });
    assert.equal(config.StopSignal, "SIGUSR1");
    // A range is each of its ports, as Docker reads it (buildah 1.28 keeps the range as one key).
    assert.deepEqual(config.ExposedPorts, { "9000/udp": {}, "9001/udp": {}, "9002/udp": {} });
    assert.deepEqual(config.Labels, { a: "b" });
    const history = JSON.parse(await ok(root, ["history", "--format", "json", "meta:1"]));
    assert.deepEqual(
      history.slice(0, 8).map((h: { created_by: string; empty_layer: boolean }) => [
        h.created_by,
        h.empty_layer,
      ]),
      [
        ["LABEL a=b", true],
        ["ENTRYPOINT echo hi", true],
        ['VOLUME ["/v1","/v2"]', true],
        ["EXPOSE 9000-9002/udp", true],
        ["STOPSIGNAL SIGUSR1", true],
        ["HEALTHCHECK CMD true", true],
        ['RUN /bin/sh -ec echo "flags $-"', false],
        ['SHELL ["/bin/sh","-ec"]', true],
      ],
    );
    // The same build again: every step, --label's included, is a cache hit.
    const again = await run(root, ["build", "--label", "a=b", "-t", "meta:2", ctx]);
    assert.equal(lastLine(again.stdout), lastLine(r.stdout));
  },
);

buildTest(
  "SIGTERM during a RUN exits 143 and leaves no container; image prune collects the cache",
  runIgnore,
  {
    "Containerfile": "FROM busybox:test\nRUN cat /proc/uptime > /stamp\n" +
      "RUN echo started; sleep 30\n",
    "short/Containerfile": "FROM busybox:test\nRUN cat /proc/uptime > /stamp\n",
  },
  async (root, ctx) => {
    const child = spawn(root, ["build", "--progress", "plain", ctx]);
    const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    // Bounded: the RUN prints "started" within the first steps, or the test fails.
    for (let i = 0; i < 1000 && !/\d started/.test(seen); i++) {
      const { value, done } = await stderr.read();
      if (done) break;
      seen += value;
    }
    assert.match(seen, /\d started/);
    child.kill("SIGTERM");
    const status = await child.status;
    await stderr.cancel();
    await child.stdout.cancel();
    assert.equal(status.code, 143);
    assert.equal((await ok(root, ["ps", "-aq"])).trim(), "");

    // The first RUN is cached; after image prune its image is gone and it runs again.
    const short = join(ctx, "short");
    const cached = await run(root, ["build", "-t", "short:1", short]);
    assert.match(cached.stderr, /CACHED/);
    await ok(root, ["image", "prune", "-f"]);
    await ok(root, ["rmi", "short:1"]);
    await ok(root, ["image", "prune", "-f"]);
    const again = await run(root, ["build", short]);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /CACHED/);
  },
);

buildTest(
  "multi-stage: independent stages both built, an unneeded failing stage skipped",
  runIgnore,
  {
    "Containerfile": [
      "FROM busybox:test AS a",
      "RUN echo from-a > /a",
      "FROM busybox:test AS broken",
      "RUN exit 7",
      "FROM busybox:test AS b",
      "RUN echo from-b > /b",
      "FROM scratch",
      "COPY --from=a /a /got/a",
      "COPY --from=2 /b /got/b",
      "COPY --from=busybox:test /etc/image-file /got/",
    ].join("\n") + "\n",
  },
  async (root, ctx, dir) => {
    const r = await run(root, ["build", "-t", "multi:1", ctx]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /exit 7/);
    assert.match(r.stderr, /\[a 2\/2\] RUN echo from-a/);
    const tree = await servinTree(root, dir, "multi:1");
    assert.deepEqual(tree.map((e) => e.path), ["got", "got/a", "got/b", "got/image-file"]);
    assert.deepEqual(scratchLeft(root), []);
    assert.equal(tree.find((e) => e.path === "got/b")?.sha256, sha256("from-b\n"));
    // --target picks a stage by name; the failing one fails the build with its line.
    const broken = await run(root, ["build", "--target", "broken", ctx]);
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /Containerfile:4: RUN exit 7: exit code 7/);
  },
);
