/**
 * The ingest plugin: the one pipeline import, load, pull and build go
 * through. Its module is loaded when something is first ingested.
 *
 * @module
 */

import type { Plugin } from "../../core/registry.ts";
import { servicePlugin } from "../_lazy.ts";

/** Options of {@link ingestPlugin}. */
export interface IngestPluginOptions {
  /** Layers fetched and unpacked at once (default 3). */
  parallel?: number;
}

/** The built-in ingest pipeline plugin. */
export function ingestPlugin(options: IngestPluginOptions = {}): Plugin {
  return servicePlugin("ingest", {
    name: "ingest",
    async ingest(request, context) {
      const { ingest } = await import("./pipeline.ts");
      return await ingest(request, context, options.parallel ?? 3);
    },
    async append(request, context) {
      return await (await import("./pipeline.ts")).append(request, context);
    },
  });
}
