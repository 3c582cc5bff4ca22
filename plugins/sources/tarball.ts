/**
 * The `tarball` source: a plain root-filesystem tarball, as `docker import`
 * takes, uncompressed, gzip or zstd. It becomes a one-layer image.
 *
 * @module
 */

import { ServinError } from "../../core/errors.ts";
import { definePlugin } from "../../core/registry.ts";
import {
  decompress,
  detectCompression,
  isSupported,
  layerMediaType,
} from "../formats/compression.ts";
import { isTarHeader } from "../formats/tar.ts";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** True when an unpacked "root filesystem" is really a docker-archive or an OCI layout. */
async function isImageArchive(dir: string): Promise<boolean> {
  if (await exists(`${dir}/oci-layout`) && await exists(`${dir}/index.json`)) return true;
  return await exists(`${dir}/manifest.json`) &&
    (await exists(`${dir}/repositories`) || await exists(`${dir}/blobs/sha256`));
}

/** The built-in tarball source plugin. */
export function tarballSource() {
  return definePlugin({
    name: "source-tarball",
    setup(api) {
      api.source({
        name: "tarball",
        detect(probe) {
          if (probe.purpose !== "import") return false;
          const compression = detectCompression(probe.head);
          if (compression !== "none") return true;
          return isTarHeader(probe.head);
        },
        async read({ probe, input, store }) {
          const compression = detectCompression(probe.head);
          if (!isSupported(compression)) {
            await input.cancel();
            throw new ServinError(
              "unsupported",
              `${compression} compression is not supported (use gzip, zstd or none)`,
            );
          }
          // The tarball as received is the layer blob; its content is the layer.
          const tee = store.stageBlob(input);
          let staged, blob;
          try {
            staged = await store.stageLayer(decompress(tee.output, compression), {
              label: probe.path,
            });
            blob = await tee.staged;
          } catch (err) {
            await tee.discard();
            throw err;
          }
          if (await isImageArchive(staged.path)) {
            await store.discard(staged);
            await store.discard(blob);
            throw new ServinError(
              "invalid-argument",
              'it is an image archive, not a root filesystem: use "servin image load"',
            );
          }
          return [{
            layers: [{
              diffId: staged.diffId,
              size: staged.size,
              staged,
              blob,
              mediaType: layerMediaType(compression),
            }],
            rootfsType: "tarball",
            metadata: { source: "tarball", compression },
          }];
        },
      });
    },
  });
}
