/**
 * The read-only image views: `image ls` (Docker's columns and filters) and
 * `image history`.
 *
 * @module
 */

import type { CommandContext, ListFilter } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import { type ImageRecord, resolveImage, shortId } from "../../core/image.ts";
import { intermediates, matchesFilter } from "../images/filter.ts";
import { formatFlag, splitFilter, strings } from "./_each.ts";
import { humanAgo, humanSize, splitTag, table } from "./_format.ts";

// Docker's template views (and the Go-template engine under them) are imported
// only when `--format` is a template: the table and JSON paths don't need them.
const view = () => import("./_docker_view.ts");

const FILTER_KEYS = ["reference", "dangling", "label", "since", "before"];
const FILTER_USAGE =
  "reference=PATTERN, dangling=true|false, label=KEY[=VALUE], since=IMAGE or before=IMAGE";

/** `image ls` filters: the facade's, and `since`/`before`, which name images. */
interface ImageFilters extends ListFilter {
  since?: string;
  before?: string;
}

function parseFilters(list: string[]): ImageFilters {
  const filter: ImageFilters = {};
  for (const item of list) {
    const [key, value] = splitFilter(item, FILTER_KEYS, FILTER_USAGE);
    if (key === "since" || key === "before") {
      filter[key] = value;
      continue;
    }
    if (key === "dangling") {
      if (value !== "true" && value !== "false") {
        throw new ServinError(
          "invalid-argument",
          `Invalid filter "${item}": dangling is true or false`,
        );
      }
      filter.dangling = value === "true";
    } else {
      (filter[key as "reference" | "label"] ??= []).push(value);
    }
  }
  return filter;
}

/** The manifest digest, as `docker images --digests` shows it; `<none>` without one. */
function digestOf(img: ImageRecord): string {
  return img.manifest ? `sha256:${img.manifest}` : "<none>";
}

function rows(images: ImageRecord[], noTrunc: boolean, digests: boolean): string[][] {
  const now = new Date();
  return images.flatMap((img) => {
    const id = noTrunc ? `sha256:${img.id}` : shortId(img.id);
    const tail = [...(digests ? [digestOf(img)] : []), id, humanAgo(img.created, now)];
    tail.push(humanSize(img.size));
    if (img.repo_tags.length === 0) return [["<none>", "<none>", ...tail]];
    return img.repo_tags.map((t) => {
      const { repository, tag } = splitTag(t);
      return [repository, tag, ...tail];
    });
  });
}

/**
 * Applies what the facade's filter does not: `since` and `before` (created
 * after or before the image they name, which any image may be), and the
 * `REPOSITORY[:TAG]` argument; a name (argument or `reference=`) also
 * narrows each image's rows to the tags it matches, as Docker's do.
 */
function narrow(all: ImageRecord[], filter: ImageFilters, name?: string): ImageRecord[] {
  const created = (value: string | undefined) =>
    value === undefined ? undefined : resolveImage(all, value).created;
  const since = created(filter.since);
  const before = created(filter.before);
  const patterns = [
    ...(name === undefined ? [] : [[name]]),
    ...(filter.reference ? [filter.reference] : []),
  ];
  const keep = (img: ImageRecord, tag: string) =>
    patterns.every((reference) => matchesFilter({ ...img, repo_tags: [tag] }, { reference }));
  return all.filter((img) =>
    matchesFilter(img, filter) && (since === undefined || img.created > since) &&
    (before === undefined || img.created < before)
  ).flatMap((img) => {
    if (patterns.length === 0) return [img];
    const tags = img.repo_tags.filter((tag) => keep(img, tag));
    return tags.length ? [{ ...img, repo_tags: tags }] : [];
  });
}

/** `servin image ls [REPOSITORY[:TAG]]`. */
export async function listImages(ctx: CommandContext): Promise<void> {
  const format = formatFlag(ctx, ["table", "json"], true);
  const filter = parseFilters(strings(ctx.flags.filter));
  const servin = await ctx.servin();
  const listed = await servin.listImages();
  const hidden = ctx.flags.all ? new Set<string>() : intermediates(listed);
  const images = narrow(listed, filter, ctx.args[0]).filter((img) => !hidden.has(img.id));
  const noTrunc = Boolean(ctx.flags["no-trunc"]);
  if (ctx.flags.quiet) {
    const ids = images.map((img) => noTrunc ? `sha256:${img.id}` : shortId(img.id));
    for (const id of new Set(ids)) ctx.out(id);
  } else if (format === "template") {
    const { IMAGE_HEADERS, imageRows, printListing } = await view();
    printListing(ctx, imageRows(images, noTrunc), IMAGE_HEADERS);
  } else if (format === "json") {
    const usage = new Map((await servin.diskUsage()).images.map((u) => [u.id, u]));
    ctx.out(JSON.stringify(
      images.map((img) => ({
        ...img,
        shared_size: usage.get(img.id)?.shared_size ?? 0,
        unique_size: usage.get(img.id)?.unique_size ?? img.size,
      })),
      null,
      2,
    ));
  } else {
    const digests = Boolean(ctx.flags.digests);
    const header = ["REPOSITORY", "TAG", ...(digests ? ["DIGEST"] : []), "IMAGE ID", "CREATED"];
    ctx.out(table([...header, "SIZE"], rows(images, noTrunc, digests)));
  }
}

/** `servin image history`. */
export async function imageHistory(ctx: CommandContext): Promise<void> {
  const format = formatFlag(ctx, ["table", "json"], true);
  const servin = await ctx.servin();
  const image = await servin.getImage(ctx.args[0]!);
  const steps = await servin.history(ctx.args[0]!);
  if (format === "json") {
    ctx.out(JSON.stringify(steps, null, 2));
    return;
  }
  const noTrunc = Boolean(ctx.flags["no-trunc"]);
  if (format === "template") {
    const { HISTORY_HEADERS, historyRows, printListing } = await view();
    return printListing(ctx, historyRows(image, steps, noTrunc), HISTORY_HEADERS);
  }
  const cut = (t: string, n: number) => noTrunc || t.length <= n ? t : `${t.slice(0, n - 1)}…`;
  const now = new Date();
  ctx.out(table(
    ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
    steps.map((h, i) => [
      i === 0 ? shortId(image.id) : "<missing>",
      h.created ? humanAgo(h.created, now) : "",
      cut(h.created_by, 45),
      humanSize(h.size),
      cut(h.comment, 30),
    ]),
  ));
}
