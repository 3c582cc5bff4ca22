/**
 * `servin image …`: import, ls, inspect, rm, tag and pull, each a few lines
 * over the library API.
 *
 * @module
 */

import { type CommandContext, eachArgument, inspectEach } from "../../core/cli.ts";
import { ServinError } from "../../core/errors.ts";
import { humanAgo, humanSize, table } from "../../core/format.ts";
import { type ImageConfig, type ImageRecord, shortId, splitTag } from "../../core/image.ts";
import type { ProgressFn } from "../../core/kinds.ts";
import { definePlugin } from "../../core/registry.ts";
import type { ListFilter } from "../../core/servin.ts";

/** Splits a command line into words: a JSON array, or words with shell-style quotes. */
export function parseCommandLine(text: string, flag: string): string[] {
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new ServinError("invalid-argument", `Invalid ${flag}: not a valid JSON array`);
    }
    if (!Array.isArray(parsed) || !parsed.every((w) => typeof w === "string")) {
      throw new ServinError(
        "invalid-argument",
        `Invalid ${flag}: expected a JSON array of strings`,
      );
    }
    return parsed;
  }
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < trimmed.length; i++) {
    const c = trimmed[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < trimmed.length) word += trimmed[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < trimmed.length) {
      word += trimmed[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new ServinError("invalid-argument", `Invalid ${flag}: unterminated quote`);
  if (inWord) words.push(word);
  return words;
}

function keyValues(list: string[], flag: string, requireValue: boolean): [string, string][] {
  return list.map((item) => {
    const eq = item.indexOf("=");
    if (eq === 0 || (requireValue && eq < 0)) {
      throw new ServinError("invalid-argument", `Invalid ${flag} "${item}": expected KEY=VALUE`);
    }
    return eq < 0 ? [item, ""] : [item.slice(0, eq), item.slice(eq + 1)];
  });
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value : typeof value === "string" ? [value] : [];
}

function configFromFlags(flags: CommandContext["flags"]): Partial<ImageConfig> {
  const config: Partial<ImageConfig> = {};
  if (typeof flags.cmd === "string") config.cmd = parseCommandLine(flags.cmd, "--cmd");
  if (typeof flags.entrypoint === "string") {
    config.entrypoint = parseCommandLine(flags.entrypoint, "--entrypoint");
  }
  const env = keyValues(strings(flags.env), "--env", true);
  if (env.length) config.env = env.map(([k, v]) => `${k}=${v}`);
  if (typeof flags.workdir === "string") {
    if (!flags.workdir.startsWith("/")) {
      throw new ServinError(
        "invalid-argument",
        `Invalid --workdir "${flags.workdir}": must be absolute`,
      );
    }
    config.working_dir = flags.workdir;
  }
  if (typeof flags.user === "string") config.user = flags.user;
  const labels = keyValues(strings(flags.label), "--label", false);
  if (labels.length) config.labels = Object.fromEntries(labels);
  return config;
}

/** One progress line on stderr, on a terminal only: the whole, then each part (layer). */
function progressPrinter(ctx: CommandContext, verb = "Importing"): ProgressFn | undefined {
  if (!ctx.errIsTerminal) return undefined;
  const start = performance.now();
  let last = 0;
  return (read, total, parts) => {
    const now = performance.now();
    if (now - last < 100 && read !== total) return;
    last = now;
    const rate = read / Math.max((now - start) / 1000, 0.001);
    const pct = (d: number, t: number) => `${t ? Math.floor((d / t) * 100) : 100}%`;
    const of = total ? ` / ${humanSize(total)} (${pct(read, total)})` : "";
    const each = (parts ?? []).map((p) => `${p.id} ${pct(p.done, p.total)}`).join("  ");
    const line = `${verb} ${humanSize(read)}${of}  ${humanSize(rate)}/s${each ? `  ${each}` : ""}`;
    let width = 0;
    try {
      width = Deno.consoleSize().columns;
    } catch { /* not a console */ }
    // A terminal that reports no width (0) gets the whole line.
    ctx.errRaw(`\r\x1b[K${width >= 40 ? line.slice(0, width - 1) : line}`);
  };
}

const FILTER_KEYS = new Set(["reference", "dangling", "label"]);

function parseFilters(list: string[]): ListFilter {
  const filter: ListFilter = {};
  for (const item of list) {
    const eq = item.indexOf("=");
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (eq < 0 || !FILTER_KEYS.has(key)) {
      throw new ServinError(
        "invalid-argument",
        `Invalid filter "${item}": use reference=PATTERN, dangling=true|false or label=KEY[=VALUE]`,
      );
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

function rows(images: ImageRecord[], noTrunc: boolean): string[][] {
  const now = new Date();
  return images.flatMap((img) => {
    const id = noTrunc ? `sha256:${img.id}` : shortId(img.id);
    const tail = [id, humanAgo(img.created, now), humanSize(img.size)];
    if (img.repo_tags.length === 0) return [["<none>", "<none>", ...tail]];
    return img.repo_tags.map((t) => {
      const { repository, tag } = splitTag(t);
      return [repository, tag, ...tail];
    });
  });
}

/** The built-in `image` command group. */
export function imageCommands() {
  return definePlugin({
    name: "commands-image",
    setup(api) {
      api.command({
        name: "image import",
        aliases: ["import"],
        summary: "Import a root-filesystem tarball (plain, gzip or zstd) as an image",
        usage: "[OPTIONS] TARBALL|- NAME[:TAG]",
        args: { min: 2, max: 2 },
        flags: {
          cmd: {
            type: "string",
            description: "Default command (JSON array or words)",
            value: "CMD",
          },
          entrypoint: {
            type: "string",
            description: "Entrypoint (JSON array or words)",
            value: "CMD",
          },
          env: {
            type: "string",
            short: "e",
            multiple: true,
            description: "Environment variable",
            value: "K=V",
          },
          workdir: { type: "string", short: "w", description: "Working directory", value: "DIR" },
          user: { type: "string", short: "u", description: "User", value: "USER" },
          label: { type: "string", short: "l", multiple: true, description: "Label", value: "K=V" },
          message: { type: "string", short: "m", description: "Commit message", value: "TEXT" },
          quiet: { type: "boolean", short: "q", description: "Print only the image ID" },
        },
        async run(ctx) {
          const [input, reference] = ctx.args as [string, string];
          const config = configFromFlags(ctx.flags);
          const servin = await ctx.servin();
          const onProgress = ctx.flags.quiet ? undefined : progressPrinter(ctx);
          try {
            const image = await servin.importImage(input, reference, {
              config,
              message: ctx.flags.message as string | undefined,
              onProgress,
            });
            ctx.out(`sha256:${image.id}`);
          } finally {
            if (onProgress) ctx.errRaw("\r\x1b[K");
          }
        },
      });

      api.command({
        name: "image ls",
        aliases: ["images", "image list"],
        summary: "List images, newest first",
        usage: "[OPTIONS]",
        args: { max: 0 },
        flags: {
          all: {
            type: "boolean",
            short: "a",
            description: "Show all images (no intermediate images exist)",
          },
          quiet: { type: "boolean", short: "q", description: "Only show image IDs" },
          "no-trunc": { type: "boolean", description: "Show full image IDs" },
          format: { type: "string", description: "Output format: table or json", value: "FORMAT" },
          filter: {
            type: "string",
            short: "f",
            multiple: true,
            description: "Filter: reference=PATTERN, dangling=true|false, label=KEY[=VALUE]",
            value: "FILTER",
          },
        },
        async run(ctx) {
          const format = (ctx.flags.format as string | undefined) ?? "table";
          if (format !== "table" && format !== "json") {
            throw new ServinError(
              "invalid-argument",
              `Invalid --format "${format}": use table or json`,
            );
          }
          const filter = parseFilters(strings(ctx.flags.filter));
          const images = await (await ctx.servin()).listImages(filter);
          const noTrunc = Boolean(ctx.flags["no-trunc"]);
          if (ctx.flags.quiet) {
            const ids = images.map((img) => noTrunc ? `sha256:${img.id}` : shortId(img.id));
            for (const id of new Set(ids)) ctx.out(id);
          } else if (format === "json") {
            const usage = new Map(
              (await (await ctx.servin()).diskUsage()).images.map((u) => [u.id, u]),
            );
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
            ctx.out(
              table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], rows(images, noTrunc)),
            );
          }
        },
      });

      api.command({
        name: "image inspect",
        summary: "Show images' records as a JSON array",
        usage: "IMAGE...",
        args: { min: 1 },
        async run(ctx) {
          const servin = await ctx.servin();
          return await inspectEach(ctx, (name) => servin.getImage(name));
        },
      });

      api.command({
        name: "image rm",
        aliases: ["rmi", "image remove"],
        summary: "Remove images by tag, ID or unique ID prefix",
        usage: "[OPTIONS] IMAGE...",
        args: { min: 1 },
        flags: {
          force: {
            type: "boolean",
            short: "f",
            description: "Remove an image with several tags by ID",
          },
        },
        async run(ctx) {
          const servin = await ctx.servin();
          return await eachArgument(ctx, async (name) => {
            const result = await servin.removeImage(name, { force: Boolean(ctx.flags.force) });
            for (const tag of result.untagged) ctx.out(`Untagged: ${tag}`);
            if (result.deleted) ctx.out(`Deleted: sha256:${result.deleted}`);
          });
        },
      });

      api.command({
        name: "image tag",
        aliases: ["tag"],
        summary: "Tag an image (moves the tag if another image has it)",
        usage: "SOURCE TARGET[:TAG]",
        args: { min: 2, max: 2 },
        async run(ctx) {
          const [source, target] = ctx.args as [string, string];
          await (await ctx.servin()).tagImage(source, target);
        },
      });

      api.command({
        name: "image load",
        aliases: ["load"],
        summary: "Load images from a docker-archive or OCI archive (tar or directory)",
        usage: "[OPTIONS]",
        args: { max: 0 },
        flags: {
          input: {
            type: "string",
            short: "i",
            description: "Read from FILE (or an OCI layout directory) instead of stdin",
            value: "FILE",
          },
          quiet: { type: "boolean", short: "q", description: "No progress" },
          platform: {
            type: "string",
            description: "Platform to pick from multi-platform images",
            value: "OS/ARCH[/VARIANT]",
          },
        },
        async run(ctx) {
          const input = (ctx.flags.input as string | undefined) ?? "-";
          if (input === "-" && Deno.stdin.isTerminal()) {
            throw new ServinError(
              "invalid-argument",
              "Nothing to load: give -i FILE or redirect stdin",
            );
          }
          const servin = await ctx.servin();
          const onProgress = ctx.flags.quiet ? undefined : progressPrinter(ctx, "Loading");
          try {
            const images = await servin.loadImages(input, {
              platform: ctx.flags.platform as string | undefined,
              onProgress,
            });
            if (onProgress) ctx.errRaw("\r\x1b[K");
            for (const { image, tags } of images) {
              if (tags.length === 0) ctx.out(`Loaded image ID: sha256:${image.id}`);
              for (const tag of tags) ctx.out(`Loaded image: ${tag}`);
            }
          } catch (err) {
            if (onProgress) ctx.errRaw("\r\x1b[K");
            throw err;
          }
        },
      });

      api.command({
        name: "image save",
        aliases: ["save"],
        summary: "Save images to an archive (docker+oci by default, docker-archive, oci-archive)",
        usage: "[OPTIONS] IMAGE...",
        args: { min: 1 },
        flags: {
          output: {
            type: "string",
            short: "o",
            description: "Write to FILE instead of stdout",
            value: "FILE",
          },
          format: {
            type: "string",
            description: "docker+oci (default), docker-archive or oci-archive",
            value: "FORMAT",
          },
        },
        async run(ctx) {
          const output = ctx.flags.output as string | undefined;
          if (!output && Deno.stdout.isTerminal()) {
            throw new ServinError(
              "invalid-argument",
              "Refusing to write an archive to a terminal: give -o FILE",
            );
          }
          await (await ctx.servin()).saveImages(ctx.args, output ?? Deno.stdout.writable, {
            format: ctx.flags.format as string | undefined,
          });
        },
      });

      api.command({
        name: "image export",
        summary: "Export an image's flattened filesystem as a tarball (.gz: gzip)",
        usage: "[OPTIONS] IMAGE",
        args: { min: 1, max: 1 },
        flags: {
          output: {
            type: "string",
            short: "o",
            description: "Write to FILE (FILE.gz is gzipped) instead of stdout",
            value: "FILE",
          },
        },
        async run(ctx) {
          const output = ctx.flags.output as string | undefined;
          if (!output && Deno.stdout.isTerminal()) {
            throw new ServinError(
              "invalid-argument",
              "Refusing to write a tarball to a terminal: give -o FILE",
            );
          }
          await (await ctx.servin()).exportImage(ctx.args[0]!, output ?? Deno.stdout.writable, {
            gzip: /\.t?gz$/.test(output ?? ""),
          });
        },
      });

      api.command({
        name: "image history",
        aliases: ["history"],
        summary: "Show the history of an image",
        usage: "[OPTIONS] IMAGE",
        args: { min: 1, max: 1 },
        flags: {
          "no-trunc": { type: "boolean", description: "Do not truncate output" },
          format: { type: "string", description: "Output format: table or json", value: "FORMAT" },
        },
        async run(ctx) {
          const servin = await ctx.servin();
          const image = await servin.getImage(ctx.args[0]!);
          const steps = await servin.history(ctx.args[0]!);
          if (ctx.flags.format === "json") {
            ctx.out(JSON.stringify(steps, null, 2));
            return;
          }
          const noTrunc = Boolean(ctx.flags["no-trunc"]);
          const cut = (t: string, n: number) =>
            noTrunc || t.length <= n ? t : `${t.slice(0, n - 1)}…`;
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
        },
      });

      api.command({
        name: "image prune",
        summary: "Remove dangling images (-a: all images no container uses), then unused layers",
        usage: "[OPTIONS]",
        args: { max: 0 },
        flags: {
          all: { type: "boolean", short: "a", description: "Remove all images no container uses" },
          force: { type: "boolean", short: "f", description: "Do not ask (Servin never asks)" },
        },
        async run(ctx) {
          const { deleted, reclaimed } = await (await ctx.servin()).pruneImages({
            all: Boolean(ctx.flags.all),
          });
          if (deleted.length) {
            ctx.out(
              ["Deleted Images:", ...deleted.map((id) => `deleted: sha256:${id}`), ""].join("\n"),
            );
          }
          ctx.out(`Total reclaimed space: ${humanSize(reclaimed)}`);
        },
      });

      const registryFlags = {
        "tls-verify": {
          type: "string" as const,
          description: "Verify TLS (true); false also allows plain HTTP",
          value: "BOOL",
        },
        "cert-dir": { type: "string" as const, description: "Extra CA certificates", value: "DIR" },
      };
      const registryOptions = (ctx: CommandContext) => {
        const verify = ctx.flags["tls-verify"] as string | undefined;
        if (verify !== undefined && verify !== "true" && verify !== "false") {
          throw new ServinError(
            "invalid-argument",
            `Invalid --tls-verify "${verify}": use true or false`,
          );
        }
        return {
          tlsVerify: verify === undefined ? undefined : verify === "true",
          certDir: ctx.flags["cert-dir"] as string | undefined,
        };
      };

      api.command({
        name: "image pull",
        aliases: ["pull"],
        summary: "Pull an image from a registry",
        usage: "[OPTIONS] NAME[:TAG|@DIGEST]",
        args: { min: 1, max: 1 },
        flags: {
          ...registryFlags,
          quiet: { type: "boolean", short: "q", description: "No progress; print only the ID" },
          platform: {
            type: "string",
            description: "Platform to pick from multi-platform images",
            value: "OS/ARCH[/VARIANT]",
          },
        },
        async run(ctx) {
          const servin = await ctx.servin();
          const onProgress = ctx.flags.quiet ? undefined : progressPrinter(ctx, "Pulling");
          try {
            const image = await servin.pullImage(ctx.args[0]!, {
              ...registryOptions(ctx),
              platform: ctx.flags.platform as string | undefined,
              onProgress,
            });
            if (onProgress) ctx.errRaw("\r\x1b[K");
            ctx.out(
              ctx.flags.quiet
                ? `sha256:${image.id}`
                : `Pulled ${image.repo_tags.at(-1) ?? ctx.args[0]}: sha256:${image.id}`,
            );
          } catch (err) {
            if (onProgress) ctx.errRaw("\r\x1b[K");
            throw err;
          }
        },
      });

      api.command({
        name: "image push",
        aliases: ["push"],
        summary: "Push an image to a registry; prints the manifest digest",
        usage: "[OPTIONS] IMAGE [DESTINATION]",
        args: { min: 1, max: 2 },
        flags: {
          ...registryFlags,
          quiet: { type: "boolean", short: "q", description: "No progress" },
        },
        async run(ctx) {
          const servin = await ctx.servin();
          const onProgress = ctx.flags.quiet ? undefined : progressPrinter(ctx, "Pushing");
          try {
            const digest = await servin.pushImage(ctx.args[0]!, ctx.args[1], {
              ...registryOptions(ctx),
              onProgress,
            });
            if (onProgress) ctx.errRaw("\r\x1b[K");
            ctx.out(`digest: ${digest}`);
          } catch (err) {
            if (onProgress) ctx.errRaw("\r\x1b[K");
            throw err;
          }
        },
      });

      api.command({
        name: "login",
        summary: "Log in to a registry (credentials kept in <root>/auth.json, mode 0600)",
        usage: "[OPTIONS] REGISTRY",
        args: { min: 1, max: 1 },
        flags: {
          ...registryFlags,
          username: { type: "string", short: "u", description: "User name", value: "USER" },
          "password-stdin": { type: "boolean", description: "Read the password from stdin" },
        },
        async run(ctx) {
          const username = ctx.flags.username as string | undefined;
          if (!username) {
            throw new ServinError("invalid-argument", "Give the user name with -u USER");
          }
          if (!ctx.flags["password-stdin"]) {
            throw new ServinError(
              "invalid-argument",
              "Give the password on stdin with --password-stdin",
            );
          }
          const password = (await new Response(Deno.stdin.readable).text()).replace(/\r?\n$/, "");
          if (!password) {
            throw new ServinError("invalid-argument", "The password on stdin is empty");
          }
          await (await ctx.servin()).login(
            ctx.args[0]!,
            { username, password },
            registryOptions(ctx),
          );
          ctx.out("Login Succeeded!");
        },
      });

      api.command({
        name: "logout",
        summary: "Forget the credentials for a registry",
        usage: "REGISTRY",
        args: { min: 1, max: 1 },
        async run(ctx) {
          const removed = await (await ctx.servin()).logout(ctx.args[0]!);
          ctx.out(
            removed
              ? `Removed login credentials for ${ctx.args[0]}`
              : `Not logged in to ${ctx.args[0]}`,
          );
        },
      });
    },
  });
}
