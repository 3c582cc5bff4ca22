/**
 * The typed hook map. Every hook takes one payload object, so hooks can grow
 * fields without breaking plugins.
 *
 * @module
 */

import type { ImageRecord } from "./image.ts";
import type {
  ImageSource,
  ImageStore,
  ImportOptions,
  Platform,
  ProgressFn,
  RegistryOptions,
  SourceProbe,
} from "./kinds.ts";
import type { StreamInput } from "./servin.ts";

/** Payload of `image:import:before`; throw to veto the import. */
export interface ImportBeforePayload {
  /** Tag the image will get. */
  reference: string;
  /** Path of the input (`-` for standard input). */
  path: string;
  /** Source that recognised the input. */
  source: string;
  /** Import options. */
  options: ImportOptions;
}

/** Payload of `input:open`. */
export interface InputOpenPayload {
  /** The input as the user gave it (path, `-`, URL, …). */
  path: string;
  /** What the input is for. */
  purpose: "import" | "load";
}

/** Payload of `image:push`. */
export interface PushPayload {
  /** The image to push. */
  image: ImageRecord;
  /** Where to (`registry/path:tag`). */
  reference: string;
  /** The store (blobs to upload). */
  store: ImageStore;
  /** Servin's data root (credentials). */
  root: string;
  /** Connection options. */
  registry: RegistryOptions;
  /** Reports bytes sent so far, per blob too. */
  progress?: ProgressFn;
}

/** Payload of `registry:login` and `registry:logout`. */
export interface LoginPayload {
  /** Registry host (and port). */
  registry: string;
  /** Servin's data root (credentials live in `<root>/auth.json`). */
  root: string;
  /** User name and password (login only). */
  credentials?: { username: string; password: string };
  /** Connection options. */
  options: RegistryOptions;
}

/** Payload of `image:remove:before`; throw to veto the removal. */
export interface RemoveBeforePayload {
  /** The image concerned. */
  image: ImageRecord;
  /** The tag being removed, or undefined when the image itself is deleted. */
  tag?: string;
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
  /** Before an import reads its input (series; throw to veto). */
  "image:import:before": (payload: ImportBeforePayload) => void | Promise<void>;
  /** After an image was committed by an import (parallel). */
  "image:import:after": (payload: { image: ImageRecord }) => void | Promise<void>;
  /** Before a tag or an image is removed (series; throw to veto). */
  "image:remove:before": (payload: RemoveBeforePayload) => void | Promise<void>;
  /** After tags or an image were removed (parallel). */
  "image:remove:after": (payload: RemoveAfterPayload) => void | Promise<void>;
  /**
   * Who opens this input? (first result wins) For inputs that are not local
   * files, such as URLs; the bytes are then recognised by content as usual.
   */
  "input:open": (
    payload: InputOpenPayload,
  ) => StreamInput | undefined | Promise<StreamInput | undefined>;
  /** Who pushes images to registries? (first result wins: the pushed manifest's digest) */
  "image:push": (payload: PushPayload) => Promise<string | undefined> | undefined;
  /** Who logs in to registries? (first result wins: true once credentials are checked and stored) */
  "registry:login": (payload: LoginPayload) => Promise<boolean | undefined> | undefined;
  /** Who logs out of registries? (first result wins: true when credentials were removed) */
  "registry:logout": (payload: LoginPayload) => Promise<boolean | undefined> | undefined;
  /** Which source understands this input? (first result wins) */
  "source:detect": (payload: SourceProbe) => ImageSource | undefined;
  /** Which platform is this host? (first result wins) */
  "platform:detect": (payload: { os: string }) => Platform | undefined;
}

/** Name of a hook. */
export type HookName = keyof HookMap;

/** Where a handler runs relative to the others of the same hook. */
export type HookOrder = "pre" | "normal" | "post";
