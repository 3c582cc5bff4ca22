/**
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
