/**
 * The typed hook map. Hooks observe and veto; they never provide a
 * capability (kinds do). Every hook takes one payload object, so hooks can
 * grow fields without breaking plugins, and payloads of hooks that several
 * verbs fire are discriminated by `verb`.
 *
 * @module
 */

import type { ServinError } from "./errors.ts";
import type { ImageConfig, ImageRecord } from "./image.ts";
import type { RegistryOptions, TrustContext } from "./kinds.ts";

/** The verbs that bring an image into the store. */
export type IngestVerb = "import" | "load" | "pull" | "build" | "commit";

/**
 * Payload of `image:commit:before`: an image about to be stored, with its
 * runtime configuration, before any layer is committed. Throw to veto.
 * Changes to `config.labels` are kept: in the built config for `import`
 * (and `build`), in the index record otherwise (a config blob fixed by its
 * digest is never rewritten).
 */
export interface CommitBeforePayload {
  /** What brings the image in. */
  verb: IngestVerb;
  /** Where from (a path, `-`, a reference). */
  input: string;
  /** The tags it will get. */
  tags: string[];
  /** Its runtime configuration (mutable labels). */
  config: ImageConfig;
  /** The OCI config as received (absent for a root filesystem, whose config is built after). */
  oci?: Readonly<Record<string, unknown>>;
  /** What the source says of it: `source`, and a registry's `registry`, `repository`, `digest`. */
  origin?: Readonly<Record<string, string>>;
  /** Registry connection options of the copy (a policy fetching signatures uses them). */
  registry?: RegistryOptions;
  /** Data root and policy file of the open Servin. */
  trust?: TrustContext;
}

/** Payload of `image:commit:after`. */
export interface CommitAfterPayload {
  /** What brought the image in. */
  verb: IngestVerb;
  /** The image as stored. */
  image: ImageRecord;
}

/** Payload of `image:remove:before`; throw to veto the removal. */
export interface RemoveBeforePayload {
  /** The image concerned. */
  image: ImageRecord;
  /** The tag being removed, or undefined when the image itself is deleted. */
  tag?: string;
  /** True when the user forced the removal (`-f`). */
  force: boolean;
}

/** Payload of `image:remove:after`. */
export interface RemoveAfterPayload {
  /** The image as it was before. */
  image: ImageRecord;
  /** Tags removed. */
  untagged: string[];
  /** True when the image itself was deleted. */
  deleted: boolean;
}

/** Payload of `command:before`; throw to stop the command. */
export interface CommandBeforePayload {
  /** Command name (`image ls`). */
  command: string;
  /** Arguments after the command name. */
  args: string[];
}

/** Payload of `command:after`. */
export interface CommandAfterPayload {
  /** Command name. */
  command: string;
  /** Exit code the CLI is about to return. */
  exitCode: number;
  /** The error, when the command failed. */
  error?: unknown;
}

/** Every hook, by name, with its handler signature. */
export interface HookMap {
  /** Before dispatching a CLI command (series). */
  "command:before": (payload: CommandBeforePayload) => void | Promise<void>;
  /** After a CLI command finished (parallel). */
  "command:after": (payload: CommandAfterPayload) => void | Promise<void>;
  /** Before an image is stored, whatever verb brings it (series; throw to veto). */
  "image:commit:before": (payload: CommitBeforePayload) => void | Promise<void>;
  /** After an image was stored (parallel). */
  "image:commit:after": (payload: CommitAfterPayload) => void | Promise<void>;
  /** Before a tag or an image is removed, outside the store lock (series; throw to veto). */
  "image:remove:before": (payload: RemoveBeforePayload) => void | Promise<void>;
  /** After tags or an image were removed (parallel). */
  "image:remove:after": (payload: RemoveAfterPayload) => void | Promise<void>;
}

/** Name of a hook. */
export type HookName = keyof HookMap;

/** Where a handler runs relative to the others of the same hook. */
export type HookOrder = "pre" | "normal" | "post";

/** Results of a parallel hook run: what each handler returned, and what failed. */
export interface ParallelResult<T> {
  /** Returned values of the handlers that succeeded. */
  results: T[];
  /** Errors of the handlers that failed, wrapped with the plugin's name. */
  errors: ServinError[];
}

/** Running a hook's handlers (the plugin registry does). */
export interface HookRunner {
  /** Runs the handlers one after the other; the first error aborts, wrapped with the plugin's name. */
  series<K extends HookName>(hook: K, payload: Parameters<HookMap[K]>[0]): Promise<void>;
  /** Runs all handlers concurrently and collects their results and errors; never throws. */
  parallel<K extends HookName>(
    hook: K,
    payload: Parameters<HookMap[K]>[0],
  ): Promise<ParallelResult<Awaited<ReturnType<HookMap[K]>>>>;
}
