/**
 * Containers end to end: a real busybox image, real runc, both snapshotters.
 * These need root, runc and a static busybox (`.ci/run` installs them); they
 * are reported as ignored, not passed, where those are missing.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { openServin, ServinError } from "../mod.ts";
import { imageTest, mountsUnder, runSh, withImage } from "./_busybox.ts";
import { listTree, ok, run, withTempDir } from "./_cli.ts";
import { have } from "./_layout.ts";
import { NO_MKDIR_PROFILE } from "./_runtime.ts";
import { buildTar } from "./_tar.ts";

const ignore = Deno.uid() !== 0 || !have("runc") || !have("busybox");
const MAIN = new URL("../main.ts", import.meta.url).pathname;

for (const snapshotter of ["overlay", "copy"]) {
  Deno.test({
    name: `run (${snapshotter}): exit codes, image config, flags, and isolation between containers`,
    ignore,
    fn: withImage(async (root) => {
      const s = ["--snapshotter", snapshotter];
      const exit3 = await runSh(root, s, "exit 3");
      assert.equal(exit3.code, 3, exit3.stderr);

      const fromImage = await run(root, ["run", "--rm", ...s, "configured:test"]);
      assert.equal(fromImage.code, 0, fromImage.stderr);
      assert.equal(
        fromImage.stdout,
        "hello from the image\n/srv\nuid=1000(alice) gid=1000(alice) groups=50(staff)\n",
      );

      const fromFlags = await runSh(
        root,
        [...s, "-e", "GREETING=from a flag", "-w", "/tmp", "-u", "0:50", "--name", "flagged"],
        "echo $GREETING; pwd; id; hostname",
        "configured:test",
      );
      assert.equal(fromFlags.code, 0, fromFlags.stderr);
      assert.equal(fromFlags.stdout, "from a flag\n/tmp\nuid=0(root) gid=50(staff)\nflagged\n");

      const writer = await run(root, [
        "run",
        ...s,
        "--name",
        "writer",
        "busybox:test",
        "sh",
        "-c",
        "echo changed > /etc/image-file && echo new > /etc/new-file && cat /etc/image-file",
      ]);
      assert.equal(writer.stdout, "changed\n", writer.stderr);
      const reader = await runSh(
        root,
        s,
        "cat /etc/image-file; test -e /etc/new-file && echo leaked || echo clean",
      );
      assert.equal(reader.stdout, "from the image\nclean\n", reader.stderr);
      const [image] = JSON.parse(await ok(root, ["image", "inspect", "busybox:test"]));
      assert.equal(
        await Deno.readTextFile(join(image.rootfs_path, "etc", "image-file")),
        "from the image\n",
      );
      const [c] = JSON.parse(await ok(root, ["container", "inspect", "writer"]));
      assert.equal(c.snapshotter, snapshotter);
      assert.equal(c.status, "exited");
      assert.equal(c.exit_code, 0);
      assert.deepEqual(mountsUnder(root), [], "no mount outlives a run");
      await ok(root, ["rm", "writer"]);
      // Only the index and its lock stay: no bundle outlives its container.
      assert.deepEqual(await listTree(join(root, "containers")), ["index.json", "index.lock"]);
      assert.equal(await ok(root, ["ps", "-aq"]), "");
    }),
  });
}

imageTest(
  "run -d writes a log, ps shows it running, rm needs -f while it runs",
  ignore,
  async (root) => {
    const id = (await ok(root, [
      "run",
      "-d",
      "--name",
      "daemon",
      "busybox:test",
      "sh",
      "-c",
      "echo started; echo to stderr >&2; sleep 30",
    ])).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.match(await ok(root, ["ps"]), new RegExp(`${id.slice(0, 12)}.*Up .*daemon`));
    for (
      let i = 0;
      i < 100 && !(await run(root, ["logs", "daemon"])).stderr.includes("stderr");
      i++
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    // Kept apart: what went to stderr comes back on stderr.
    const logs = await run(root, ["logs", "daemon"]);
    assert.equal(logs.stdout, "started\n");
    assert.equal(logs.stderr, "to stderr\n");
    const refused = await run(root, ["rm", "daemon"]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^servin: Cannot remove running container daemon: stop it first or use -f\n$/,
    );
    assert.equal(await ok(root, ["rm", "-f", "daemon"]), "daemon\n");
    assert.equal(await ok(root, ["ps", "-aq"]), "");
    assert.deepEqual(mountsUnder(root), []);
  },
);

imageTest(
  "create then start, unique names, unknown snapshotters and runtimes, and image rm refusing an image in use",
  ignore,
  async (root) => {
    const unknown: [string, string][] = [
      ["snapshotter", "available: overlay, copy"],
      ["runtime", "known: runc, crun"],
    ];
    for (const [what, listed] of unknown) {
      const r = await run(root, ["create", `--${what}`, "nope", "busybox:test"]);
      assert.equal(r.code, 125, r.stderr);
      assert.match(r.stderr, new RegExp(`^servin: Unknown ${what} "nope" \\(${listed}\\)\n$`));
    }
    assert.equal(await ok(root, ["ps", "-aq"]), "", "a refused create leaves no container");
    const id = (await ok(root, ["create", "--name", "later", "busybox:test", "sh", "-c", "exit 4"]))
      .trim();
    assert.match(await ok(root, ["ps", "-a"]), /Created\s+later/);
    const dup = await run(root, ["create", "--name", "later", "busybox:test"]);
    assert.equal(dup.code, 125, "Docker's code for its own failure");
    assert.match(dup.stderr, /name "later" is already in use/);
    const started = await run(root, ["start", "-a", "later"]);
    assert.equal(started.code, 4);
    assert.match(await ok(root, ["ps", "-a"]), /Exited \(4\) .* later/);

    const refused = await run(root, ["image", "rm", "busybox:test"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /containers use it: later/);
    await ok(root, ["image", "rm", "-f", "busybox:test"]);
    // The container keeps the layers it runs on.
    const again = await run(root, ["start", "-a", id.slice(0, 8)]);
    assert.equal(again.code, 4, again.stderr);
    // Removing it drops its lease: the other image goes without -f, and the layers with it.
    await ok(root, ["rm", "later"]);
    await ok(root, ["image", "rm", "configured:test"]);
    assert.deepEqual(await listTree(join(root, "images", "layers")), []);
  },
);

imageTest(
  "stdin with -i, SIGTERM reaches the container, and a missing runtime is a clear error",
  ignore,
  async (root) => {
    const echo = await run(root, ["run", "--rm", "-i", "busybox:test", "cat"], {
      stdin: new TextEncoder().encode("piped in\n"),
    });
    assert.equal(echo.stdout, "piped in\n", echo.stderr);

    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "run",
        "--rm",
        "busybox:test",
        "sh",
        "-c",
        'trap "echo got TERM; exit 7" TERM; echo ready; while true; do sleep 0.1; done',
      ],
      env: { SERVIN_ROOT: root },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.getReader();
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value), "ready\n");
    child.kill("SIGTERM");
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      rest += new TextDecoder().decode(r.value);
    }
    const status = await child.status;
    await child.stderr.cancel();
    assert.equal(rest, "got TERM\n");
    assert.equal(status.code, 7);

    const created = await run(root, [
      "create",
      "--runtime",
      "crun",
      "--name",
      "nocrun",
      "busybox:test",
    ]);
    assert.equal(created.code, 0, created.stderr);
    const noRuntime = await run(root, ["start", "-a", "nocrun"], {
      env: { PATH: "/nonexistent" },
    });
    assert.equal(noRuntime.code, 125);
    assert.equal(
      noRuntime.stderr,
      'servin: No OCI runtime found: install runc or crun (looked for "crun" on PATH)\n',
    );
  },
);

Deno.test({
  name: "a missing image is exit 125; the basic rootfs only with --fallback or fallback_rootfs",
  ignore,
  fn: withTempDir(async ({ dir: root }) => {
    // --pull never: no test sends traffic beyond loopback (pull on run: lifecycle_test.ts).
    const strict = await run(root, ["run", "--pull", "never", "missing:1", "sh"]);
    assert.equal(strict.code, 125);
    assert.equal(strict.stderr, "servin: No such image: missing:1\n");
    const script = ["sh", "-c", "cat /etc/passwd; echo ok"];
    const r = await run(root, [
      "run",
      "--rm",
      "--pull",
      "never",
      "--fallback",
      "missing:1",
      ...script,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^root:x:0:0:/);
    assert.match(r.stdout, /ok\n$/);
    assert.equal(
      r.stderr,
      'servin: warning: image "missing:1" not found locally: using a basic root filesystem\n',
    );
    await Deno.writeTextFile(join(root, "config.json"), '{"fallback_rootfs": true}');
    const configured = await run(root, ["run", "--rm", "--pull", "never", "missing:1", ...script]);
    assert.equal(configured.code, 0, configured.stderr);
    assert.equal(await ok(root, ["ps", "-aq"]), "");
  }),
});

imageTest(
  "a container whose supervisor was killed is still running, and rm -f leaves nothing in runc",
  ignore || !have("conmon"),
  async (root) => {
    const id = (await ok(root, ["run", "-d", "--name", "victim", "busybox:test", "sleep", "300"]))
      .trim();
    const pgrep = new Deno.Command("pgrep", { args: ["-f", `conmon .*-c ${id}`], stdout: "piped" })
      .outputSync();
    const pid = Number(new TextDecoder().decode(pgrep.stdout).trim().split("\n")[0]);
    assert.ok(pid > 0, "found the supervisor (conmon)");
    Deno.kill(pid, "SIGKILL");
    assert.match(await ok(root, ["ps"]), /Up .*victim/, "the process still runs: ps says so");
    await ok(root, ["rm", "-f", "victim"]);
    const list = await new Deno.Command("runc", { args: ["list", "-q"], stdout: "piped" }).output();
    assert.ok(!new TextDecoder().decode(list.stdout).includes(id), "runc list no longer has it");
    assert.equal(await ok(root, ["ps", "-aq"]), "");
    assert.deepEqual(mountsUnder(root), []);
  },
);

Deno.test(
  "create leases the image's layers after checking them; rm and prune drop leases",
  withTempDir(async ({ dir: root }) => {
    await using servin = await openServin({ root });
    const leases = () => servin.store.index.transaction((tx) => structuredClone(tx.leases));
    const tar = buildTar([{ name: "etc/", type: "5" }, { name: "etc/motd", body: "hi\n" }]);
    await servin.importImage({ path: "a", stream: new Blob([tar]).stream() }, "leased:1");
    const image = await servin.getImage("leased:1");
    const options = { snapshotter: "copy", command: ["/bin/true"] };
    const c = await servin.containers.create("leased:1", options);
    assert.deepEqual(await leases(), {
      [`container:${c.id}`]: { image: image.id, layers: image.layers },
    });
    await assert.rejects(() => servin.removeImage("leased:1"), { code: "conflict" });
    await servin.containers.remove(c.id);
    assert.deepEqual(await leases(), {});

    // A lease that a create which died left (no record, no staging) goes at the next prune.
    await servin.containers.create("leased:1", options);
    await servin.store.index.transaction((tx) => {
      tx.leases[`container:${"a".repeat(64)}`] = { image: image.id, layers: [...image.layers] };
    });
    await servin.containers.prune();
    assert.deepEqual(await leases(), {});

    // A layer gone behind the store's back: create refuses the image and keeps nothing.
    await Deno.remove(join(root, "images", "layers", image.layers[0]!), { recursive: true });
    await assert.rejects(
      () => servin.containers.create("leased:1", options),
      (err: unknown) =>
        err instanceof ServinError && err.code === "not-found" &&
        /^Image leased:1 is incomplete: its layer [0-9a-f]{12} is missing$/.test(err.message),
    );
    assert.deepEqual(await leases(), {});
    assert.deepEqual(await servin.containers.list(), []);
    assert.deepEqual(await listTree(join(root, "containers")), ["index.json", "index.lock"]);
    assert.deepEqual(await listTree(join(root, "tmp")), []);
  }),
);

Deno.test({
  name:
    "seccomp: Docker's default profile refuses namespaces and mounts; unconfined and profile files",
  ignore,
  async fn() {
    await withImage(async (root, dir) => {
      const status = ["grep", "Seccomp:", "/proc/self/status"];
      const confined = await run(root, ["run", "--rm", "busybox:test", ...status]);
      assert.equal(confined.stdout, "Seccomp:\t2\n", confined.stderr);
      const unconfined = ["--security-opt", "seccomp=unconfined"];
      const free = await run(root, ["run", "--rm", ...unconfined, "busybox:test", ...status]);
      assert.equal(free.stdout, "Seccomp:\t0\n", free.stderr);

      // The container's root, without CAP_SYS_ADMIN, gets no namespace of its own and
      // mounts nothing; a fork (clone without CLONE_NEW* flags) still works.
      const escape = ["unshare", "-r", "-m", "sh", "-c", "mount -t tmpfs t /tmp && echo mounted"];
      const refused: string[][] = [
        ["unshare", "-U", "true"],
        ["unshare", "-m", "true"],
        ["mount", "-t", "tmpfs", "t", "/tmp"],
        escape,
      ];
      for (const argv of refused) {
        const r = await run(root, ["run", "--rm", "busybox:test", ...argv]);
        assert.equal(r.code, 1, `${argv.join(" ")}: ${r.stdout}${r.stderr}`);
        // busybox mount words EPERM as "permission denied (are you root?)".
        assert.match(
          r.stderr,
          /Operation not permitted|mount: permission denied/,
          `${argv.join(" ")}: ${r.stderr}`,
        );
      }
      const pipe = await runSh(root, [], "echo x | cat");
      assert.equal(pipe.stdout, "x\n", pipe.stderr);
      const userns = await run(root, [
        "run",
        "--rm",
        ...unconfined,
        "busybox:test",
        "unshare",
        "-U",
        "true",
      ]);
      assert.equal(userns.code, 0, userns.stderr);
      const mounted = await run(root, ["run", "--rm", ...unconfined, "busybox:test", ...escape]);
      assert.equal(mounted.stdout, "mounted\n", mounted.stderr);

      const profile = join(dir, "no-mkdir.json");
      await Deno.writeTextFile(profile, JSON.stringify(NO_MKDIR_PROFILE));
      const custom = ["--security-opt", `seccomp=${profile}`];
      const mkdir = await run(root, ["run", "--rm", ...custom, "busybox:test", "mkdir", "/tmp/x"]);
      assert.equal(mkdir.code, 1);
      assert.match(mkdir.stderr, /can't create directory '\/tmp\/x': Operation not permitted/);
      const allowed = await run(root, ["run", "--rm", "busybox:test", "mkdir", "/tmp/x"]);
      assert.equal(allowed.code, 0, allowed.stderr);

      // The choice is made at create and recorded; start runs with it.
      await ok(root, ["create", "--name", "free", ...unconfined, "busybox:test", ...status]);
      await ok(root, ["create", "--name", "custom", ...custom, "busybox:test", "mkdir", "/x"]);
      const [c] = JSON.parse(await ok(root, ["container", "inspect", "free"]));
      assert.deepEqual(c.security_opt, ["seccomp=unconfined"]);
      const startedFree = await run(root, ["start", "-a", "free"]);
      assert.equal(startedFree.stdout, "Seccomp:\t0\n", startedFree.stderr);
      const startedCustom = await run(root, ["start", "-a", "custom"]);
      assert.equal(startedCustom.code, 1);
      assert.match(startedCustom.stderr, /Operation not permitted/);
      await ok(root, ["rm", "free", "custom"]);

      await Deno.writeTextFile(join(dir, "broken.json"), "{");
      await Deno.writeTextFile(join(dir, "notify.json"), '{"defaultAction": "SCMP_ACT_NOTIFY"}');
      const bad: [string, RegExp][] = [
        ["apparmor=unconfined", /^servin: Invalid --security-opt "apparmor=unconfined": /],
        ["seccomp=", /^servin: Invalid --security-opt "seccomp=": /],
        [`seccomp=${dir}/missing.json`, /^servin: Cannot read seccomp profile ".*missing.json"/],
        [`seccomp=${dir}/broken.json`, /^servin: Invalid seccomp profile ".*broken.json": /],
        [`seccomp=${dir}/notify.json`, /^servin: Invalid seccomp profile .*seccomp agent/],
      ];
      for (const [opt, message] of bad) {
        for (const verb of ["run", "create"]) {
          const r = await run(root, [verb, "--security-opt", opt, "busybox:test", "true"]);
          assert.equal(r.code, 1, `${verb} ${opt}: ${r.stderr}`);
          assert.match(r.stderr, message);
          assert.equal(r.stderr.split("\n").length, 2, r.stderr);
        }
      }
      assert.equal(await ok(root, ["ps", "-aq"]), "", "a refused option leaves no container");
      assert.deepEqual(
        await Array.fromAsync(Deno.readDir(join(root, "containers"))).then((e) =>
          e.map((x) => x.name).filter((n) => /^[0-9a-f]{64}$/.test(n))
        ),
        [],
        "nor a bundle",
      );
    });
  },
});
