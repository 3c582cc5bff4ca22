/**
 * The volume commands' work: `volume create`, `ls` (Docker's columns,
 * filters and templates), `inspect` (Docker's fields), `rm` and `prune`
 * (asking first, as `image prune` does).
 *
 * @module
 */

import type { CommandContext, VolumeRecord } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import { hasLabels } from "../images/filter.ts";
import { eachArgument, formatFlag, inspectEach, strings } from "./_each.ts";
import { humanSize, table } from "./_format.ts";
import { confirm } from "./_prompt.ts";

/** `volume ls` template headers (Docker's). */
const VOLUME_HEADERS = {
  Driver: "DRIVER",
  Label: () => "LABEL",
  Labels: "LABELS",
  Links: "LINKS",
  Mountpoint: "MOUNTPOINT",
  Name: "VOLUME NAME",
  Scope: "SCOPE",
  Size: "SIZE",
};

/** RFC 3339 to the second, as Docker prints a volume's `CreatedAt`. */
function seconds(iso: string): string {
  return iso.replace(/\.\d+Z$/, "Z");
}

/** A volume as `docker volume inspect` shows it. */
function inspectView(v: VolumeRecord): object {
  return {
    CreatedAt: seconds(v.created),
    Driver: "local",
    Labels: { ...v.labels },
    Mountpoint: v.mountpoint,
    Name: v.name,
    Options: null,
    Scope: "local",
  };
}

/** `servin volume create [--label K=V] [NAME]`. */
export async function createVolume(ctx: CommandContext): Promise<void> {
  const driver = (ctx.flags.driver as string | undefined) ?? "local";
  if (driver !== "local") {
    throw new ServinError("invalid-argument", `Invalid --driver "${driver}": only local is known`);
  }
  const labels: Record<string, string> = {};
  for (const l of strings(ctx.flags.label)) {
    const eq = l.indexOf("=");
    if (eq === 0) throw new ServinError("invalid-argument", `Invalid --label "${l}": expected K=V`);
    labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? "" : l.slice(eq + 1);
  }
  const servin = await ctx.servin();
  ctx.out((await servin.containers.createVolume(ctx.args[0], labels)).name);
}

type Filters = Map<string, string[]>;

function parseFilters(list: string[]): Filters {
  const filters: Filters = new Map();
  for (const item of list) {
    const eq = item.indexOf("=");
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (eq < 0 || !["dangling", "name", "label", "driver"].includes(key)) {
      throw new ServinError(
        "invalid-argument",
        `Invalid filter "${item}": use dangling=true|false, name=TEXT, label=KEY[=VALUE] or driver=local`,
      );
    }
    if (key === "dangling" && !["true", "false", "1", "0"].includes(value)) {
      throw new ServinError(
        "invalid-argument",
        `Invalid filter "${item}": dangling is true or false`,
      );
    }
    filters.set(key, [...filters.get(key) ?? [], value]);
  }
  return filters;
}

/** `servin volume ls [-q] [--format …] [--filter …]`. */
export async function listVolumes(ctx: CommandContext): Promise<void> {
  const format = formatFlag(ctx, ["table", "json"], true);
  const filters = parseFilters(strings(ctx.flags.filter));
  const servin = await ctx.servin();
  let volumes = await servin.containers.listVolumes();
  if (filters.has("dangling")) {
    const used = new Set(
      (await servin.containers.list()).flatMap((c) =>
        (c.host?.mounts ?? []).flatMap((m) => m.type === "volume" && m.name ? [m.name] : [])
      ),
    );
    // As Docker: several values are alternatives.
    const wanted = filters.get("dangling")!.map((v) => v === "true" || v === "1");
    volumes = volumes.filter((v) => wanted.includes(!used.has(v.name)));
  }
  const names = filters.get("name");
  if (names) volumes = volumes.filter((v) => names.some((n) => v.name.includes(n)));
  const drivers = filters.get("driver");
  if (drivers) volumes = volumes.filter(() => drivers.includes("local"));
  const labels = filters.get("label");
  if (labels) volumes = volumes.filter((v) => hasLabels(v.labels, labels));
  if (ctx.flags.quiet) {
    for (const v of volumes) ctx.out(v.name);
  } else if (format === "json") {
    ctx.out(JSON.stringify(volumes.map(inspectView), null, 2));
  } else if (format === "template") {
    const [{ printListing }, { struct }] = await Promise.all([
      import("./_docker_view.ts"),
      import("./_template.ts"),
    ]);
    const rows = volumes.map((v) =>
      struct({
        Driver: "local",
        Label: (args: unknown[]) => v.labels[String(args[0])] ?? "",
        Labels: Object.entries(v.labels).map(([k, x]) => `${k}=${x}`).join(","),
        Links: "N/A",
        Mountpoint: v.mountpoint,
        Name: v.name,
        Scope: "local",
        Size: "N/A",
      }, "volumeContext")
    );
    printListing(ctx, rows, VOLUME_HEADERS);
  } else {
    ctx.out(table(["DRIVER", "VOLUME NAME"], volumes.map((v) => ["local", v.name])));
  }
}

/** `servin volume inspect [-f TEMPLATE] VOLUME...`. */
export async function inspectVolumes(ctx: CommandContext): Promise<number> {
  const servin = await ctx.servin();
  return await inspectEach(
    ctx,
    async (name) => inspectView(await servin.containers.getVolume(name)),
  );
}

/** `servin volume rm [-f] VOLUME...`: each in turn, going on after a failure. */
export async function removeVolumes(ctx: CommandContext): Promise<number> {
  const servin = await ctx.servin();
  return await eachArgument(ctx, async (name) => {
    try {
      await servin.containers.removeVolume(name);
    } catch (err) {
      // As Docker's -f: a volume that is not there is not an error.
      if (!(ctx.flags.force && err instanceof ServinError && err.code === "not-found")) throw err;
    }
    ctx.out(name);
  });
}

/** `servin volume prune [-a] [-f]`: asks first, as Docker does. */
export async function pruneVolumes(ctx: CommandContext): Promise<void> {
  const all = Boolean(ctx.flags.all);
  const warning = all
    ? "WARNING! This will remove all local volumes not used by at least one container."
    : "WARNING! This will remove anonymous local volumes not used by at least one container.";
  if (!await confirm(ctx, warning)) return;
  const servin = await ctx.servin();
  const { deleted, reclaimed } = await servin.containers.pruneVolumes({ all });
  if (deleted.length) ctx.out(["Deleted Volumes:", ...deleted, ""].join("\n"));
  ctx.out(`Total reclaimed space: ${humanSize(reclaimed)}`);
}
