/**
 * The `tarball` source: a plain root-filesystem tarball, as `docker import`
 * takes, uncompressed, gzip or zstd. It becomes a one-layer image whose
 * config the ingest pipeline builds.
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
