/**
 * Writing `servin image export`'s tarball for the `rootfs` sinks
 * (`rootfs.ts`), imported when an export starts: the merged view of the
 * image's layers, whiteouts applied, extended attributes kept (as
 * `SCHILY.xattr.*` pax records, which GNU tar `--xattrs` reads). A layer
 * the store does not hold complete fails the export before anything is
 * written.
 *
 * @module
 */

import { createGzip } from "node:zlib";
import { ServinError } from "../../core/errors.ts";
import { shortId } from "../../core/image.ts";
import type { StreamSinkContext as SinkContext } from "./_output.ts";
import { deviceNumbers, fileType, fileXattrs, mergedTree } from "../formats/layers.ts";
import type { TarHeader } from "../formats/tar.ts";
import { TarWriter } from "../formats/tar_writer.ts";

/** Writes the flattened filesystem of `ctx.images[0]` to `ctx.write`, gzip-compressed or not. */
export async function exportRootfs(ctx: SinkContext, gzip: boolean): Promise<void> {
  await (gzip ? gzipped(ctx, writeRootfs) : writeRootfs(ctx));
}

/** Runs `write` with its output gzip-compressed on the way to `ctx.write`. */
async function gzipped(
  ctx: SinkContext,
  write: (ctx: SinkContext) => Promise<void>,
): Promise<void> {
  const gzip = createGzip();
  const done = (async () => {
    for await (const chunk of gzip) await ctx.write(chunk as Uint8Array);
  })();
  await write({
    ...ctx,
    write: (chunk) =>
      new Promise<void>((resolve, reject) =>
        gzip.write(chunk, (err) => err ? reject(err) : resolve())
      ),
  });
  gzip.end();
  await done;
}

async function writeRootfs(ctx: SinkContext): Promise<void> {
  const image = ctx.images[0]!.image;
  for (const diffId of image.layers) {
    if (await ctx.store.layers.info(diffId)) continue;
    throw new ServinError(
      "invalid-archive",
      `Cannot export image ${shortId(image.id)}: its layer ${
        shortId(diffId)
      } is missing or incomplete (run "servin system check")`,
    );
  }
  const layers = await ctx.store.layers.mounts(image.layers);
  const tar = new TarWriter((chunk) => ctx.write(chunk));
  const links = new Map<string, string>();
  for (const { rel, source, info } of mergedTree(layers, ctx.platform.getxattr)) {
    const type = fileType(info);
    if (!type) continue;
    const name = rel === "" ? "./" : `./${rel}${type === "dir" ? "/" : ""}`;
    const [devmajor, devminor] = deviceNumbers(info);
    const header: TarHeader = {
      name,
      type,
      mode: (info.mode ?? 0) & 0o7777,
      uid: info.uid ?? 0,
      gid: info.gid ?? 0,
      size: type === "file" ? info.size : 0,
      mtime: Math.floor((info.mtime?.getTime() ?? 0) / 1000),
      linkname: type === "symlink" ? await Deno.readLink(source) : "",
      devmajor,
      devminor,
    };
    const xattrs = fileXattrs(ctx.platform.listxattr, source);
    if (xattrs) header.xattrs = xattrs;
    if (type === "file" && (info.nlink ?? 1) > 1) {
      // Hardlinks within a layer stay hardlinks.
      const key = `${info.dev}:${info.ino}`;
      const first = links.get(key);
      if (first) {
        await tar.add({ ...header, type: "link", size: 0, linkname: first, xattrs: undefined });
        continue;
      }
      links.set(key, name);
    }
    if (type === "file") await tar.add(header, (await Deno.open(source)).readable);
    else await tar.add(header);
  }
  await tar.finish();
}
