/**
 * The built-in image sources: `tarball` (import) and `archive` (load). The
 * registry source is the registry plugin's (`../registry/mod.ts`).
 *
 * The `tarball` source: a plain root-filesystem tarball, as `docker import`
 * takes, uncompressed, gzip or zstd. It becomes a one-layer image whose
 * config the ingest pipeline builds.
 *
 * The `archive` source, for `servin image load`: docker-archive (what
 * `docker save` and `podman save --format docker-archive` write) and the OCI
 * image layout, as a tar (`oci-archive`) or a directory. Told apart by
 * content. This module only registers it and sniffs the first bytes: the
 * reading (`_archive.ts`) is imported when a load starts.
 *
 * @module
 */

import { definePlugin, type Plugin } from "../../core/registry.ts";
import { detectCompression, isTarHeader } from "../formats/sniff.ts";

/** The built-in tarball source plugin. */
export function tarballSource(): Plugin {
  return definePlugin({
    name: "source-tarball",
    setup(api) {
      api.provide("source", {
        name: "tarball",
        verbs: ["import"],
        detect: ({ head }) => detectCompression(head) !== "none" || isTarHeader(head),
        async read({ input, head, emit }) {
          let opened = false;
          await emit({
            layers: [{
              descriptor: { mediaType: "" },
              open: () => {
                // The pipeline reads the one layer once: the input as received is its blob.
                if (opened) throw api.error("internal", "the input stream was read already");
                opened = true;
                return Promise.resolve(input);
              },
            }],
            tags: [],
            metadata: { source: "tarball", compression: detectCompression(head) },
          });
        },
      });
    },
  });
}

/** The built-in archive source plugin. */
export function archiveSource(): Plugin {
  return definePlugin({
    name: "source-archive",
    setup(api) {
      api.provide("source", {
        name: "archive",
        verbs: ["load"],
        detect: ({ head, directory }) =>
          Boolean(directory) || detectCompression(head) !== "none" || isTarHeader(head),
        read: async (ctx) => await (await import("./_archive.ts")).readArchive(ctx),
      });
    },
  });
}
