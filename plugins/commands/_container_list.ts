/**
 * Looking at and removing containers: `ps`, `container inspect`, `logs`,
 * `rm` and `container prune`.
 *
 * @module
 */

import type { CommandContext, ContainerRecord, Servin } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import { findImage, type ImageRecord, shortId } from "../../core/image.ts";
import { type LogEntry, parseLog, timeMs } from "../runtime/_log.ts";
import { treeBytes } from "../storage/fs.ts";
import { eachArgument, formatFlag, splitFilter, strings } from "./_each.ts";
import { humanAgo, humanDuration, humanSize, portsText, table } from "./_format.ts";
import { confirm } from "./_prompt.ts";

function quoteCommand(args: string[]): string {
  return args.map((a) => /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)
    .join(" ");
}

function statusText(c: ContainerRecord, now: Date): string {
  if ((c.status === "running" || c.status === "paused") && c.started_at) {
    const up = `Up ${humanDuration(now.getTime() - Date.parse(c.started_at))}`;
    return c.status === "paused" ? `${up} (Paused)` : up;
  }
  if (c.status === "exited") {
    return `Exited (${c.exit_code}) ${humanAgo(c.finished_at ?? c.created, now)}`;
  }
  return c.status === "dead" ? "Dead" : "Created";
}

function psRows(list: ContainerRecord[], noTrunc: boolean): string[][] {
  const now = new Date();
  return list.map((c) => {
    let command = quoteCommand(c.process.args);
    if (!noTrunc && command.length > 20) command = `${command.slice(0, 19)}…`;
    return [
      noTrunc ? c.id : shortId(c.id),
      c.image,
      `"${command}"`,
      humanAgo(c.created, now),
      statusText(c, now),
      portsText(c),
      c.name,
    ];
  });
}

/**
 * Bytes on disk of what a container holds of its own: the overlay upper
 * directory, or with another snapshotter (copy) the whole rootfs, which is
 * the container's own copy. Hardlinked files count once.
 */
export async function writableSize(c: ContainerRecord): Promise<number> {
  return await treeBytes(`${c.bundle}/${c.snapshotter === "overlay" ? "upper" : "rootfs"}`);
}

const PS_FILTERS = ["status", "name", "id", "ancestor", "label", "exited"];
const STATUSES = ["created", "running", "exited", "dead", "paused", "restarting", "removing"];

/** Docker's rule: values of one key are alternatives, different keys must all match. */
function parsePsFilters(list: string[]): Map<string, string[]> {
  const filters = new Map<string, string[]>();
  for (const item of list) {
    const [key, value] = splitFilter(item, PS_FILTERS, PS_FILTERS.map((k) => `${k}=…`).join(", "));
    if (key === "status" && !STATUSES.includes(value)) {
      throw new ServinError(
        "invalid-argument",
        `Invalid filter "${item}": status is one of ${STATUSES.join(", ")}`,
      );
    }
    if (key === "exited" && !/^-?\d+$/.test(value)) {
      throw new ServinError("invalid-argument", `Invalid filter "${item}": exited is a number`);
    }
    filters.set(key, [...filters.get(key) ?? [], value]);
  }
  return filters;
}

/** A test of one container against the filters; containers carry their image's labels. */
function psMatcher(filters: Map<string, string[]>, images: ImageRecord[]) {
  const byId = new Map(images.map((img) => [img.id, img]));
  const ancestors = (filters.get("ancestor") ?? []).map((name) => findImage(images, name)?.id);
  const tests: Record<string, (c: ContainerRecord, value: string, i: number) => boolean> = {
    status: (c, v) => c.status === v,
    name: (c, v) => c.name.includes(v),
    id: (c, v) => c.id.startsWith(v),
    ancestor: (c, v, i) =>
      c.image === v || (ancestors[i] !== undefined && c.image_id === ancestors[i]),
    label: (c, v) => {
      const labels = byId.get(c.image_id)?.config.labels ?? {};
      const eq = v.indexOf("=");
      const key = eq < 0 ? v : v.slice(0, eq);
      return Object.hasOwn(labels, key) && (eq < 0 || labels[key] === v.slice(eq + 1));
    },
    exited: (c, v) => c.status === "exited" && c.exit_code === Number(v),
  };
  return (c: ContainerRecord) =>
    [...filters].every(([key, values]) => values.some((v, i) => tests[key]!(c, v, i)));
}

/** The containers `ps` shows: running ones, or per `-a`, `-n`, `-l` and `--filter`. */
async function shownContainers(ctx: CommandContext, servin: Servin): Promise<ContainerRecord[]> {
  const filters = parsePsFilters(strings(ctx.flags.filter));
  let last = ctx.flags.latest ? 1 : -1;
  if (typeof ctx.flags.last === "string") {
    if (!/^-?\d+$/.test(ctx.flags.last)) {
      throw new ServinError("invalid-argument", `Invalid --last "${ctx.flags.last}": not a number`);
    }
    last = Number(ctx.flags.last);
  }
  const all = await servin.containers.list();
  const images = filters.has("ancestor") || filters.has("label") ? await servin.listImages() : [];
  const matches = psMatcher(filters, images);
  // As Docker: -n, -l and a status or exited filter look at every container, not the running ones.
  const everything = ctx.flags.all || last >= 0 || filters.has("status") || filters.has("exited");
  const shown = all.filter((c) =>
    (everything || c.status === "running" || c.status === "paused") && matches(c)
  );
  return last >= 0 ? shown.slice(0, last) : shown;
}

/** Docker's SIZE: the container's own bytes, and with its image's. */
function sizeText(own: number, image: number): string {
  return `${humanSize(own)} (virtual ${humanSize(own + image)})`;
}

/** `servin ps [-a] [-n N] [-l] [-s] [--filter …]`. */
export async function listContainers(ctx: CommandContext): Promise<void> {
  const format = formatFlag(ctx, ["table", "json"], true);
  const servin = await ctx.servin();
  const shown = await shownContainers(ctx, servin);
  const noTrunc = Boolean(ctx.flags["no-trunc"]);
  if (ctx.flags.quiet) {
    for (const c of shown) ctx.out(noTrunc ? c.id : shortId(c.id));
    return;
  }
  // As Docker's, a template that shows .Size measures sizes without -s.
  const sized = Boolean(ctx.flags.size) ||
    (format === "template" && (ctx.flags.format as string).includes(".Size"));
  const sizes = sized ? await Promise.all(shown.map(writableSize)) : [];
  if (format === "template") {
    const images = sized
      ? new Map((await servin.listImages()).map((img) => [img.id, img.size]))
      : new Map<string, number>();
    const now = new Date();
    const words = (c: ContainerRecord, i: number) => ({
      command: quoteCommand(c.process.args),
      status: statusText(c, now),
      size: sized ? sizeText(sizes[i]!, images.get(c.image_id) ?? 0) : "N/A",
    });
    // Docker's template views are imported only for a template: `ps` needs them for nothing else.
    const { CONTAINER_HEADERS, containerRows, printListing } = await import("./_docker_view.ts");
    return printListing(ctx, containerRows(shown, words, noTrunc), CONTAINER_HEADERS);
  }
  if (format === "json") {
    ctx.out(JSON.stringify(
      ctx.flags.size ? shown.map((c, i) => ({ ...c, size_rw: sizes[i] })) : shown,
      null,
      2,
    ));
    return;
  }
  const header = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"];
  let rows = psRows(shown, noTrunc);
  if (ctx.flags.size) {
    const images = new Map((await servin.listImages()).map((img) => [img.id, img.size]));
    header.push("SIZE");
    rows = rows.map((row, i) => {
      const own = sizes[i]!;
      const image = images.get(shown[i]!.image_id) ?? 0;
      return [...row, sizeText(own, image)];
    });
  }
  ctx.out(table(header, rows));
}

/** `servin rm [-f] CONTAINER...`: each name in turn, going on after a failure. */
export async function removeContainers(ctx: CommandContext): Promise<number> {
  const servin = await ctx.servin();
  return await eachArgument(ctx, async (name) => {
    await servin.containers.remove(name, {
      force: Boolean(ctx.flags.force),
      volumes: Boolean(ctx.flags.volumes),
    });
    ctx.out(name);
  });
}

/** `--since`: an RFC 3339 time, Unix seconds, or a duration ago (`10m`, `1h30m`). */
function sinceMs(value: string, now: number): number {
  const units: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };
  if (/^(\d+(\.\d+)?[smh])+$/.test(value)) {
    let ms = 0;
    for (const [, n, u] of value.matchAll(/(\d+(?:\.\d+)?)([smh])/g)) ms += Number(n) * units[u!]!;
    return now - ms;
  }
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const ms = timeMs(value);
  if (Number.isNaN(ms)) {
    throw new ServinError(
      "invalid-argument",
      `Invalid --since "${value}": use an RFC 3339 time, Unix seconds or a duration such as 10m`,
    );
  }
  return ms;
}

/**
 * `servin logs [-f] [--tail N] [--since T] [-t] CONTAINER`: what the
 * process wrote, stdout to stdout and stderr to stderr.
 */
export async function containerLogs(ctx: CommandContext): Promise<void> {
  const tailFlag = ctx.flags.tail as string | undefined;
  const tail = tailFlag === undefined || tailFlag === "all" ? Infinity : Number(tailFlag);
  if (!(tail >= 0) || (tail !== Infinity && !Number.isInteger(tail))) {
    throw new ServinError("invalid-argument", `Invalid --tail "${tailFlag}": expected a number`);
  }
  const since = typeof ctx.flags.since === "string" ? sinceMs(ctx.flags.since, Date.now()) : 0;
  const servin = await ctx.servin();
  const name = ctx.args[0]!;
  const path = await servin.containers.logPath(name);
  const encoder = new TextEncoder();
  const show = async (entries: LogEntry[]) => {
    for (const e of entries) {
      if (e.ms < since) continue;
      const text = `${ctx.flags.timestamps ? `${e.time} ` : ""}${e.text}${e.partial ? "" : "\n"}`;
      const out = e.stream === "stderr" ? Deno.stderr : Deno.stdout;
      const bytes = encoder.encode(text);
      for (let off = 0; off < bytes.length;) off += await out.write(bytes.subarray(off));
    }
  };
  const read = async (from: number): Promise<{ text: string; end: number }> => {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return { text: "", end: from };
      throw err;
    }
    try {
      await file.seek(from, Deno.SeekMode.Start);
      const bytes = new Uint8Array(await new Response(file.readable).arrayBuffer());
      // Only whole lines: a line being written is read on the next round.
      const last = bytes.lastIndexOf(10);
      return { text: new TextDecoder().decode(bytes.subarray(0, last + 1)), end: from + last + 1 };
    } catch (err) {
      file.close();
      throw err;
    }
  };
  let { text, end } = await read(0);
  const entries = parseLog(text);
  await show(tail === Infinity ? entries : entries.slice(Math.max(0, entries.length - tail)));
  if (!ctx.flags.follow) return;
  // Ends when the container does; one more read takes what it wrote last.
  for (let live = true; live;) {
    const c = await servin.containers.get(name);
    live = c.status === "running" || c.status === "paused";
    if (live) await new Promise((r) => setTimeout(r, 200));
    ({ text, end } = await read(end));
    await show(parseLog(text));
  }
}

/** `servin container prune [-f]`: asks first, as Docker does. */
export async function pruneContainers(ctx: CommandContext): Promise<void> {
  if (!await confirm(ctx, "WARNING! This will remove all stopped containers.")) return;
  const removed = await (await ctx.servin()).containers.prune();
  if (removed.length) ctx.out(["Deleted Containers:", ...removed.map((c) => c.id)].join("\n"));
  ctx.out(`Total: ${removed.length} container${removed.length === 1 ? "" : "s"} removed`);
}
