/**
 * `system info`, `system df`, `system prune`, `system check`, `version` and `plugin ls`.
 *
 * @module
 */

import type { CommandContext, ContainerRecord, Servin } from "../../core/api.ts";
import { type PluginDescription, Registry } from "../../core/registry.ts";
import { DF_HEADERS, dfRow, PLUGIN_HEADERS, printListing } from "./_docker_view.ts";
import { formatFlag } from "./_each.ts";
import { humanSize, table } from "./_format.ts";
import deno from "../../deno.json" with { type: "json" };
import { writableSize } from "./_container_list.ts";
import { treeBytes } from "../storage/fs.ts";
import { confirm } from "./_prompt.ts";

/** `servin system info`: the data root, platform, plugins and image count. */
export async function systemInfo(ctx: CommandContext): Promise<void> {
  const format = formatFlag(ctx, ["text", "json"], true);
  const servin = await ctx.servin();
  const base = servin.info();
  const trust = ctx.kinds.all("trust")[0];
  const policy = await trust?.policyPath({
    root: base.root,
    signaturePolicy: base.signaturePolicy,
  });
  const info = { ...base, images: (await servin.listImages()).length, policy: policy ?? "" };
  if (format === "json") {
    ctx.out(JSON.stringify(info, null, 2));
    return;
  }
  if (format === "template") {
    const { parseTemplate, struct } = await import("./_template.ts");
    const template = parseTemplate(ctx.flags.format as string);
    const containers = await servin.containers.list();
    const count = (status: string) => containers.filter((c) => c.status === status).length;
    // Docker's names for what Servin knows, beside the seed-style names `--format json` prints.
    ctx.out(template.render(struct({
      ...info,
      Containers: containers.length,
      ContainersRunning: count("running"),
      ContainersPaused: 0,
      ContainersStopped: containers.length - count("running"),
      Images: info.images,
      Driver: "servin",
      DockerRootDir: info.root,
      OSType: servin.platform.os,
      Architecture: servin.platform.architecture,
      NCPU: navigator.hardwareConcurrency,
      Plugins: [...info.plugins],
    }, "system.Info")));
    return;
  }
  ctx.out(`Root:      ${info.root}`);
  ctx.out(`Platform:  ${info.platform}`);
  ctx.out(`Images:    ${info.images}`);
  ctx.out(`Plugins:   ${info.plugins.join(", ")}`);
  ctx.out(`Policy:    ${info.policy || "none (every image is accepted)"}`);
}

/** `servin plugin ls`: each plugin, where it came from and what it registered. */
export function listPlugins(ctx: CommandContext): void {
  const format = formatFlag(ctx, ["table", "json"], true);
  // The CLI hands commands its Registry; another caller's lookup knows only names.
  const plugins: PluginDescription[] = ctx.kinds instanceof Registry
    ? ctx.kinds.describe()
    : ctx.kinds.plugins.map((name) => ({ name, source: "builtin", provides: [] }));
  if (format === "json") {
    ctx.out(JSON.stringify(plugins, null, 2));
    return;
  }
  if (format === "template") {
    const rows = plugins.map((p) => ({
      Enabled: true,
      Name: p.name,
      Provides: p.provides.join(", "),
      Source: p.source,
    }));
    return printListing(ctx, rows, PLUGIN_HEADERS);
  }
  ctx.out(table(
    ["NAME", "SOURCE", "PROVIDES"],
    plugins.map((p) => [p.name, p.source, p.provides.join(", ")]),
  ));
}

/** `servin system df [-v]`: bytes images hold, shared and unique, and what is reclaimable. */
export async function diskUsage(ctx: CommandContext): Promise<void> {
  const format = formatFlag(ctx, ["table", "json"], true);
  const servin = await ctx.servin();
  const usage = await servin.diskUsage();
  if (format === "json") {
    ctx.out(JSON.stringify(usage, null, 2));
    return;
  }
  const containers = await servin.containers.list();
  const used = new Set(containers.map((c) => c.image_id));
  const active = usage.images.filter((i) => used.has(i.id));
  const reclaimable = usage.images.filter((i) => !used.has(i.id))
    .reduce((n, i) => n + i.unique_size, 0);
  const rows = [
    dfRow(
      "Images",
      usage.images.length,
      active.length,
      humanSize(usage.layers),
      humanSize(reclaimable),
    ),
    dfRow(
      "Containers",
      usage.containers,
      containers.filter((c) => c.status === "running").length,
      "",
      "",
    ),
    await volumeRow(servin, containers),
  ];
  if (format === "template") return printListing(ctx, rows, DF_HEADERS);
  ctx.out(table(
    ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
    rows.map((r) => [r.Type, r.TotalCount, r.Active, r.Size, r.Reclaimable]),
  ));
  if (!ctx.flags.verbose) return;
  ctx.out("");
  ctx.out(table(
    ["REPOSITORY:TAG", "IMAGE ID", "SIZE", "SHARED SIZE", "UNIQUE SIZE"],
    usage.images.map((i) => [
      i.repo_tags.join(", ") || "<none>",
      i.id.slice(0, 12),
      humanSize(i.size),
      humanSize(i.shared_size),
      humanSize(i.unique_size),
    ]),
  ));
}

/** Docker's `Local Volumes` row: volumes, those in use, their bytes and the unused ones'. */
async function volumeRow(servin: Servin, containers: readonly ContainerRecord[]) {
  const volumes = await servin.containers.listVolumes();
  const used = new Set(
    containers.flatMap((c) => (c.host?.mounts ?? []).map((m) => m.type === "volume" && m.name)),
  );
  let size = 0;
  let free = 0;
  for (const v of volumes) {
    const bytes = await treeBytes(v.mountpoint);
    size += bytes;
    if (!used.has(v.name)) free += bytes;
  }
  const active = volumes.filter((v) => used.has(v.name)).length;
  return dfRow("Local Volumes", volumes.length, active, humanSize(size), humanSize(free));
}

/** `servin system prune [-a] [--volumes] [-f]`: stopped containers, then unused images. */
export async function systemPrune(ctx: CommandContext): Promise<void> {
  const all = Boolean(ctx.flags.all);
  const items = [
    "all stopped containers",
    ...(ctx.flags.volumes ? ["all anonymous volumes not used by at least one container"] : []),
    all ? "all images without at least one container associated to them" : "all dangling images",
  ];
  const warning = ["WARNING! This will remove:", ...items.map((i) => `  - ${i}`), ""].join("\n");
  if (!await confirm(ctx, warning)) return;
  const servin = await ctx.servin();
  const stopped = (await servin.containers.list()).filter((c) => c.status !== "running");
  const sizes = new Map(
    await Promise.all(stopped.map(async (c) => [c.id, await writableSize(c)] as const)),
  );
  const removed = await servin.containers.prune();
  // As Docker's: only anonymous volumes, whatever -a says.
  const volumes = ctx.flags.volumes
    ? await servin.containers.pruneVolumes()
    : { deleted: [], reclaimed: 0 };
  const images = await servin.pruneImages({ all });
  if (removed.length) ctx.out(["Deleted Containers:", ...removed.map((c) => c.id), ""].join("\n"));
  if (volumes.deleted.length) ctx.out(["Deleted Volumes:", ...volumes.deleted, ""].join("\n"));
  if (images.deleted.length) {
    ctx.out(
      ["Deleted Images:", ...images.deleted.map((id) => `deleted: sha256:${id}`), ""].join("\n"),
    );
  }
  const containerBytes = removed.reduce((n, c) => n + (sizes.get(c.id) ?? 0), 0);
  const total = containerBytes + volumes.reclaimed + images.reclaimed;
  ctx.out(`Total reclaimed space: ${humanSize(total)}`);
}

/** Docker's names of CPU architectures, from Deno's. */
const ARCHES: Record<string, string> = { x86_64: "amd64", aarch64: "arm64" };

/** `servin version`: Servin's, Deno's, the platform's and the runtime found. */
export function version(ctx: CommandContext): void {
  const format = formatFlag(ctx, ["text", "json"]);
  const runtimes = ctx.kinds.all("runtime").flatMap((r) => {
    const path = r.find();
    return path ? [{ name: r.name, path }] : [];
  });
  const info = {
    version: deno.version,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    os: Deno.build.os,
    arch: ARCHES[Deno.build.arch] ?? Deno.build.arch,
    runtime: runtimes[0] ?? null,
  };
  if (format === "json") {
    ctx.out(JSON.stringify(info, null, 2));
    return;
  }
  const runtime = info.runtime
    ? `${info.runtime.name} (${info.runtime.path})`
    : "none found (install runc or crun to run containers)";
  ctx.out([
    "Client: Servin",
    ` Version:     ${info.version}`,
    ` Deno:        ${info.deno} (V8 ${info.v8}, TypeScript ${info.typescript})`,
    ` OS/Arch:     ${info.os}/${info.arch}`,
    ` Runtime:     ${runtime}`,
  ].join("\n"));
}

/**
 * `servin system check [--repair]`: one line per problem on stdout (and,
 * with `--repair`, what was removed for it). Exits 1 when something is
 * broken; after `--repair`, only when something could not be repaired.
 */
export async function check(ctx: CommandContext): Promise<number> {
  const format = formatFlag(ctx, ["text", "json"]);
  const repair = ctx.flags.repair === true;
  const problems = await (await ctx.servin()).check({ repair });
  if (format === "json") ctx.out(JSON.stringify(problems, null, 2));
  else {
    for (const p of problems) ctx.out(p.repaired ? `${p.message}; ${p.repaired}` : p.message);
  }
  const left = repair ? problems.filter((p) => !p.repaired) : problems;
  return left.length ? 1 : 0;
}
