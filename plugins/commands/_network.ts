/**
 * The network commands: `network create|ls|rm|inspect|prune` and `port`,
 * over `servin.containers.networks` and the containers' live endpoints.
 *
 * @module
 */

import type { CommandContext, ContainerNetworks, NetworkRecord, Servin } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import { shortId } from "../../core/image.ts";
import { eachArgument, formatFlag, inspectEach } from "./_each.ts";
import { humanAgo, table } from "./_format.ts";
import { confirm } from "./_prompt.ts";

function networksOf(servin: Servin): ContainerNetworks {
  const n = servin.containers.networks;
  if (!n) throw new ServinError("unsupported", "The containers plugin in use has no networks");
  return n;
}

/** `servin network create [--subnet CIDR] [--gateway IP] NAME`: prints the new network's ID. */
export async function createNetwork(ctx: CommandContext): Promise<void> {
  const made = await networksOf(await ctx.servin()).create(ctx.args[0]!, {
    subnet: ctx.flags.subnet as string | undefined,
    gateway: ctx.flags.gateway as string | undefined,
  });
  ctx.out(made.id);
}

/** Docker's fields of a network in `network ls` templates. */
const NETWORK_HEADERS = {
  CreatedAt: "CREATED AT",
  Driver: "DRIVER",
  ID: "NETWORK ID",
  Name: "NAME",
  Scope: "SCOPE",
  Subnet: "SUBNET",
};

/** `servin network ls [-q] [--no-trunc] [--format table|json|TEMPLATE]`. */
export async function listNetworks(ctx: CommandContext): Promise<void> {
  const format = formatFlag(ctx, ["table", "json"], true);
  const list = await networksOf(await ctx.servin()).list();
  const noTrunc = Boolean(ctx.flags["no-trunc"]);
  const id = (n: NetworkRecord) => noTrunc ? n.id : shortId(n.id);
  if (ctx.flags.quiet) {
    for (const n of list) ctx.out(id(n));
    return;
  }
  if (format === "json") {
    ctx.out(JSON.stringify(list, null, 2));
    return;
  }
  if (format === "template") {
    const { printListing } = await import("./_docker_view.ts");
    const { struct } = await import("./_template.ts");
    const rows = list.map((n) =>
      struct({
        CreatedAt: n.created,
        Driver: n.driver,
        ID: id(n),
        Name: n.name,
        Scope: "local",
        Subnet: n.subnet,
      }, "networkContext")
    );
    return printListing(ctx, rows, NETWORK_HEADERS);
  }
  const now = new Date();
  ctx.out(table(
    ["NETWORK ID", "NAME", "DRIVER", "SUBNET", "CREATED"],
    list.map((n) => [id(n), n.name, n.driver, n.subnet, humanAgo(n.created, now)]),
  ));
}

/** `servin network rm NAME...`: each in turn, going on after a failure. */
export async function removeNetworks(ctx: CommandContext): Promise<number> {
  const networks = networksOf(await ctx.servin());
  return await eachArgument(ctx, async (name) => {
    await networks.remove(name);
    ctx.out(name);
  });
}

/** `servin network inspect [-f TEMPLATE] NAME...`: Docker's fields beside Servin's. */
export async function inspectNetworks(ctx: CommandContext): Promise<number> {
  const servin = await ctx.servin();
  const networks = networksOf(servin);
  const { struct } = await import("./_template.ts");
  return await inspectEach(ctx, async (name) => {
    const n = await networks.get(name);
    const containers: Record<string, object> = {};
    for (const c of await servin.containers.list()) {
      if (c.network !== n.name || !c.endpoint) continue;
      containers[c.id] = struct({
        Name: c.name,
        MacAddress: c.endpoint.mac,
        IPv4Address: `${c.endpoint.ip}/${c.endpoint.prefix}`,
        IPv6Address: "",
      }, "network.EndpointResource");
    }
    return struct({
      ...n,
      Name: n.name,
      Id: n.id,
      Created: n.created,
      Scope: "local",
      Driver: n.driver,
      EnableIPv6: false,
      IPAM: struct({
        Driver: "host-local",
        Options: {},
        Config: [struct({ Subnet: n.subnet, Gateway: n.gateway }, "network.IPAMConfig")],
      }, "network.IPAM"),
      Internal: false,
      Attachable: false,
      Containers: containers,
      Options: { "com.docker.network.bridge.name": n.bridge },
      Labels: {},
    }, "network.Inspect");
  });
}

/** `servin network prune [-f]`: removes the networks no container uses. */
export async function pruneNetworks(ctx: CommandContext): Promise<void> {
  if (!await confirm(ctx, "WARNING! This will remove all networks not used by any container.")) {
    return;
  }
  const removed = await networksOf(await ctx.servin()).prune();
  if (removed.length) ctx.out(["Deleted Networks:", ...removed.map((n) => n.name)].join("\n"));
}

/** `servin port CONTAINER [PRIVATE_PORT[/PROTO]]`: Docker's lines. */
export async function containerPort(ctx: CommandContext): Promise<number> {
  const c = await (await ctx.servin()).containers.get(ctx.args[0]!);
  const ports = c.endpoint?.ports ?? [];
  const wanted = ctx.args[1];
  if (wanted === undefined) {
    for (const p of ports) {
      ctx.out(`${p.container_port}/${p.protocol} -> ${p.host_ip || "0.0.0.0"}:${p.host_port}`);
    }
    return 0;
  }
  const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/.exec(wanted);
  if (!m) {
    throw new ServinError(
      "invalid-argument",
      `Invalid port "${wanted}": expected PORT or PORT/PROTO`,
    );
  }
  const found = ports.filter((p) =>
    p.container_port === Number(m[1]) && p.protocol === (m[2] ?? "tcp")
  );
  if (!found.length) {
    throw new ServinError(
      "not-found",
      `No public port '${m[1]}/${m[2] ?? "tcp"}' published for ${c.name}`,
    );
  }
  for (const p of found) ctx.out(`${p.host_ip || "0.0.0.0"}:${p.host_port}`);
  return 0;
}
