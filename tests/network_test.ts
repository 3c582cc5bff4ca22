/**
 * Container networks end to end: real runc, the real CNI plugins, real
 * iptables. Every address a test talks to is on loopback or in a network
 * namespace the test made; every wait is bounded. Reported as ignored (not
 * passed) without root, runc, conmon, busybox or the CNI plugins.
 */

import assert from "node:assert/strict";
import { chownSync } from "node:fs";
import { join } from "node:path";
import { withImage } from "./_busybox.ts";
import { ok, run, withTempDir, writeFiles } from "./_cli.ts";
import { have, pathOf, sh } from "./_layout.ts";

const CNI = ["bridge", "host-local", "portmap", "firewall"];
const cniMissing = !["/usr/lib/cni", "/usr/libexec/cni", "/opt/cni/bin"].some((d) =>
  CNI.every((p) => {
    try {
      return Deno.statSync(join(d, p)).isFile;
    } catch {
      return false;
    }
  })
);
const ignore = Deno.uid() !== 0 || !have("runc") || !have("conmon") || !have("busybox") ||
  !have("iptables") || cniMissing;
if (ignore) {
  console.error(
    "network_test: ignored: needs root, runc, conmon, busybox, iptables and the CNI plugins",
  );
}

const PAGE = "hello from the container\n";
const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** Adds the network applets and a web root to the busybox tree, imported as `net:test` (EXPOSE 80). */
async function netImage(root: string, dir: string): Promise<void> {
  const tree = join(dir, "bb");
  for (const applet of ["httpd", "wget", "ping", "nc", "ip"]) {
    await Deno.symlink("busybox", join(tree, "bin", applet)).catch(() => {});
  }
  await Deno.mkdir(join(tree, "www"), { recursive: true });
  await Deno.writeTextFile(join(tree, "www", "index.html"), PAGE);
  const tarball = join(dir, "net.tar");
  await sh("tar", ...["-C", tree, "-cf", tarball, "."]);
  await ok(root, ["image", "import", "-c", "EXPOSE 80", tarball, "net:test"]);
}

/** A TCP port the kernel says is free on 127.0.0.1. */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** GETs `url`, retrying while the server comes up: 50 tries, each bounded to 2 s. */
async function fetchText(url: string): Promise<string> {
  let last: unknown;
  for (let i = 0; i < 50; i++) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      return await res.text();
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`GET ${url} failed: ${last}`);
}

/** What a running container holds on the host: its IP, its host-side veth. */
async function footprint(root: string, name: string) {
  const id = (await ok(root, ["inspect", "-f", "{{.Id}}", name])).trim();
  const ip = (await ok(root, ["inspect", "-f", "{{.NetworkSettings.IPAddress}}", name])).trim();
  assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/, `${name} has an address`);
  const peer = (await ok(root, ["exec", name, "cat", "/sys/class/net/eth0/iflink"])).trim();
  const line = (await sh("ip", ...["-o", "link", "show"])).split("\n")
    .find((l) => l.startsWith(`${peer}:`));
  const veth = /^\d+: ([^@:]+)/.exec(line ?? "")?.[1];
  assert.ok(veth?.startsWith("veth"), `found ${name}'s veth on the host: ${line}`);
  assert.ok(Deno.statSync(`/run/servin/netns/${id}`).isFile, "its namespace is mounted");
  return { id, ip, veth: veth! };
}

/** Nothing of the container is left: runc, veth, iptables rules, IPAM lease, namespace, endpoint. */
async function assertGone(root: string, f: { id: string; ip: string; veth: string }) {
  assert.ok(!(await sh("runc", ...["list", "-q"])).includes(f.id), "runc list no longer has it");
  const links = (await sh("ip", ...["-o", "link", "show"])).split("\n").map((l) => l.split(":")[1]);
  assert.ok(!links.some((l) => l?.trim().startsWith(f.veth)), `veth ${f.veth} is gone`);
  const rules = (await sh("iptables-save")).split("\n")
    .filter((l) => l.includes(f.id) || l.includes(`${f.ip}/32`) || l.includes(`${f.ip}:`));
  assert.deepEqual(rules, [], "no iptables rule mentions it");
  const ipam = join(root, "networks", "ipam");
  for (const net of await Array.fromAsync(Deno.readDir(ipam)).catch(() => [])) {
    const leases = await Array.fromAsync(Deno.readDir(join(ipam, net.name)));
    assert.ok(!leases.some((l) => l.name === f.ip), `no lease of ${f.ip} in ${net.name}`);
    for (const l of leases) {
      const text = await Deno.readTextFile(join(ipam, net.name, l.name)).catch(() => "");
      assert.ok(!text.includes(f.id), `lease ${l.name} is not its`);
    }
  }
  assert.throws(() => Deno.statSync(`/run/servin/netns/${f.id}`), "its namespace is gone");
  assert.throws(() => Deno.statSync(join(root, "networks", "endpoints", `${f.id}.json`)));
}

Deno.test({
  name:
    "-p publishes a container port on 127.0.0.1; -P the image's; port, ps and inspect show them",
  ignore,
  fn: withImage(async (root, dir) => {
    await netImage(root, dir);
    const port = freePort();
    const httpd = ["httpd", "-f", "-p", "80", "-h", "/www"];
    await ok(root, [
      "run",
      "-d",
      "--name",
      "web",
      "-p",
      `127.0.0.1:${port}:80`,
      "net:test",
      ...httpd,
    ]);
    assert.equal(await fetchText(`http://127.0.0.1:${port}/`), PAGE);
    assert.equal((await ok(root, ["port", "web", "80"])).trim(), `127.0.0.1:${port}`);
    assert.match(
      await ok(root, ["ps", "--format", "{{.Names}} {{.Ports}}"]),
      new RegExp(`^web 127\\.0\\.0\\.1:${port}->80/tcp$`, "m"),
    );
    const web = await footprint(root, "web");
    const taken = await run(root, ["run", "--rm", "-p", `${port}:80`, "net:test", "true"]);
    assert.equal(taken.code, 125);
    assert.match(taken.stderr, /port is already allocated \(container web\)\n$/);
    const settings = JSON.parse(
      await ok(root, ["inspect", "-f", "{{json .NetworkSettings}}", "web"]),
    );
    assert.equal(settings.IPAddress, web.ip);
    assert.match(settings.Gateway, /^\d+\.\d+\.\d+\.1$/);
    assert.match(settings.MacAddress, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    assert.deepEqual(settings.Ports, {
      "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(port) }],
    });
    assert.equal(settings.Networks.bridge.IPAddress, web.ip);

    await ok(root, ["run", "-d", "--name", "all", "-P", "net:test", ...httpd]);
    const line = (await ok(root, ["port", "all"])).trim();
    const m = /^80\/tcp -> 0\.0\.0\.0:(\d+)$/.exec(line);
    assert.ok(m, `port lists the image's exposed port: ${line}`);
    assert.equal(await fetchText(`http://127.0.0.1:${m[1]}/`), PAGE);
    const missing = await run(root, ["port", "all", "81/udp"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No public port '81\/udp'/);

    const all = await footprint(root, "all");
    await ok(root, ["rm", "-f", "web", "all"]);
    await assertGone(root, web);
    await assertGone(root, all);
    const refused = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) })
      .then(() => "answered", () => "refused");
    assert.equal(refused, "refused", "the published port is gone with the container");
  }),
});

Deno.test({
  name: "containers on a user network reach each other by name; network ls, inspect, rm, prune",
  ignore,
  fn: withImage(async (root, dir) => {
    await netImage(root, dir);
    const netId = (await ok(root, ["network", "create", "app"])).trim();
    assert.match(netId, /^[0-9a-f]{64}$/);
    try {
      assert.deepEqual(
        (await ok(root, ["network", "ls", "--format", "{{.Name}} {{.Driver}}"])).trim().split("\n"),
        ["bridge bridge", "app bridge"],
      );
      assert.ok((await ok(root, ["network", "ls", "-q"])).includes(netId.slice(0, 12)));
      await ok(root, [
        "run",
        "-d",
        "--name",
        "alpha",
        "--network",
        "app",
        "net:test",
        "httpd",
        "-f",
        "-h",
        "/www",
      ]);
      const alpha = await footprint(root, "alpha");
      const script = "wget -qO- http://alpha/ && ping -c1 -W2 alpha >/dev/null && " +
        "grep -c alpha /etc/hosts";
      const beta = await ok(root, [
        "run",
        "--rm",
        "--name",
        "beta",
        "--network",
        "app",
        "net:test",
        "sh",
        "-c",
        script,
      ]);
      assert.equal(beta, `${PAGE}1\n`);
      // beta's line went from alpha's hosts file when it stopped.
      assert.doesNotMatch(await ok(root, ["exec", "alpha", "cat", "/etc/hosts"]), /\tbeta\t/);
      const inspected = JSON.parse(await ok(root, ["network", "inspect", "app"]));
      assert.equal(inspected[0].Name, "app");
      assert.equal(
        inspected[0].Containers[alpha.id].IPv4Address.split("/")[0],
        alpha.ip,
      );
      const busy = await run(root, ["network", "rm", "app"]);
      assert.equal(busy.code, 1);
      assert.match(busy.stderr, /^servin: Network app is in use by container alpha/);
      await ok(root, ["rm", "-f", "alpha"]);
      await assertGone(root, alpha);
      const builtIn = await run(root, ["network", "rm", "bridge"]);
      assert.equal(builtIn.code, 1);
      assert.equal((await ok(root, ["network", "prune", "-f"])).trim(), "Deleted Networks:\napp");
      assert.deepEqual(
        (await ok(root, ["network", "ls", "--format", "{{.Name}}"])).trim(),
        "bridge",
      );
    } finally {
      await run(root, ["rm", "-f", "alpha"]);
      await run(root, ["network", "rm", "app"]);
    }
  }),
});

Deno.test({
  name: "outbound traffic leaves through the host, masqueraded (to a namespace the test made)",
  ignore,
  fn: withImage(async (root, dir) => {
    await netImage(root, dir);
    // A /30 of TEST-NET-2 between the host and a namespace of the test's own.
    const k = Math.floor(Math.random() * 64);
    const hostIp = `198.51.100.${4 * k + 1}`;
    const farIp = `198.51.100.${4 * k + 2}`;
    const ns = `servin-test-${crypto.randomUUID().slice(0, 8)}`;
    const veth = `svt${ns.slice(-8)}`;
    const cgi = join(dir, "far", "cgi-bin");
    await Deno.mkdir(cgi, { recursive: true });
    await Deno.writeTextFile(
      join(cgi, "peer"),
      '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%s\\n" "$REMOTE_ADDR"\n',
      { mode: 0o755 },
    );
    let server: Deno.ChildProcess | undefined;
    try {
      await sh("ip", ...["netns", "add", ns]);
      await sh("ip", ...["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns]);
      await sh("ip", ...["addr", "add", `${hostIp}/30`, "dev", veth]);
      await sh("ip", ...["link", "set", veth, "up"]);
      await sh("ip", ...["-n", ns, "addr", "add", `${farIp}/30`, "dev", "eth0"]);
      await sh("ip", ...["-n", ns, "link", "set", "eth0", "up"]);
      await sh("ip", ...["-n", ns, "link", "set", "lo", "up"]);
      // No route back to the containers' subnet: only a masqueraded request gets an answer.
      server = new Deno.Command("ip", {
        args: [
          "netns",
          "exec",
          ns,
          pathOf("busybox"),
          "httpd",
          "-f",
          "-p",
          `${farIp}:80`,
          "-h",
          join(dir, "far"),
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      // busybox nc -w bounds each try to 2 s (its wget -T crashes); 10 tries while httpd starts.
      const get = `printf 'GET /cgi-bin/peer HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${farIp} 80`;
      const script = `for i in 1 2 3 4 5 6 7 8 9 10; do ` +
        `out=$(${get}) && [ -n "$out" ] && echo "$out" | tail -n 1 && exit 0; sleep 0.2; done; exit 1`;
      const seen = await ok(root, ["run", "--rm", "net:test", "sh", "-c", script]);
      assert.equal(
        seen.trim(),
        hostIp,
        "the far side sees the host's address, not the container's",
      );
    } finally {
      try {
        server?.kill("SIGKILL");
        await server?.status;
      } catch { /* already gone */ }
      await sh("ip", ...["netns", "del", ns]).catch(() => {});
      await sh("ip", ...["link", "del", veth]).catch(() => {});
    }
  }),
});

Deno.test({
  name:
    "teardown is exact after rm -f, stop, an exit, a killed supervisor (system check, rm), a stray lease",
  ignore,
  fn: withImage(async (root) => {
    const sleep = ["busybox:test", "sleep", "300"];
    await ok(root, ["run", "-d", "--name", "forced", ...sleep]);
    const forced = await footprint(root, "forced");
    await ok(root, ["rm", "-f", "forced"]);
    await assertGone(root, forced);

    await ok(root, ["run", "-d", "--name", "stopped", ...sleep]);
    const stopped = await footprint(root, "stopped");
    await ok(root, ["stop", "-t", "1", "stopped"]);
    await assertGone(root, stopped);
    // Started again, it gets a network again; rm -f takes it.
    await ok(root, ["start", "stopped"]);
    const again = await footprint(root, "stopped");
    await ok(root, ["rm", "-f", "stopped"]);
    await assertGone(root, again);

    // A process that exits by itself: its supervisor's exit command tears the network down.
    await ok(root, ["run", "-d", "--name", "brief", "busybox:test", "sleep", "3"]);
    const brief = await footprint(root, "brief");
    const endpoint = join(root, "networks", "endpoints", `${brief.id}.json`);
    for (let i = 0; i < 150 && await Deno.lstat(endpoint).then(() => true, () => false); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await assertGone(root, brief);

    await ok(root, ["run", "-d", "--name", "orphan", ...sleep]);
    const orphan = await footprint(root, "orphan");
    const bundle = join(root, "containers", orphan.id);
    Deno.kill(Number(await Deno.readTextFile(join(bundle, "conmon.pid"))), "SIGKILL");
    await sh("runc", ...["kill", orphan.id, "KILL"]);
    // Bounded: the process is gone within 10 s of its SIGKILL. Asked of runc, not of `ps`,
    // which would record the exit (and tear the network down) itself.
    const exited = async () =>
      JSON.parse(await sh("runc", ...["state", orphan.id])).status === "stopped";
    for (let i = 0; i < 100 && !(await exited()); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const check = await run(root, ["system", "check"]);
    assert.equal(check.code, 1);
    assert.match(check.stdout, /network leftover of stopped container .*: its network endpoint/);
    const repair = await run(root, ["system", "check", "--repair"]);
    assert.equal(repair.code, 0, repair.stdout + repair.stderr);
    assert.match(repair.stdout, /; released it$/m);
    assert.equal((await run(root, ["system", "check"])).code, 0);
    await ok(root, ["rm", "orphan"]);
    await assertGone(root, orphan);

    // Without the repair, rm alone tears it down.
    await ok(root, ["run", "-d", "--name", "orphan2", ...sleep]);
    const orphan2 = await footprint(root, "orphan2");
    const bundle2 = join(root, "containers", orphan2.id);
    Deno.kill(Number(await Deno.readTextFile(join(bundle2, "conmon.pid"))), "SIGKILL");
    await ok(root, ["rm", "-f", "orphan2"]);
    await assertGone(root, orphan2);

    // An address lease of a container that does not exist (a crash between ADD and the record).
    const subnet = JSON.parse(await ok(root, ["network", "inspect", "bridge"]))[0].subnet;
    const ghost = "f".repeat(64);
    const leaseIp = subnet.replace(/\.0\/24$/, ".250");
    const lease = join(root, "networks", "ipam", "bridge", leaseIp);
    await Deno.writeTextFile(lease, `${ghost}\r\neth0`);
    const found = await run(root, ["system", "check"]);
    assert.equal(found.code, 1);
    assert.match(
      found.stdout,
      new RegExp(`container that does not exist ${ghost.slice(0, 12)}: its address ${leaseIp}`),
    );
    assert.equal((await run(root, ["system", "check", "--repair"])).code, 0);
    assert.throws(() => Deno.statSync(lease), "the lease was released (CNI DEL)");
    assert.equal((await run(root, ["system", "check"])).code, 0);
  }),
});

Deno.test({
  name:
    "network errors are one line: unknown network, bad -p, bad subnet, overlap, duplicate, no CNI plugins",
  ignore,
  fn: withImage(async (root) => {
    const unknown = await run(root, ["run", "--rm", "--network", "nosuch", "busybox:test", "true"]);
    assert.equal(unknown.code, 125);
    assert.equal(unknown.stderr, "servin: No such network: nosuch\n");
    const badPort = await run(root, ["create", "-p", "80:70000", "busybox:test", "true"]);
    assert.equal(badPort.code, 125);
    assert.match(badPort.stderr, /^servin: Invalid --publish "80:70000": ports are 1 to 65535/);
    const badSubnet = await run(root, ["network", "create", "--subnet", "10.1.2.3", "n1"]);
    assert.equal(badSubnet.code, 1);
    assert.match(badSubnet.stderr, /^servin: Invalid --subnet "10.1.2.3"/);
    await ok(root, ["network", "create", "--subnet", "10.123.45.0/24", "n1"]);
    const overlap = await run(root, ["network", "create", "--subnet", "10.123.0.0/16", "n2"]);
    assert.equal(overlap.code, 1);
    assert.match(overlap.stderr, /overlaps network n1/);
    const twice = await run(root, ["network", "create", "n1"]);
    assert.equal(twice.code, 1);
    assert.equal(twice.stderr, "servin: Network n1 already exists\n");
    assert.equal((await ok(root, ["network", "rm", "n1"])).trim(), "n1");
    // No container was made by the failures.
    assert.equal(await ok(root, ["ps", "-aq"]), "");
    // Without the CNI plugins (hidden in a mount namespace of the test's), one line names them.
    const cniDirs = ["/usr/lib/cni", "/usr/libexec/cni", "/opt/cni/bin"].filter((d) => {
      try {
        return Deno.statSync(d).isDirectory;
      } catch {
        return false;
      }
    });
    const hidden = async (args: string[]) => {
      const mounts = cniDirs.map((d) => `mount -t tmpfs tmpfs ${d}`).join(" && ");
      const out = await new Deno.Command("unshare", {
        args: ["-m", "--propagation", "private", "sh", "-c", `${mounts} && exec "$@"`, "sh"]
          .concat([Deno.execPath(), "run", "-A", MAIN, ...args]),
        env: { SERVIN_ROOT: root, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder();
      return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
    };
    const noCni = await hidden(["run", "--rm", "busybox:test", "true"]);
    assert.equal(noCni.code, 125);
    assert.match(
      noCni.stderr,
      /^servin: Container networks need the CNI plugins bridge, host-local, portmap, firewall in .*containernetworking-plugins.*use --network none\n$/,
    );
    const noneStill = await hidden(["run", "--rm", "--network", "none", "busybox:test", "true"]);
    assert.equal(noneStill.code, 0, noneStill.stderr);
    // --network none runs without any of it.
    const none = await run(root, [
      "run",
      "--rm",
      "--network",
      "none",
      "busybox:test",
      "cat",
      "/proc/net/dev",
    ]);
    assert.equal(none.code, 0, none.stderr);
    assert.doesNotMatch(none.stdout, /eth0/);
  }),
});

Deno.test({
  name: "without root, a container network is a one-line error (125); none is the default",
  ignore: Deno.uid() !== 0, // root is needed to switch to nobody
  fn: withTempDir(async ({ dir }) => {
    const nobody = 65534;
    await Deno.chmod(dir, 0o755);
    const home = join(dir, "home");
    await Deno.mkdir(home);
    chownSync(home, nobody, nobody);
    const as = {
      as: nobody,
      env: { HOME: home, DENO_DIR: join(home, ".deno"), XDG_DATA_HOME: join(home, ".local") },
    };
    const root = join(home, "root");
    const bridge = await run(root, [
      "create",
      "--pull",
      "never",
      "--fallback",
      "--network",
      "bridge",
      "x:1",
      "true",
    ], as);
    assert.equal(bridge.code, 125);
    assert.match(bridge.stderr, /^servin: Container networks need root .*use --network none\n$/);
    const plain = await run(root, ["create", "--pull", "never", "--fallback", "x:1", "true"], as);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal((await run(root, ["ps", "-a", "--format", "{{.Networks}}"], as)).stdout, "none\n");
  }),
});

Deno.test({
  name: "build --network: RUN steps join a user network, the default one or none; " +
    "an unknown network fails before the first step",
  ignore,
  fn: withImage(async (root, dir) => {
    await netImage(root, dir);
    // Each RUN records the IPv4 addresses it sees (loopback's too).
    const ctx = await writeFiles(join(dir, "ctx"), {
      "Containerfile": "FROM net:test\nRUN ip -4 -o addr show > /addresses\n",
    });
    await ok(root, ["network", "create", "builders"]);
    try {
      const subnet: string = JSON.parse(await ok(root, ["network", "inspect", "builders"]))[0]
        .subnet;
      const prefix = subnet.replace(/0\/24$/, "");
      const seen = async (network: string) => {
        const tag = `seen:${network}`;
        await ok(root, ["build", "-q", "--no-cache", "--network", network, "-t", tag, ctx]);
        return await ok(root, ["run", "--rm", "--network", "none", tag, "cat", "/addresses"]);
      };
      const onBuilders = await seen("builders");
      assert.ok(onBuilders.includes(`inet ${prefix}`), onBuilders);
      const onDefault = await seen("default");
      assert.match(onDefault, /eth0\s+inet 10\.89\./);
      assert.ok(!onDefault.includes(`inet ${prefix}`), onDefault);
      assert.doesNotMatch(await seen("none"), /eth0/);
      // The build's containers are gone, so is their place on the network.
      assert.equal((await ok(root, ["ps", "-a", "-q"])).trim(), "");
      const before = await ok(root, ["images", "-a", "-q", "--no-trunc"]);
      const unknown = await run(root, ["build", "--network", "nosuch", "-t", "never", ctx]);
      assert.equal(unknown.code, 1);
      assert.equal(unknown.stderr, "servin: No such network: nosuch\n");
      assert.equal(await ok(root, ["images", "-a", "-q", "--no-trunc"]), before);
      await ok(root, ["network", "rm", "builders"]);
    } finally {
      await run(root, ["network", "rm", "builders"]);
    }
  }),
});
