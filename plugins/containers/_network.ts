/**
 * Container networks through the standard CNI plugins (bridge, host-local,
 * portmap, firewall), called directly with the CNI protocol: the
 * command in `CNI_COMMAND`, the network config on stdin, the result on
 * stdout. Each container gets a network namespace bind-mounted at
 * `/run/servin/netns/<id>`, which the runtime joins through the spec.
 *
 * State stays under the root: `<root>/networks/networks.json` (the
 * networks), `<name>.conflist` (their CNI configs, as written for people to
 * read), `ipam/` (host-local's leases), `endpoints/<id>.json` (what a
 * container's ADD gave, so that its DEL can be exact).
 *
 * Bridges are made when a network's first container starts and deleted when
 * its last one stops, each marked as this root's (its interface alias), so
 * that several roots on one host never share a bridge or a subnet.
 *
 * @module
 */

import { join } from "node:path";
import type { NetworkEndpoint, NetworkRecord } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import { which } from "../platform/_common.ts";
import { atomicWrite, IndexFile, lockExclusive, pathExists } from "../storage/fs.ts";
import { checkContainerName, newContainerId } from "./model.ts";

/** Where network namespaces are bind-mounted (one file per container ID). */
export const NETNS_DIR = "/run/servin/netns";
/** Taken while a bridge and its subnet are chosen: shared by every root on the host. */
const HOST_LOCK = "/run/servin/network.lock";
const CNI_DIRS = ["/usr/lib/cni", "/usr/libexec/cni", "/opt/cni/bin"];
const PLUGINS = ["bridge", "host-local", "portmap", "firewall"];
/** The network containers join unless told otherwise. */
export const DEFAULT_NETWORK = "bridge";
const CNI_VERSION = "1.0.0";
const IFNAME = "eth0";
/** Subnets chosen for networks: 10.89.K.0/24, the first K that nothing on the host routes. */
const AUTO_BASE = [10, 89];

/** A network as stored: `auto` when Servin chose its subnet (it may choose again). */
interface StoredNetwork extends NetworkRecord {
  auto?: boolean;
}

/** A published port, resolved (`host_port` 0: choose a free one at start). */
export type PortMapping = NetworkEndpoint["ports"][number];

/** What a container's ADD gave, kept until its DEL. */
interface EndpointFile {
  id: string;
  name: string;
  network: string;
  bridge: string;
  netns: string;
  hosts: string;
  ports: PortMapping[];
  result?: CniResult;
}

interface CniResult {
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { interface?: number; address: string; gateway?: string }[];
  [key: string]: unknown;
}

/** What the network code needs of a container. */
export interface Attachable {
  id: string;
  name: string;
  network: string;
  bundle: string;
  host?: { publish?: string[] };
}

/** True when the container joins a network of ours (not `none`, not `host`). */
export function joinsNetwork(network: string): boolean {
  return network !== "none" && network !== "host";
}

/** The netns file of container `id`. */
export function netnsPath(id: string): string {
  return join(NETNS_DIR, id);
}

/** The default network for containers made by this process: `bridge` as root on Linux. */
export function defaultNetwork(): string {
  return Deno.build.os === "linux" && Deno.uid() === 0 ? DEFAULT_NETWORK : "none";
}

/** The CNI plugin directory, or a one-line error naming what is missing. */
function requirements(): string {
  if (Deno.build.os !== "linux") {
    throw new ServinError("unsupported", "Container networks need Linux: use --network none");
  }
  if (Deno.uid() !== 0) {
    throw new ServinError(
      "unsupported",
      "Container networks need root (rootless networking is not supported): use --network none",
    );
  }
  const dir = CNI_DIRS.find((d) => PLUGINS.every((p) => pathExists(join(d, p))));
  if (!dir) {
    const missing = PLUGINS.filter((p) => !CNI_DIRS.some((d) => pathExists(join(d, p))));
    throw new ServinError(
      "unsupported",
      `Container networks need the CNI plugins ${missing.join(", ")} in ${
        CNI_DIRS.join(" or ")
      } (Debian package containernetworking-plugins): use --network none`,
    );
  }
  for (const tool of ["iptables", "ip", "unshare", "umount"]) {
    if (!which(tool)) {
      throw new ServinError(
        "unsupported",
        `Container networks need ${tool} (Debian package ${
          tool === "iptables" ? "iptables" : tool === "ip" ? "iproute2" : "util-linux"
        }): use --network none`,
      );
    }
  }
  return dir;
}

/**
 * Docker's `-p [IP:][HOST_PORT:]PORT[/PROTO]`, ranges allowed
 * (`8000-8001:80-81`); a missing host port is 0 (chosen at start).
 */
export function parsePublish(spec: string): PortMapping[] {
  const m =
    /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(?:(\d+(?:-\d+)?)?:)?(\d+(?:-\d+)?)(?:\/(tcp|udp|sctp))?$/
      .exec(spec);
  const bad = (why: string) =>
    new ServinError("invalid-argument", `Invalid --publish "${spec}": ${why}`);
  if (!m) throw bad("expected [IP:][HOST_PORT:]PORT[/tcp|udp]");
  const host_ip = m[1] ?? "";
  if (host_ip && host_ip.split(".").some((o) => Number(o) > 255)) throw bad("invalid IP address");
  const range = (text: string) => {
    const [a, b = a] = text.split("-").map(Number) as [number, number?];
    if (a < 1 || b > 65535 || b < a) throw bad("ports are 1 to 65535, ranges low-high");
    return Array.from({ length: b - a + 1 }, (_, i) => a + i);
  };
  const inside = range(m[3]!);
  const outside = m[2] ? range(m[2]) : inside.map(() => 0);
  if (outside.length !== inside.length) {
    // One host port for a range is Docker's "any of these": keep it simple and exact.
    throw bad("the host and container ranges must have the same length");
  }
  return inside.map((container_port, i) => ({
    host_ip,
    host_port: outside[i]!,
    container_port,
    protocol: m[4] ?? "tcp",
  }));
}

/** A free TCP port on `ip` (any address when empty), from the kernel. */
function freePort(ip: string): number {
  const l = Deno.listen({ hostname: ip || "0.0.0.0", port: 0 });
  try {
    return (l.addr as Deno.NetAddr).port;
  } finally {
    l.close();
  }
}

function ipToInt(ip: string): number {
  return ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

/** `[first address, size]` of an IPv4 CIDR, or a one-line error. */
function parseCidr(cidr: string, flag = "--subnet"): [number, number] {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(cidr);
  const prefix = Number(m?.[2]);
  if (!m || m[1]!.split(".").some((o) => Number(o) > 255) || prefix < 8 || prefix > 30) {
    throw new ServinError(
      "invalid-argument",
      `Invalid ${flag} "${cidr}": expected an IPv4 subnet A.B.C.D/N with N from 8 to 30`,
    );
  }
  const size = 2 ** (32 - prefix);
  const start = ipToInt(m[1]!) - (ipToInt(m[1]!) % size);
  return [start, size];
}

function overlaps(a: [number, number], b: [number, number]): boolean {
  return a[0] < b[0] + b[1] && b[0] < a[0] + a[1];
}

/** IPv4 routes of the host other than the default one, with their interface. */
function hostRoutes(): { iface: string; net: [number, number] }[] {
  let text = "";
  try {
    text = Deno.readTextFileSync("/proc/net/route");
  } catch {
    return [];
  }
  const le = (hex: string) => {
    const n = parseInt(hex, 16);
    return ((n & 0xff) * 2 ** 24) + (((n >>> 8) & 0xff) << 16) + (((n >>> 16) & 0xff) << 8) +
      ((n >>> 24) & 0xff);
  };
  const out = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const mask = le(f[7]!);
    if (mask === 0) continue;
    out.push({ iface: f[0]!, net: [le(f[1]!), 2 ** 32 - mask] as [number, number] });
  }
  return out;
}

/** The lock every root takes while it makes, joins or deletes a bridge. */
async function hostLock(): Promise<Deno.FsFile> {
  await Deno.mkdir("/run/servin", { recursive: true, mode: 0o755 });
  return await lockExclusive(HOST_LOCK);
}

/** The interface alias that marks a bridge as this root's. */
function ownerMark(root: string): string {
  // Without quotes or line breaks: it goes through `ip -batch`.
  return `servin ${root.replace(/["\\\n]/g, "_")}`.slice(0, 255);
}

function aliasOf(iface: string): string | undefined {
  try {
    return Deno.readTextFileSync(`/sys/class/net/${iface}/ifalias`).trim();
  } catch {
    return undefined;
  }
}

async function tool(
  name: string,
  args: string[],
  doing: string,
  input?: string,
): Promise<string> {
  const child = new Deno.Command(name, {
    args,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new ServinError(
      "unsupported",
      `Cannot ${doing}: ${dec.decode(out.stderr).replace(/\s+/g, " ").trim()}`,
    );
  }
  return dec.decode(out.stdout);
}

function checkNetwork(v: unknown, where: string): StoredNetwork {
  const r = v as Partial<StoredNetwork> | null;
  const ok = r && typeof r === "object" &&
    ["name", "id", "driver", "bridge", "subnet", "gateway", "created"].every((k) =>
      typeof (r as Record<string, unknown>)[k] === "string"
    ) && /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(r.name!) && /^[a-z0-9]{1,15}$/.test(r.bridge!);
  if (!ok) throw new ServinError("invalid-argument", `${where}: a network record is damaged`);
  return r as StoredNetwork;
}

/** A line of `/etc/hosts` for a container of the network, marked with its ID. */
function hostsLine(ip: string, name: string, id: string): string {
  return `${ip}\t${name}\t# servin ${id.slice(0, 12)}`;
}

/** The networks of one root, and the endpoints of its containers on them. */
export class Networks {
  #root: string;
  #dir: string;
  #index: IndexFile<StoredNetwork>;

  /** The networks under `<root>/networks/`. */
  constructor(root: string) {
    this.#root = root;
    this.#dir = join(root, "networks");
    this.#index = new IndexFile(
      join(this.#dir, "networks.json"),
      join(this.#dir, "networks.lock"),
      checkNetwork,
    );
  }

  async #prepare(): Promise<void> {
    await Deno.mkdir(join(this.#dir, "endpoints"), { recursive: true, mode: 0o700 });
  }

  /** Runs `fn` on the records, the default network added first when missing. */
  async #transaction<R>(fn: (records: StoredNetwork[]) => R | Promise<R>): Promise<R> {
    await this.#prepare();
    return await this.#index.transaction(async (records) => {
      if (!records.some((n) => n.name === DEFAULT_NETWORK)) {
        records.unshift(this.#make(DEFAULT_NETWORK, records, {}));
      }
      return await fn(records);
    });
  }

  /** Every network, the default one first. */
  async list(): Promise<NetworkRecord[]> {
    return (await this.#stored()).map(publicView);
  }

  /** The stored records, the default network's made first when missing. */
  async #stored(): Promise<StoredNetwork[]> {
    const records = await this.#index.read().catch(() => []);
    if (records.some((n) => n.name === DEFAULT_NETWORK)) return records;
    return await this.#transaction((r) => structuredClone(r));
  }

  /** The network `name` (name, or unique ID prefix). */
  async get(name: string): Promise<NetworkRecord> {
    return publicView(this.#find(await this.list(), name));
  }

  #find(records: readonly StoredNetwork[], name: string): StoredNetwork {
    const found = records.find((n) => n.name === name) ??
      (name.length >= 4 && /^[0-9a-f]+$/.test(name)
        ? (() => {
          const m = records.filter((n) => n.id.startsWith(name));
          return m.length === 1 ? m[0] : undefined;
        })()
        : undefined);
    if (!found) throw new ServinError("not-found", `No such network: ${name}`);
    return found;
  }

  /** A new record (not yet stored): the subnet and bridge name chosen unless given. */
  #make(
    name: string,
    records: readonly StoredNetwork[],
    options: { subnet?: string; gateway?: string },
  ): StoredNetwork {
    let net: [number, number];
    if (options.subnet) {
      net = parseCidr(options.subnet);
      const other = records.find((n) => overlaps(parseCidr(n.subnet), net));
      if (other) {
        throw new ServinError(
          "conflict",
          `Subnet ${options.subnet} overlaps network ${other.name} (${other.subnet})`,
        );
      }
    } else {
      net = this.#freeSubnet(records);
    }
    let gateway = net[0] + 1;
    if (options.gateway) {
      gateway = ipToInt(options.gateway);
      if (
        !/^\d{1,3}(\.\d{1,3}){3}$/.test(options.gateway) || gateway <= net[0] ||
        gateway >= net[0] + net[1] - 1
      ) {
        throw new ServinError(
          "invalid-argument",
          `Invalid --gateway "${options.gateway}": expected an address inside the subnet`,
        );
      }
    }
    return {
      name,
      id: newContainerId(),
      driver: "bridge",
      bridge: this.#freeBridge(records),
      subnet: `${intToIp(net[0])}/${32 - Math.log2(net[1])}`,
      gateway: intToIp(gateway),
      created: new Date().toISOString(),
      ...(options.subnet ? {} : { auto: true }),
    };
  }

  /** The first 10.89.K.0/24 that no network of this root and no route of the host use. */
  #freeSubnet(records: readonly StoredNetwork[], except?: StoredNetwork): [number, number] {
    const taken = [
      ...records.filter((n) => n !== except).map((n) => parseCidr(n.subnet)),
      ...hostRoutes().map((r) => r.net),
    ];
    for (let k = 0; k < 256; k++) {
      const net: [number, number] = [ipToInt(`${AUTO_BASE.join(".")}.${k}.0`), 256];
      if (!taken.some((t) => overlaps(t, net))) return net;
    }
    throw new ServinError("conflict", "No free subnet in 10.89.0.0/16: use --subnet");
  }

  /** `servinN`, the first N that no network of this root and no host interface use. */
  #freeBridge(records: readonly StoredNetwork[], except?: StoredNetwork): string {
    const taken = new Set(records.filter((n) => n !== except).map((n) => n.bridge));
    for (let n = 0; n < 10_000; n++) {
      const name = `servin${n}`;
      if (!taken.has(name) && !pathExists(`/sys/class/net/${name}`)) return name;
    }
    throw new ServinError("conflict", "No free bridge name (servinN)");
  }

  /** Creates a bridge network. */
  async create(
    name: string,
    options: { subnet?: string; gateway?: string } = {},
  ): Promise<NetworkRecord> {
    checkContainerName(name);
    if (["none", "host", DEFAULT_NETWORK].includes(name)) {
      throw new ServinError("already-exists", `Network ${name} already exists (it is built in)`);
    }
    if (options.gateway && !options.subnet) {
      throw new ServinError("invalid-argument", "--gateway needs --subnet");
    }
    return await this.#transaction(async (records) => {
      if (records.some((n) => n.name === name)) {
        throw new ServinError("already-exists", `Network ${name} already exists`);
      }
      const made = this.#make(name, records, options);
      records.push(made);
      await this.#writeConflist(made);
      return publicView(made);
    });
  }

  /** Removes the networks for which `inUse` says no; the default one stays. */
  async remove(
    name: string,
    inUse: (network: string) => string | undefined,
  ): Promise<NetworkRecord> {
    return await this.#transaction(async (records) => {
      const n = this.#find(records, name);
      if (n.name === DEFAULT_NETWORK) {
        throw new ServinError("conflict", `Network ${n.name} is built in: it cannot be removed`);
      }
      const user = inUse(n.name);
      if (user) {
        throw new ServinError(
          "conflict",
          `Network ${n.name} is in use by container ${user}: remove the container first`,
        );
      }
      records.splice(records.indexOf(n), 1);
      await this.#forget(n);
      return publicView(n);
    });
  }

  /** Removes the bridge, config and leases of a network no container uses. */
  async #forget(n: StoredNetwork): Promise<void> {
    if (aliasOf(n.bridge) === ownerMark(this.#root)) {
      await tool("ip", ["link", "del", n.bridge], `delete bridge ${n.bridge}`).catch(() => {});
    }
    await Deno.remove(join(this.#dir, `${n.name}.conflist`)).catch(() => {});
    await Deno.remove(join(this.#dir, "ipam", n.name), { recursive: true }).catch(() => {});
  }

  #conflist(n: StoredNetwork): { name: string; cniVersion: string; plugins: object[] } {
    return {
      cniVersion: CNI_VERSION,
      name: n.name,
      plugins: [
        {
          type: "bridge",
          bridge: n.bridge,
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: n.subnet, gateway: n.gateway }]],
            routes: [{ dst: "0.0.0.0/0" }],
            dataDir: join(this.#dir, "ipam"),
          },
        },
        { type: "portmap", capabilities: { portMappings: true }, snat: true },
        { type: "firewall", backend: "iptables" },
      ],
    };
  }

  async #writeConflist(n: StoredNetwork): Promise<void> {
    await atomicWrite(
      join(this.#dir, `${n.name}.conflist`),
      new TextEncoder().encode(JSON.stringify(this.#conflist(n), null, 2) + "\n"),
    );
  }

  /**
   * The network `name` with its bridge up and marked as this root's: made
   * when missing; an automatic subnet or bridge name that another root took
   * meanwhile is chosen again. The caller holds the host-wide lock.
   */
  async #bridgeUp(name: string): Promise<StoredNetwork> {
    const mark = ownerMark(this.#root);
    const ours = this.#find(await this.#stored(), name);
    if (aliasOf(ours.bridge) === mark) return ours;
    return await this.#transaction(async (records) => {
      const n = this.#find(records, name);
      if (aliasOf(n.bridge) === mark) return structuredClone(n);
      // The bridge is not up as ours: every route is another's.
      const taken = hostRoutes().find((r) => overlaps(r.net, parseCidr(n.subnet)));
      // Another root's bridge took the name: another name serves as well.
      if (pathExists(`/sys/class/net/${n.bridge}`)) n.bridge = this.#freeBridge(records, n);
      if (taken) {
        if (!n.auto) {
          throw new ServinError(
            "conflict",
            `Cannot start network ${n.name}: its subnet ${n.subnet} is routed to ${taken.iface} on this host`,
          );
        }
        const net = this.#freeSubnet(records, n);
        n.subnet = `${intToIp(net[0])}/24`;
        n.gateway = intToIp(net[0] + 1);
        await Deno.remove(join(this.#dir, "ipam", n.name), { recursive: true }).catch(() => {});
      }
      const prefix = n.subnet.split("/")[1];
      // One `ip` for the four steps: a run pays for each process it starts.
      const batch = [
        `link add ${n.bridge} type bridge`,
        `link set ${n.bridge} alias "${mark}"`,
        `addr add ${n.gateway}/${prefix} dev ${n.bridge}`,
        `link set ${n.bridge} up`,
      ].join("\n");
      try {
        await tool("ip", ["-batch", "-"], `make bridge ${n.bridge}`, batch);
      } catch (err) {
        await tool("ip", ["link", "del", n.bridge], "").catch(() => {});
        throw err;
      }
      await this.#writeConflist(n);
      return structuredClone(n);
    });
  }

  async #cni(
    dir: string,
    type: string,
    command: "ADD" | "DEL" | "CHECK",
    conf: object,
    env: { id: string; netns: string; ifname: string },
  ): Promise<CniResult | undefined> {
    const child = new Deno.Command(join(dir, type), {
      env: {
        CNI_COMMAND: command,
        CNI_CONTAINERID: env.id,
        CNI_NETNS: env.netns,
        CNI_IFNAME: env.ifname,
        CNI_PATH: dir,
      },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(JSON.stringify(conf)));
    await writer.close();
    const out = await child.output();
    const text = new TextDecoder().decode(out.stdout);
    if (!out.success) {
      let msg = new TextDecoder().decode(out.stderr).trim();
      try {
        const e = JSON.parse(text) as { msg?: string; details?: string };
        msg = [e.msg, e.details].filter(Boolean).join(": ") || msg;
      } catch { /* not the protocol's error */ }
      throw new ServinError(
        "unsupported",
        `CNI plugin ${type} failed (${command}): ${msg.replace(/\s+/g, " ") || `exit ${out.code}`}`,
      );
    }
    return command === "ADD" && text.trim() ? JSON.parse(text) as CniResult : undefined;
  }

  #endpointPath(id: string): string {
    return join(this.#dir, "endpoints", `${id}.json`);
  }

  async #readEndpoint(id: string): Promise<EndpointFile | undefined> {
    try {
      return JSON.parse(await Deno.readTextFile(this.#endpointPath(id))) as EndpointFile;
    } catch {
      return undefined;
    }
  }

  async #writeEndpoint(e: EndpointFile): Promise<void> {
    await atomicWrite(this.#endpointPath(e.id), new TextEncoder().encode(JSON.stringify(e)));
  }

  /** The endpoints of this root's containers. */
  async #endpoints(): Promise<EndpointFile[]> {
    const out: EndpointFile[] = [];
    try {
      for await (const f of Deno.readDir(join(this.#dir, "endpoints"))) {
        const m = /^([0-9a-f]{64})\.json$/.exec(f.name);
        const e = m ? await this.#readEndpoint(m[1]!) : undefined;
        if (e) out.push(e);
      }
    } catch { /* none yet */ }
    return out;
  }

  /** Checks, before a container is created, that it can join `network`. */
  async checkJoin(network: string): Promise<void> {
    requirements();
    await this.get(network);
  }

  /**
   * Joins container `c` to its network: its namespace, the CNI chain (its
   * ports published), the `/etc/hosts` entries of the network's other
   * containers and its own in theirs. Whatever fails undoes what was done.
   */
  async setup(c: Attachable): Promise<NetworkEndpoint> {
    const dir = requirements();
    await this.#prepare();
    const held = await this.#lockContainer(c.id);
    try {
      return await this.#setup(dir, c);
    } finally {
      held.close();
    }
  }

  /**
   * The lock of one container's network, held by a setup and a teardown:
   * a supervisor's exit command and an `rm -f` may tear down at once.
   */
  async #lockContainer(id: string): Promise<Deno.FsFile> {
    await this.#prepare();
    return await lockExclusive(join(this.#dir, "endpoints", `${id}.lock`));
  }

  async #setup(dir: string, c: Attachable): Promise<NetworkEndpoint> {
    // A run that ended without its teardown (a killed supervisor) left these.
    await this.#teardown(c.id);
    const ports: PortMapping[] = [];
    for (const spec of c.host?.publish ?? []) {
      for (const p of parsePublish(spec)) {
        ports.push({ ...p, host_port: p.host_port || freePort(p.host_ip) });
      }
    }
    const netns = netnsPath(c.id);
    let e: EndpointFile;
    // Under the host lock from the bridge's check to the endpoint's record, so
    // that the teardown of the bridge's last other container sees this one.
    const lock = await hostLock();
    try {
      await this.#checkPorts(c.id, ports);
      const n = await this.#bridgeUp(c.network);
      e = {
        id: c.id,
        name: c.name,
        network: n.name,
        bridge: n.bridge,
        netns,
        hosts: join(c.bundle, "hosts"),
        ports,
      };
      // Written before anything is made, so that a crash leaves what teardown needs.
      await this.#writeEndpoint(e);
    } finally {
      lock.close();
    }
    const n = this.#find(await this.#stored(), e.network);
    try {
      await Deno.mkdir(NETNS_DIR, { recursive: true, mode: 0o755 });
      await Deno.writeFile(netns, new Uint8Array(), { mode: 0o644 });
      // One process makes the namespace, bind-mounts it and brings its loopback up.
      await tool(
        "unshare",
        [`--net=${netns}`, "ip", "link", "set", "lo", "up"],
        "make a network namespace",
      );
      const env = { id: c.id, netns, ifname: IFNAME };
      let result: CniResult | undefined;
      for (const plugin of this.#chain(n, ports)) {
        result = await this.#cni(dir, String(plugin.type), "ADD", {
          ...plugin,
          ...(result ? { prevResult: result } : {}),
        }, env);
      }
      e.result = result;
      await this.#writeEndpoint(e);
      if (n.name !== DEFAULT_NETWORK) await this.#linkHosts(e);
      return endpointOf(e)!;
    } catch (err) {
      await this.#teardown(c.id).catch(() => {});
      throw err;
    }
  }

  /**
   * Refuses a host port that another container of this root publishes, or
   * that a process of the host listens on (TCP), as Docker does.
   */
  async #checkPorts(id: string, ports: PortMapping[]): Promise<void> {
    const others = (await this.#endpoints()).filter((o) => o.id !== id);
    for (const p of ports) {
      const clash = (q: PortMapping) =>
        q.host_port === p.host_port && q.protocol === p.protocol &&
        (!q.host_ip || !p.host_ip || q.host_ip === p.host_ip);
      const user = others.find((o) => o.ports.some(clash));
      let busy = Boolean(user);
      if (!busy && p.protocol === "tcp") {
        try {
          Deno.listen({ hostname: p.host_ip || "0.0.0.0", port: p.host_port }).close();
        } catch {
          busy = true;
        }
      }
      if (busy) {
        throw new ServinError(
          "conflict",
          `Bind for ${p.host_ip || "0.0.0.0"}:${p.host_port} failed: port is already allocated${
            user ? ` (container ${user.name})` : ""
          }`,
        );
      }
    }
  }

  /** The chain's plugin configs for a container: portmap only with ports to publish. */
  #chain(n: StoredNetwork, ports: PortMapping[]): Record<string, unknown>[] {
    const list = this.#conflist(n);
    return (list.plugins as Record<string, unknown>[])
      .filter((p) => p.type !== "portmap" || ports.length > 0)
      .map((p) => ({
        cniVersion: CNI_VERSION,
        name: n.name,
        ...p,
        ...(p.type === "portmap"
          ? {
            runtimeConfig: {
              portMappings: ports.map((m) => ({
                hostPort: m.host_port,
                containerPort: m.container_port,
                protocol: m.protocol,
                ...(m.host_ip && m.host_ip !== "0.0.0.0" ? { hostIP: m.host_ip } : {}),
              })),
            },
          }
          : {}),
      }));
  }

  /** Adds the container to the hosts files of the network's others, and them to its own. */
  async #linkHosts(e: EndpointFile): Promise<void> {
    const lock = await lockExclusive(join(this.#dir, "hosts.lock"));
    try {
      const mine = endpointOf(e);
      if (!mine) return;
      const add: string[] = [];
      for (const other of await this.#endpoints()) {
        const theirs = endpointOf(other);
        if (other.id === e.id || other.network !== e.network || !theirs) continue;
        add.push(hostsLine(theirs.ip, other.name, other.id));
        await appendLine(other.hosts, hostsLine(mine.ip, e.name, e.id));
      }
      for (const line of add) await appendLine(e.hosts, line);
    } finally {
      lock.close();
    }
  }

  /** Takes the container's lines out of the hosts files of the network's others. */
  async #unlinkHosts(e: EndpointFile): Promise<void> {
    const lock = await lockExclusive(join(this.#dir, "hosts.lock"));
    try {
      const mark = `# servin ${e.id.slice(0, 12)}`;
      for (const other of await this.#endpoints()) {
        if (other.id === e.id || other.network !== e.network) continue;
        const text = await Deno.readTextFile(other.hosts).catch(() => undefined);
        if (text === undefined || !text.includes(mark)) continue;
        // In place: the file is bind-mounted into the running container.
        await Deno.writeTextFile(
          other.hosts,
          text.split("\n").filter((l) => !l.endsWith(mark)).join("\n"),
        );
      }
      const own = await Deno.readTextFile(e.hosts).catch(() => undefined);
      if (own?.includes("# servin ")) {
        await Deno.writeTextFile(
          e.hosts,
          own.split("\n").filter((l) => !/\t# servin [0-9a-f]{12}$/.test(l)).join("\n"),
        );
      }
    } finally {
      lock.close();
    }
  }

  /**
   * Undoes {@link setup}, as far as it went; idempotent: the CNI DEL of the
   * chain (the ports and result its ADD had), the namespace unmounted and
   * removed, the bridge deleted when no other container of this root uses it.
   */
  async teardown(id: string): Promise<void> {
    // Nothing to take down, nothing to lock: the case of every container without a network.
    if (!pathExists(this.#endpointPath(id)) && !pathExists(netnsPath(id))) return;
    const held = await this.#lockContainer(id);
    try {
      await this.#teardown(id);
      // Unlinked while held: a waiter that opened it finds nothing left to do.
      if (!pathExists(this.#endpointPath(id))) {
        await Deno.remove(join(this.#dir, "endpoints", `${id}.lock`)).catch(() => {});
      }
    } finally {
      held.close();
    }
  }

  async #teardown(id: string): Promise<void> {
    const e = await this.#readEndpoint(id);
    const netns = netnsPath(id);
    const failures: string[] = [];
    if (e) {
      const dir = requirements();
      await this.#unlinkHosts(e).catch((err) => failures.push(String(err?.message ?? err)));
      const n = (await this.#index.read().catch(() => [])).find((x) => x.name === e.network) ??
        { name: e.network, bridge: e.bridge, subnet: "10.89.0.0/24", gateway: "" } as StoredNetwork;
      // A file left unmounted is no namespace: the plugins are told there is none.
      const env = { id, netns: isMounted(netns) ? netns : "", ifname: IFNAME };
      // portmap's DEL removes its chains by container ID, but only when given mappings.
      for (const plugin of this.#chain(n, e.ports).reverse()) {
        const conf = e.result ? { ...plugin, prevResult: e.result } : plugin;
        await this.#cni(dir, String(plugin.type), "DEL", conf, env)
          .catch((err) => failures.push(err.message));
      }
    }
    await unmountNetns(netns).catch((err) => failures.push(err.message));
    if (failures.length) throw new ServinError("unsupported", failures[0]!);
    if (!e) return;
    const lock = await hostLock();
    try {
      await Deno.remove(this.#endpointPath(id)).catch(() => {});
      const others = (await this.#endpoints()).some((o) => o.bridge === e.bridge);
      if (!others && aliasOf(e.bridge) === ownerMark(this.#root)) {
        await tool("ip", ["link", "del", e.bridge], `delete bridge ${e.bridge}`).catch(() => {});
      }
    } finally {
      lock.close();
    }
  }

  /** The endpoint of a running container, or undefined. */
  async endpoint(id: string): Promise<NetworkEndpoint | undefined> {
    const e = await this.#readEndpoint(id);
    return e ? endpointOf(e) : undefined;
  }

  /**
   * What stopped containers left: endpoints, namespaces and IPAM leases of
   * containers not in `live` (IDs of this root's containers whose process
   * runs). Each is named by container ID.
   */
  async leftovers(live: ReadonlySet<string>, known: ReadonlySet<string>): Promise<Leftover[]> {
    const out: Leftover[] = [];
    for (const e of await this.#endpoints()) {
      if (!live.has(e.id)) out.push({ id: e.id, what: `its network endpoint on ${e.network}` });
    }
    const seen = new Set(out.map((l) => l.id));
    try {
      for await (const f of Deno.readDir(NETNS_DIR)) {
        // Namespaces of other roots' containers are theirs: only this root's IDs count.
        if (known.has(f.name) && !live.has(f.name) && !seen.has(f.name)) {
          seen.add(f.name);
          out.push({ id: f.name, what: `its network namespace ${netnsPath(f.name)}` });
        }
      }
    } catch { /* no namespaces */ }
    for (const n of await this.#index.read().catch(() => [])) {
      const ipam = join(this.#dir, "ipam", n.name);
      try {
        for await (const f of Deno.readDir(ipam)) {
          if (!/^\d+\.\d+\.\d+\.\d+$/.test(f.name)) continue;
          const owner = (await Deno.readTextFile(join(ipam, f.name))).split(/\s/)[0] ?? "";
          if (live.has(owner) || seen.has(owner)) continue;
          seen.add(owner);
          out.push({ id: owner, what: `its address ${f.name} on ${n.name}`, network: n.name });
        }
      } catch { /* no leases */ }
    }
    return out;
  }

  /** Releases what {@link leftovers} found. */
  async repair(l: Leftover): Promise<void> {
    if (l.network && !(await this.#readEndpoint(l.id))) {
      // A lease without an endpoint: a DEL of the chain with what is known.
      const n = this.#find(await this.#index.read(), l.network);
      await this.#writeEndpoint({
        id: l.id,
        name: "",
        network: n.name,
        bridge: n.bridge,
        netns: netnsPath(l.id),
        hosts: "",
        // portmap's DEL removes its chains by container ID, but only when given mappings.
        ports: [PLACEHOLDER_PORT],
      });
    }
    await this.teardown(l.id);
  }
}

/** What a stopped container left of its network. */
export interface Leftover {
  /** The container's ID. */
  id: string;
  /** What was left, in words. */
  what: string;
  /** The network of a lease found without its endpoint. */
  network?: string;
}

const PLACEHOLDER_PORT: PortMapping = {
  host_ip: "",
  host_port: 1,
  container_port: 1,
  protocol: "tcp",
};

function publicView(n: StoredNetwork): NetworkRecord {
  const { auto: _, ...rest } = n;
  return rest;
}

function endpointOf(e: EndpointFile): NetworkEndpoint | undefined {
  const ip = e.result?.ips?.[0];
  if (!ip) return undefined;
  const [address, prefix] = ip.address.split("/");
  const iface = ip.interface === undefined ? undefined : e.result?.interfaces?.[ip.interface];
  return {
    ip: address!,
    prefix: Number(prefix),
    gateway: ip.gateway ?? "",
    mac: iface?.mac ?? "",
    ports: e.ports.map((p) => ({ ...p })),
  };
}

async function appendLine(path: string, line: string): Promise<void> {
  const text = await Deno.readTextFile(path).catch(() => undefined);
  if (text === undefined || text.split("\n").includes(line)) return;
  // In place (not a rename): the file is bind-mounted into the running container.
  await Deno.writeTextFile(path, `${text}${text.endsWith("\n") || !text ? "" : "\n"}${line}\n`);
}

/** Unmounts and removes a netns file; nothing to do when there is none. */
/** True when `path` is a mount point (a namespace bind-mounted there): not its directory's device. */
function isMounted(path: string): boolean {
  try {
    return Deno.statSync(path).dev !== Deno.statSync(NETNS_DIR).dev;
  } catch {
    return false;
  }
}

async function unmountNetns(path: string): Promise<void> {
  if (!pathExists(path)) return;
  if (!isMounted(path)) {
    await Deno.remove(path).catch(() => {});
    return;
  }
  const out = await new Deno.Command("umount", {
    args: [path],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  const why = new TextDecoder().decode(out.stderr);
  if (!out.success && !/not mounted|no mount point/i.test(why)) {
    throw new ServinError(
      "unsupported",
      `Cannot unmount network namespace ${path}: ${why.replace(/\s+/g, " ").trim()}`,
    );
  }
  await Deno.remove(path).catch(() => {});
}
