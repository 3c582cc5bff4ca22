/**
 * A container's life through the CLI, with real runc, conmon and catatonit:
 * Docker's exit codes, the generated environment, host settings, stop,
 * kill, restart, wait, pause, rename, top, exec, logs and restart policies,
 * and pull on run from a registry on 127.0.0.1. Ignored (not passed) where
 * root, runc, busybox or conmon are missing: `.ci/run` installs them.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { busyboxImage, imageTest, mountsUnder } from "./_busybox.ts";
import { ok, run, withTempDir, writeFixture } from "./_cli.ts";
import { have } from "./_layout.ts";
import { startRegistry } from "./_registry.ts";

const ignore = Deno.uid() !== 0 || !have("runc") || !have("busybox") || !have("conmon");

async function inspect(root: string, name: string) {
  return JSON.parse(await ok(root, ["container", "inspect", name]))[0];
}

/** Polls `check` (bounded: 200 × 50 ms) until it holds. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting until ${what}`);
}

imageTest(
  "run, start and exec exit as Docker's: the code, 125, 126, 127 and 128+N",
  ignore,
  async (root) => {
    const code = async (args: string[]) => (await run(root, args)).code;
    assert.equal(await code(["run", "--rm", "busybox:test", "sh", "-c", "exit 3"]), 3);
    const missing = await run(root, ["run", "--rm", "busybox:test", "nosuch"]);
    assert.equal(missing.code, 127);
    assert.match(
      missing.stderr,
      /servin: Cannot start the container's process: exec: "nosuch": executable file not found in \$PATH\n$/,
    );
    assert.equal(await code(["run", "--rm", "busybox:test", "/etc/passwd"]), 126);
    // PID 1 cannot be killed from inside: under an init, the shell is not PID 1.
    assert.equal(
      await code(["run", "--rm", "--init", "busybox:test", "sh", "-c", "kill -9 $$"]),
      137,
    );
    assert.equal(await code(["run", "--rm", "--pull", "never", "nope:1"]), 125);
    assert.equal(await code(["run", "--rm", "--ulimit", "bogus=1", "busybox:test", "true"]), 125);
    assert.equal(await code(["run", "--rm", "--platform", "linux/s390x", "busybox:test"]), 125);
    await ok(root, ["create", "--name", "bad", "busybox:test", "nosuch"]);
    assert.equal(await code(["start", "-a", "bad"]), 127);
    assert.equal(await code(["start", "bad"]), 127, "detached, the supervisor's failure too");

    await ok(root, ["run", "-d", "--name", "svc", "busybox:test", "sleep", "300"]);
    assert.equal(await code(["exec", "svc", "sh", "-c", "exit 4"]), 4);
    assert.equal(await code(["exec", "svc", "nosuch"]), 127);
    assert.equal(await code(["exec", "svc", "/etc/passwd"]), 126);
    assert.equal(await code(["exec", "nosuchcontainer", "true"]), 125);
  },
);

imageTest(
  "the container's environment: /etc files, HOSTNAME, TERM, -e from the caller, --env-file, --entrypoint, --label",
  ignore,
  async (root, dir) => {
    const envFile = await writeFixture(dir, "env", "# a comment\nFROM_FILE=yes\n\n");
    const r = await run(root, [
      "run",
      "--rm",
      "-t",
      "--name",
      "envy",
      "--hostname",
      "box",
      "--add-host",
      "db:10.1.2.3",
      "--dns",
      "192.0.2.53",
      "-e",
      "FROM_CALLER",
      "-e",
      "UNSET_IN_CALLER",
      "--env-file",
      envFile,
      "busybox:test",
      "sh",
      "-c",
      'cat /etc/hostname /etc/hosts /etc/resolv.conf; echo "$HOSTNAME $TERM $FROM_CALLER $FROM_FILE ${UNSET_IN_CALLER-unset}"',
    ], { env: { FROM_CALLER: "caller's" } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "the input device is not a TTY\n");
    assert.equal(
      r.stdout,
      "box\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tbox\n" +
        "10.1.2.3\tdb\nnameserver 192.0.2.53\nbox xterm caller's yes unset\n",
    );
    const entry = await ok(root, [
      "run",
      "--name",
      "labelled",
      "--label",
      "team=core",
      "--entrypoint",
      "echo",
      "configured:test",
      "via entrypoint",
    ]);
    assert.equal(entry, "via entrypoint\n");
    const c = await inspect(root, "labelled");
    assert.deepEqual(c.labels, { team: "core" });
    assert.equal(c.status, "exited");
    assert.equal(c.exit_code, 0);
    assert.ok(c.started_at && c.finished_at);
  },
);

imageTest(
  "host settings: --init, capabilities, --privileged, --ulimit, and cgroup limits",
  ignore || !(have("catatonit") || have("tini")),
  async (root) => {
    const init = await ok(root, [
      "run",
      "--rm",
      "--init",
      "busybox:test",
      "cat",
      "/proc/1/cmdline",
    ]);
    assert.match(init, /^\/dev\/init\0--\0cat\0/, "PID 1 is the init, which runs the command");
    const capEff = async (...flags: string[]) =>
      BigInt(
        "0x" +
          (await ok(root, [
            "run",
            "--rm",
            ...flags,
            "busybox:test",
            "sh",
            "-c",
            "grep CapEff /proc/self/status",
          ]))
            .split(/\s+/)[1],
      );
    const base = await capEff();
    const NET_ADMIN = 1n << 12n, CHOWN = 1n << 0n;
    assert.equal(base & NET_ADMIN, 0n);
    assert.equal(base & CHOWN, CHOWN);
    assert.equal(
      await capEff("--cap-add", "NET_ADMIN", "--cap-drop", "chown"),
      (base | NET_ADMIN) & ~CHOWN,
    );
    const all = await capEff("--privileged");
    assert.equal(all & (base | NET_ADMIN), base | NET_ADMIN, "privileged has every capability");
    assert.equal(
      await ok(root, [
        "run",
        "--rm",
        "--ulimit",
        "nofile=512:1024",
        "busybox:test",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn",
      ]),
      "512\n1024\n",
    );
    const limited = await run(root, [
      "run",
      "-d",
      "--name",
      "limited",
      "--memory",
      "64m",
      "--pids-limit",
      "50",
      "--cpus",
      "0.5",
      "busybox:test",
      "sleep",
      "300",
    ]);
    if (limited.code !== 0) {
      // Where the host's cgroups refuse limits, the failure is one line and 125.
      assert.equal(limited.code, 125);
      assert.equal(limited.stderr.trim().split("\n").length, 1, limited.stderr);
      console.log(`cgroup limits refused on this host (checked the error only): ${limited.stderr}`);
      return;
    }
    const pid = (await inspect(root, "limited")).pid;
    const cgroup = Deno.readTextFileSync(`/proc/${pid}/cgroup`);
    const v2 = /^0::(.*)$/m.exec(cgroup);
    const mem = /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(.*)$/m.exec(cgroup);
    // cgroup v1's memory controller where the host has it (hybrid hosts list 0:: too), else v2.
    const limit = mem
      ? Deno.readTextFileSync(`/sys/fs/cgroup/memory${mem[1]}/memory.limit_in_bytes`)
      : Deno.readTextFileSync(`/sys/fs/cgroup${v2![1]}/memory.max`);
    assert.equal(limit.trim(), String(64 * 1024 * 1024));
  },
);

imageTest(
  "stop escalates to SIGKILL for a process that ignores SIGTERM; wait, kill, restart, pause, rename, top, exec",
  ignore,
  async (root) => {
    const script = 'trap "" TERM; echo ready; echo oops >&2; while true; do sleep 1; done';
    await ok(root, ["run", "-d", "--name", "stubborn", "busybox:test", "sh", "-c", script]);
    const top = await ok(root, ["top", "stubborn"]);
    assert.match(top, /^UID\s+PID\s+PPID/);
    assert.match(top, /trap "" TERM/);

    assert.equal(
      await ok(root, [
        "exec",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        "-u",
        "alice",
        "stubborn",
        "sh",
        "-c",
        "echo $X $(pwd) $(id -u)",
      ]),
      "1 /tmp 1000\n",
    );
    await ok(root, ["exec", "-d", "stubborn", "sh", "-c", "echo detached > /tmp/mark"]);
    await until(
      "the detached exec ran",
      async () =>
        (await run(root, ["exec", "stubborn", "cat", "/tmp/mark"])).stdout === "detached\n",
    );

    await ok(root, ["pause", "stubborn"]);
    assert.match(await ok(root, ["ps"]), /\(Paused\)\s+stubborn/);
    assert.equal((await run(root, ["exec", "stubborn", "true"])).code, 125);
    await ok(root, ["unpause", "stubborn"]);
    await ok(root, ["rename", "stubborn", "mule"]);
    assert.equal((await run(root, ["rename", "mule", "bad name"])).code, 1);

    assert.equal(await ok(root, ["stop", "-t", "1", "mule"]), "mule\n");
    const stopped = await inspect(root, "mule");
    assert.equal(stopped.status, "exited");
    assert.equal(stopped.exit_code, 137, "SIGTERM was ignored: SIGKILL ended it");
    assert.equal(await ok(root, ["wait", "mule"]), "137\n");

    await ok(root, ["restart", "-t", "0", "mule"]);
    assert.equal((await inspect(root, "mule")).status, "running");
    await ok(root, ["kill", "mule"]);
    assert.equal(await ok(root, ["wait", "mule"]), "137\n");
    // PID 1 takes only signals it handles: this one exits 7 on SIGUSR1.
    const usr1 = 'trap "exit 7" USR1; while true; do sleep 1; done';
    await ok(root, ["run", "-d", "--name", "usr1", "busybox:test", "sh", "-c", usr1]);
    await ok(root, ["kill", "-s", "USR1", "usr1"]);
    assert.equal(await ok(root, ["wait", "usr1"]), "7\n");
    assert.equal((await run(root, ["kill", "mule"])).code, 1, "nothing to kill");
    assert.equal((await run(root, ["top", "mule"])).code, 1);
  },
);

imageTest(
  "logs keep stdout and stderr apart, foreground runs too; --tail, --since, -t, -f",
  ignore,
  async (root) => {
    const fg = await run(root, [
      "run",
      "--name",
      "fg",
      "busybox:test",
      "sh",
      "-c",
      // The two streams are copied concurrently: the pause makes "three" the last entry.
      "echo one; echo two >&2; sleep 0.3; echo three",
    ]);
    assert.equal(fg.stdout, "one\nthree\n", "the terminal still gets the output");
    assert.equal(fg.stderr, "two\n");
    const logs = await run(root, ["logs", "fg"]);
    assert.equal(logs.stdout, "one\nthree\n");
    assert.equal(logs.stderr, "two\n");
    assert.equal(await ok(root, ["logs", "--tail", "1", "fg"]), "three\n");
    assert.equal(await ok(root, ["logs", "--since", "2999-01-01T00:00:00Z", "fg"]), "");
    assert.match(
      await ok(root, ["logs", "-t", "fg"]),
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00 one\n/,
    );
    await ok(root, [
      "run",
      "-d",
      "--name",
      "bg",
      "busybox:test",
      "sh",
      "-c",
      "echo a; sleep 1; echo b",
    ]);
    assert.equal(
      await ok(root, ["logs", "-f", "bg"]),
      "a\nb\n",
      "-f follows until the container stops",
    );
  },
);

Deno.test({
  name:
    "run pulls a missing image from a registry on 127.0.0.1 (--pull missing); a failed pull is 125 with its reason",
  ignore: ignore || !have("docker-registry"),
  sanitizeResources: false,
  fn: withTempDir(async ({ dir, root: source }) => {
    await using registry = await startRegistry(dir);
    await busyboxImage(dir, source);
    await ok(source, ["push", "busybox:test", `${registry.host}/bb:1`]);
    const root = join(dir, "fresh");
    const r = await run(root, ["run", "--rm", `${registry.host}/bb:1`, "echo", "pulled"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "pulled\n");
    assert.match(r.stderr, new RegExp(`^Unable to find image '${registry.host}/bb:1' locally\n`));
    assert.equal(
      (await run(root, ["run", "--rm", "--pull", "never", `${registry.host}/bb:1`, "true"])).code,
      0,
    );
    const gone = await run(root, ["run", "--rm", `${registry.host}/nope:1`, "true"]);
    assert.equal(gone.code, 125);
    assert.match(gone.stderr, /MANIFEST_UNKNOWN|not found|unknown/i);
    const always = await run(root, [
      "run",
      "--rm",
      "--pull",
      "always",
      `${registry.host}/bb:1`,
      "true",
    ]);
    assert.equal(always.code, 0, always.stderr);
  }),
});

/** The IDs `runc list` (servin's runc root, runc's default) knows. */
async function runcIds(): Promise<string[]> {
  const out = await new Deno.Command("runc", { args: ["list", "-q"], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).trim().split("\n").filter(Boolean);
}

imageTest(
  "exec -i passes stdin, -t gives a terminal (under script), and the process's exit code",
  ignore || !have("script"),
  async (root) => {
    await ok(root, ["run", "-d", "--name", "svc", "busybox:test", "sleep", "300"]);
    const data = new TextEncoder().encode("data from stdin\n");
    assert.equal(
      await ok(root, ["exec", "-i", "svc", "cat"], { stdin: data }),
      "data from stdin\n",
    );
    assert.equal(
      await ok(root, ["exec", "svc", "cat"], { stdin: data }),
      "",
      "without -i the process's stdin is empty",
    );
    const main = new URL("../main.ts", import.meta.url).pathname;
    // util-linux `script` gives servin a pseudo-terminal, which exec -t passes on as a new one.
    const tty = await new Deno.Command("script", {
      args: [
        "-qec",
        `${Deno.execPath()} run -A ${main} exec -it svc sh -c 'tty; echo "TERM=$TERM"; exit 5'`,
        "/dev/null",
      ],
      env: { SERVIN_ROOT: root, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(tty.stdout);
    // Under load a trailing `^@` (an echoed NUL), with or without a line end after it, was seen
    // after the output: script's terminal echoing as its own stdin ends. What is checked is the
    // tty and TERM, and that nothing but that echo follows them.
    assert.match(text, /\/dev\/pts\/\d+\r?\nTERM=xterm\r?\n(?:\^@|\r|\n)*$/, JSON.stringify(text));
    assert.equal(tty.code, 5, "the process's exit code, through script");
    const noTty = await run(root, ["exec", "-t", "svc", "sh", "-c", "tty; exit 0"]);
    assert.equal(noTty.stderr, "the input device is not a TTY\n");
    assert.equal(noTty.stdout, "not a tty\n");
  },
);

imageTest(
  "a container whose supervisor died is still managed: ps, exec, stop, kill and rm -f act on the runtime's container",
  ignore,
  async (root) => {
    const names = ["stopped", "killed", "removed", "exits"];
    const ids: Record<string, string> = {};
    for (const name of names) {
      // Bounded by the test's own cleanup: `rm -f` ends it whatever happens.
      const script = name === "exits"
        ? "while ! test -e /tmp/go; do sleep 0.1; done; exit 3"
        : "sleep 300";
      ids[name] =
        (await ok(root, ["run", "-d", "--name", name, "busybox:test", "sh", "-c", script]))
          .trim();
      const c = await inspect(root, name);
      const conmon = Number(await Deno.readTextFile(join(c.bundle, "conmon.pid")));
      Deno.kill(conmon, "SIGKILL");
      await until(`the supervisor of ${name} is gone`, async () => {
        const stat = await Deno.readTextFile(`/proc/${conmon}/stat`).catch(() => "");
        return stat === "" || / Z /.test(stat);
      });
    }
    const ps = await ok(root, ["ps", "--format", "{{.Names}} {{.Status}}"]);
    for (const name of names) assert.match(ps, new RegExp(`^${name} Up`, "m"), ps);
    assert.equal(await ok(root, ["exec", "stopped", "echo", "alive"]), "alive\n");

    await ok(root, ["stop", "-t", "1", "stopped"]);
    assert.equal((await inspect(root, "stopped")).exit_code, 137);
    await ok(root, ["kill", "killed"]);
    const killed = await inspect(root, "killed");
    assert.equal(killed.status, "exited");
    assert.equal(killed.exit_code, 137);
    await ok(root, ["rm", "-f", "removed"]);
    assert.ok(!(await ok(root, ["ps", "-aq", "--no-trunc"])).includes(ids.removed!));

    // The process ends on its own after its supervisor died: recorded at the next look.
    await ok(root, ["exec", "exits", "sh", "-c", "echo go > /tmp/go"]);
    await until("the orphaned process is seen to exit", async () => {
      return (await inspect(root, "exits")).status === "exited";
    });
    const exited = await inspect(root, "exits");
    assert.equal(exited.exit_code, 255, "its code went with its supervisor: Docker's 255");
    const index = JSON.parse(await Deno.readTextFile(join(root, "containers", "index.json")));
    const records = (Array.isArray(index) ? index : index.containers) as {
      id: string;
      status: string;
    }[];
    assert.equal(records.find((r) => r.id === ids.exits)?.status, "exited", "recorded");

    const left = await runcIds();
    for (const name of names) assert.ok(!left.includes(ids[name]!), `${name} left in runc`);
    assert.deepEqual(mountsUnder(root), []);
  },
);

imageTest(
  "--restart: on-failure:N restarts N times (RestartCount); stop and kill are not undone by always or unless-stopped; -d --rm removes at exit",
  ignore,
  async (root) => {
    await ok(root, [
      "run",
      "-d",
      "--name",
      "flaky",
      "--restart",
      "on-failure:3",
      "busybox:test",
      "sh",
      "-c",
      "echo run; exit 2",
    ]);
    await until("flaky was restarted 3 times and left stopped", async () => {
      const c = await inspect(root, "flaky");
      return c.status === "exited" && c.restart_count === 3;
    });
    assert.equal(await ok(root, ["logs", "flaky"]), "run\nrun\nrun\nrun\n");
    assert.equal(
      await ok(root, [
        "container",
        "inspect",
        "-f",
        "{{.RestartCount}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.State.ExitCode}}",
        "flaky",
      ]),
      "3 on-failure 3 2\n",
    );
    // A clean exit is not a failure.
    await ok(root, ["run", "-d", "--name", "clean", "--restart", "on-failure", "busybox:test"]);
    assert.equal(await ok(root, ["wait", "clean"]), "0\n");
    assert.equal((await inspect(root, "clean")).restart_count, 0);

    for (const policy of ["always", "unless-stopped"]) {
      // Restarted after exits of its own, whatever the code…
      await ok(root, [
        "run",
        "-d",
        "--name",
        policy,
        "--restart",
        policy,
        "busybox:test",
        "sh",
        "-c",
        "test -e /tmp/again && exec sleep 300; touch /tmp/again; exit 0",
      ]);
      await until(`${policy} was restarted`, async () => {
        const c = await inspect(root, policy);
        return c.status === "running" && c.restart_count === 1;
      });
      // …but not after a stop or a kill asked for.
      await ok(root, ["stop", "-t", "0", policy]);
      await ok(root, ["start", policy]);
      await ok(root, ["kill", policy]);
      await until(`${policy}'s supervisor recorded the kill`, async () => {
        const c = await inspect(root, policy);
        return c.status === "exited" && c.exit_code === 137;
      });
      await new Promise((r) => setTimeout(r, 1000)); // what a restart would take (100 ms back-off)
      const c = await inspect(root, policy);
      assert.equal(c.status, "exited", `${policy} stays stopped`);
      assert.equal(c.restart_count, 1);
    }

    const id = (await ok(root, ["run", "-d", "--rm", "busybox:test", "true"])).trim();
    await until(
      "the --rm container is gone",
      async () => !(await ok(root, ["ps", "-aq", "--no-trunc"])).includes(id),
    );
    assert.equal(
      (await run(root, ["run", "-d", "--rm", "--restart", "always", "busybox:test"])).code,
      125,
    );
    await ok(root, ["rm", "-f", "flaky", "clean", "always", "unless-stopped"]);
    assert.deepEqual(mountsUnder(root), []);
  },
);
