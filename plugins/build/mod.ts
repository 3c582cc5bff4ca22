/**
 * Containerfile builds for library users: {@link build} runs a Containerfile
 * against a store opened with `openServin`. The builder itself
 * (`_build.ts`: parser, context, cache, RUN containers) is imported when a
 * build starts; the CLI's `build` command is defined with the image commands.
 *
 * @module
 */

import type { Servin } from "../../core/api.ts";
import type { ImageRecord } from "../../core/image.ts";

/** Options of {@link build}. */
export interface BuildOptions {
  /** The context: a directory, or `-` for a tar stream on `stdin`. */
  context: string;
  /** The Containerfile: a path, or `-` for stdin; default `CONTEXT/Containerfile`, else `Dockerfile`. */
  file?: string;
  /** Tags for the result. */
  tags?: string[];
  /** `--build-arg` values. */
  buildArgs?: Record<string, string>;
  /** Stage to build (name or index); the last one by default. */
  target?: string;
  /** Run every step again. */
  noCache?: boolean;
  /** When to pull base images (default `missing`). */
  pull?: "missing" | "always" | "never";
  /** Seconds since the epoch for creation times and a clamp of file times (`SOURCE_DATE_EPOCH`). */
  timestamp?: number;
  /** Network of RUN steps. */
  network?: "bridge" | "host" | "none";
  /** Labels for the result. */
  labels?: Record<string, string>;
  /** Where progress lines go (none: silent). */
  log?: (line: string) => void;
  /** Stops the build before its next step (a RUN under way is not killed by it); what it made so far stays as cache. */
  signal?: AbortSignal;
  /** Stdin, for `-` (default: the process's). */
  stdin?: ReadableStream<Uint8Array>;
}

/**
 * Builds the image a Containerfile describes, tags it with `options.tags`
 * and returns its record. Progress lines (BuildKit's plain format) go to
 * `options.log`. A failing step throws a `ServinError` naming the file and
 * the line, and leaves no image of that step, no tag and no container.
 *
 * @example
 * ```ts ignore
 * import { build, openServin } from "@servin/servin";
 * await using servin = await openServin();
 * const image = await build(servin, { context: ".", tags: ["app:latest"], timestamp: 0 });
 * console.log(image.id);
 * ```
 */
export async function build(servin: Servin, options: BuildOptions): Promise<ImageRecord> {
  const { build } = await import("./_build.ts");
  return await build(servin, options);
}
