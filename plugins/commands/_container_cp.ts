/**
 * `servin cp [-a] [-L] SRC DST`: files between a container and the host, or
 * a tar stream (`-`) on either end, with `docker cp`'s rules for what goes
 * where. Every path on the container's side is resolved by `confine.ts`,
 * symlinks followed as if its root were `/`, never out of it; files are
 * read from it only through `openConfined`. What goes into a container, or
 * to the host, is first extracted by the extractor (`extract.ts`: a hostile
 * tar on stdin is refused there) into a staging directory, then merged into
 * place without writing through anything in the way (`copyLayers` merge).
 *
 * @module
 */

import { basename, dirname, join, posix, relative } from "node:path";
import type { CommandContext, ContainerRecord, Servin } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import { DEFAULT_LIMITS } from "../../core/image.ts";
import type { Platform } from "../../core/kinds.ts";
import { decompress, detectCompression, isSupported } from "../formats/compression.ts";
import { openConfined, resolveInRoot, unlessMissing } from "../formats/confine.ts";
import { unpack } from "../formats/extract.ts";
import { headerOf } from "../formats/layer_writer.ts";
import { mergedTree } from "../formats/layers.ts";
import { readTar, type TarEntry } from "../formats/tar.ts";
import { TarWriter } from "../formats/tar_writer.ts";
import { peek } from "../ingest/streams.ts";
import { copyLayers } from "../snapshot/_copy.ts";
import { stage, sweepStaging } from "../storage/fs.ts";

/** Staging of a copy: the entries extracted, before they are merged into place. */
const STAGING_PREFIX = "cp-";

/** A running container's mounts of kernel filesystems, seen through `/proc/PID/root`. */
const KERNEL_DIRS = new Set(["/proc", "/sys", "/dev"]);

/** One end of a copy: a tar stream, a host path, or a path in a container. */
type End =
  | { kind: "stream" }
  | { kind: "host"; path: string }
  | { kind: "container"; name: string; path: string };

/**
 * Docker's reading of a cp argument: `-` is a stream; an absolute path, or
 * one whose part before the first `:` holds a `/` or starts with `.`, is
 * local; else `CONTAINER:PATH` (a relative container path is from `/`).
 */
function parseEnd(arg: string): End {
  if (arg === "-") return { kind: "stream" };
  const i = arg.indexOf(":");
  if (arg.startsWith("/") || i <= 0 || arg.slice(0, i).includes("/") || arg.startsWith(".")) {
    return { kind: "host", path: arg };
  }
  const path = arg.slice(i + 1);
  return {
    kind: "container",
    name: arg.slice(0, i),
    path: path.startsWith("/") ? path : `/${path}`,
  };
}

/** What is copied: a file or directory, as found on its side. */
interface Source {
  /** Its path on the host (inside the container's rootfs for a container's). */
  path: string;
  /** Its lstat (or stat, with `-L`). */
  info: Deno.FileInfo;
  /** The name it is copied as, unless the destination renames it. */
  name: string;
  /** A directory whose contents, not itself, are copied (`SRC/.`). */
  contents: boolean;
  /** Opens a regular file of it (given its host path). */
  open(path: string): Promise<ReadableStream<Uint8Array>>;
  /** Directories (relative to it) listed without what they hold. */
  prune?(rel: string): boolean;
}

/** Where the entries land: under `dir`, the top one named `name` (`""`: into `dir` itself). */
interface Target {
  dir: string;
  name: string;
}

/** `servin cp [-a] [-L] SRC DST`. */
export async function copyFiles(ctx: CommandContext): Promise<void> {
  const [src, dst] = [parseEnd(ctx.args[0]!), parseEnd(ctx.args[1]!)];
  const archive = Boolean(ctx.flags.archive);
  const follow = Boolean(ctx.flags["follow-link"]);
  if (src.kind !== "container" && dst.kind !== "container") {
    throw new ServinError("invalid-argument", "One of SRC and DST must be CONTAINER:PATH");
  }
  if (src.kind === "container" && dst.kind === "container") {
    throw new ServinError("invalid-argument", "Copying between containers is not supported");
  }
  const servin = await ctx.servin();
  const warned = new Set<string>();
  const warn = (m: string) => {
    if (!warned.has(m)) ctx.err(`servin: warning: ${m}`);
    warned.add(m);
  };
  const withRootfs = servin.containers.withRootfs;
  if (!withRootfs) {
    throw new ServinError("unsupported", "The container service cannot reach a container's files");
  }
  if (src.kind === "container") {
    await withRootfs(src.name, async (rootfs, container) => {
      const label = `${src.name}:${src.path}`;
      offMounts(rootfs, container, posix.normalize(src.path), label);
      const source = containerSource(rootfs, src.path, src.name, follow);
      offMounts(rootfs, container, `/${relative(rootfs, source.path)}`, label);
      if (dst.kind === "stream") return await toStdout(source, servin.platform);
      // Unresolved: a trailing `/` says "a directory".
      const host = (dst as { path: string }).path;
      const target = destination(source, host, hostLookup, host);
      // Docker's rule: files copied out belong to the user who copies, unless -a.
      const owner = archive ? undefined : [Deno.uid() ?? 0, Deno.gid() ?? 0] as const;
      await place(servin, entries(source, target.name, servin.platform, owner), target.dir, warn);
    });
    return;
  }
  const into = dst as Extract<End, { kind: "container" }>;
  // Docker's rule: files copied in belong to root, unless -a keeps their owners.
  const owner = archive ? undefined : [0, 0] as const;
  if (src.kind === "stream") {
    await withRootfs(into.name, async (rootfs, container) => {
      writable(rootfs, container, posix.normalize(into.path), `${into.name}:${into.path}`);
      const dir = resolveInRoot(rootfs, into.path, { code: "not-found" });
      if (dir === undefined || !Deno.statSync(dir).isDirectory) {
        throw new ServinError(
          "invalid-argument",
          `Cannot copy a tar stream to ${into.name}:${into.path}: it must be an existing directory`,
        );
      }
      writable(rootfs, container, `/${relative(rootfs, dir)}`, `${into.name}:${into.path}`);
      const tar = readTar(await stdinTar(), DEFAULT_LIMITS);
      await place(servin, owner ? owned(tar, owner) : tar, dir, warn);
    });
    return;
  }
  const source = hostSource(src.path, follow);
  await withRootfs(into.name, async (rootfs, container) => {
    writable(rootfs, container, posix.normalize(into.path), `${into.name}:${into.path}`);
    const lookup = (path: string) => resolveInRoot(rootfs, path, { code: "not-found" });
    const target = destination(source, into.path, lookup, `${into.name}:${into.path}`);
    const inside = `/${relative(rootfs, join(target.dir, target.name))}`;
    writable(rootfs, container, inside, `${into.name}:${into.path}`);
    await place(servin, entries(source, target.name, servin.platform, owner), target.dir, warn);
  });
}

/**
 * Refuses `inside` (a path in the container) when it lies on a volume,
 * bind or tmpfs mount of a stopped container: those are mounted only while
 * it runs (a running container is seen as its process sees it, mounts included).
 */
function offMounts(rootfs: string, c: ContainerRecord, inside: string, label: string): void {
  if (rootfs.startsWith("/proc/")) return;
  for (const m of c.host?.mounts ?? []) {
    const dest = m.destination.replace(/\/+$/, "");
    if (inside === dest || inside.startsWith(`${dest}/`)) {
      throw new ServinError(
        "conflict",
        `Cannot copy ${label}: it is on a ${m.type} mount (${m.destination}), which a stopped container does not have (start it first)`,
      );
    }
  }
}

/**
 * Refuses to write at `inside` (a path in the container) in a stopped
 * container whose rootfs is read-only (`--read-only`; a running one's
 * refuses by itself), or on its mounts.
 */
function writable(rootfs: string, c: ContainerRecord, inside: string, label: string): void {
  offMounts(rootfs, c, inside, label);
  if (c.host?.readonly_rootfs && !rootfs.startsWith("/proc/")) {
    throw new ServinError(
      "conflict",
      `Cannot copy to ${label}: the container's root filesystem is read-only`,
    );
  }
}

/** The tar on stdin, decompressed when it is gzip or zstd (Docker's daemon takes those too). */
async function stdinTar(): Promise<ReadableStream<Uint8Array>> {
  const [head, whole] = await peek(Deno.stdin.readable, 8);
  const compression = detectCompression(head);
  if (!isSupported(compression)) {
    await whole.cancel();
    throw new ServinError(
      "invalid-archive",
      `Cannot read the tar on stdin: ${compression} compression is not supported`,
    );
  }
  return decompress(whole, compression);
}

/** `path` on the host with its symlinks resolved, or undefined when it does not exist. */
function hostLookup(path: string): string | undefined {
  return unlessMissing(() => Deno.realPathSync(path));
}

/** True when `path` ends with `/.` (or is `.`): the contents of the directory are copied. */
function isContents(path: string): boolean {
  return path === "." || path.endsWith("/.");
}

/** The last component of `path`, ignoring trailing slashes (`""` for the root). */
function lastName(path: string): string {
  return basename(path.replace(/\/+$/, ""));
}

function hostSource(path: string, follow: boolean): Source {
  const found = find(path, follow, hostLookup);
  if (!found) throw new ServinError("not-found", `Cannot copy "${path}": it does not exist`);
  return {
    ...found,
    open: async (p) => (await Deno.open(p)).readable,
  };
}

/**
 * A container's `path`, confined to `rootfs`: symlinks in its parents are
 * followed inside the container; the last one only with `-L` (or for `/.`).
 */
function containerSource(rootfs: string, path: string, name: string, follow: boolean): Source {
  const lookup = (p: string) => resolveInRoot(rootfs, p, { code: "not-found" });
  const found = find(path, follow, lookup);
  if (!found) {
    throw new ServinError("not-found", `Could not find the file ${path} in container ${name}`);
  }
  const top = `/${relative(rootfs, found.path)}`.replace(/\/$/, "");
  return {
    ...found,
    // A running container's kernel filesystems are not its files (Docker copies them empty).
    prune: (rel) => rootfs.startsWith("/proc/") && KERNEL_DIRS.has(`${top}/${rel}`),
    // The file checked is the file read, and no symlink is followed on the way.
    open: async (p) =>
      (await openConfined(rootfs, relative(rootfs, p), {
        symlinks: "refuse",
        label: `"${path}"`,
        code: "conflict",
      })).readable,
  };
}

/** The source at `path` (its parents resolved by `lookup`), or undefined. */
function find(
  path: string,
  follow: boolean,
  lookup: (path: string) => string | undefined,
): Omit<Source, "open"> | undefined {
  const contents = isContents(path);
  const name = lastName(path);
  // The root, a `/.` and a trailing `/` name a directory: resolved to its end.
  const whole = follow || contents || name === "" || path.endsWith("/");
  let real: string | undefined;
  if (whole) real = lookup(path);
  else {
    const parent = lookup(dirname(path));
    real = parent === undefined ? undefined : join(parent, name);
  }
  if (real === undefined) return undefined;
  const info = unlessMissing(() => Deno.lstatSync(real));
  if (info === undefined) return undefined;
  if ((contents || path.endsWith("/")) && !info.isDirectory) {
    throw new ServinError("invalid-argument", `Cannot copy "${path}": it is not a directory`);
  }
  return { path: real, info, name: name || ".", contents: contents || name === "" };
}

/**
 * Where `source` lands at `path` (`docker cp`'s rules): into an existing
 * directory under its own name (its contents, for `SRC/.`); over an
 * existing file (a file only); or at `path` itself, a new name in an
 * existing directory. `lookup` resolves a destination path (symlinks
 * followed, confined on a container's side); `label` names it in messages.
 */
function destination(
  source: Source,
  path: string,
  lookup: (path: string) => string | undefined,
  label: string,
): Target {
  const dir = source.info.isDirectory;
  const real = lookup(path);
  if (real !== undefined) {
    const info = Deno.statSync(real);
    if (info.isDirectory) return { dir: real, name: source.contents ? "" : source.name };
    if (dir) {
      throw new ServinError("invalid-argument", `Cannot copy a directory to the file ${label}`);
    }
    if (path.endsWith("/")) {
      throw new ServinError("invalid-argument", `Cannot copy to ${label}: it is not a directory`);
    }
    return { dir: dirname(real), name: basename(real) };
  }
  if (path.endsWith("/") && !dir) {
    throw new ServinError("not-found", `Cannot copy to ${label}: no such directory`);
  }
  const parent = lookup(dirname(path.replace(/\/+$/, "")));
  if (parent === undefined || !Deno.statSync(parent).isDirectory) {
    throw new ServinError("not-found", `Cannot copy to ${label}: its directory does not exist`);
  }
  return { dir: parent, name: lastName(path) };
}

/**
 * The tar entries of `source`, the top one named `name` (`""`: the root of
 * the archive), hardlinks kept; `owner` replaces every owner when given.
 */
async function* entries(
  source: Source,
  name: string,
  platform: Platform,
  owner?: readonly [number, number],
): AsyncGenerator<TarEntry> {
  const links = new Map<string, string>();
  const walk = source.info.isDirectory
    ? mergedTree([source.path], undefined, { prune: source.prune })
    : [{ rel: "", source: source.path, info: source.info }];
  for (const { rel, source: path, info } of walk) {
    const full = [name, rel].filter(Boolean).join("/");
    const header = headerOf(full || ".", path, info, platform.listxattr);
    if (!header) continue; // a socket: not a file tar can hold
    if (header.type === "dir") header.name += "/"; // as tar names directories
    if (owner) [header.uid, header.gid] = owner;
    const empty = (async function* () {})();
    if (header.type === "file" && (info.nlink ?? 1) > 1) {
      const key = `${info.dev}:${info.ino}`;
      const first = links.get(key);
      if (first) {
        yield { header: { ...header, type: "link", size: 0, linkname: first }, body: empty };
        continue;
      }
      links.set(key, header.name);
    }
    yield { header, body: header.type === "file" ? await source.open(path) : empty };
  }
}

/** `entries` with every owner replaced by `owner`. */
async function* owned(
  entries: AsyncIterable<TarEntry>,
  owner: readonly [number, number],
): AsyncGenerator<TarEntry> {
  for await (const e of entries) {
    yield { ...e, header: { ...e.header, uid: owner[0], gid: owner[1] } };
  }
}

/** Writes `source` as a tar stream to stdout (named as Docker names it: its own name, or `.`). */
async function toStdout(source: Source, platform: Platform): Promise<void> {
  const writer = Deno.stdout.writable.getWriter();
  try {
    const tar = new TarWriter((chunk) => writer.write(chunk));
    for await (const e of entries(source, source.contents ? "." : source.name, platform)) {
      await tar.add(e.header, e.body);
    }
    await tar.finish();
    await writer.ready;
  } finally {
    writer.releaseLock();
  }
}

/**
 * Extracts `entries` into a staging directory (the extractor's rules refuse
 * what would escape it), then merges that into `dir`: nothing in the way is
 * written through, a directory is never replaced by a file.
 */
async function place(
  servin: Servin,
  entries: AsyncIterable<TarEntry>,
  dir: string,
  warn: (message: string) => void,
): Promise<void> {
  const tmp = join(servin.root, "tmp");
  await Deno.mkdir(tmp, { recursive: true, mode: 0o700 });
  await sweepStaging(tmp, [STAGING_PREFIX]);
  const staging = await stage(tmp, `${STAGING_PREFIX}${crypto.randomUUID()}`);
  try {
    const tree = join(staging.path, "tree");
    await Deno.mkdir(tree);
    await unpack(entries, tree, {
      platform: servin.platform,
      warn,
      limits: DEFAULT_LIMITS,
    });
    await copyLayers([tree], dir, servin.platform, { merge: true });
  } finally {
    await staging.release();
  }
}
