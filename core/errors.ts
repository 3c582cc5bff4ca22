/**
 * Errors of Servin: one type with a stable `code`, so callers branch on the
 * kind of failure and never on the text.
 *
 * @module
 */

/** The kinds of failure Servin reports. */
export type ErrorCode =
  | "invalid-argument"
  | "usage"
  | "not-found"
  | "already-exists"
  | "ambiguous"
  | "conflict"
  | "invalid-archive"
  | "unsafe-archive"
  | "limit-exceeded"
  | "unsupported"
  | "unreachable"
  | "plugin"
  | "vetoed"
  | "untrusted"
  | "os-error"
  | "internal";

/** Options of a {@link ServinError}. */
export interface ServinErrorOptions {
  /** The error that caused this one. */
  cause?: unknown;
}

/**
 * The error every Servin layer throws for a failure a user can act on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ServinError } from "./errors.ts";
 * const err = new ServinError("not-found", 'No such image: "alpine:latest"');
 * assert(err.code === "not-found");
 * ```
 */
export class ServinError extends Error {
  /** Stable kind of the failure. */
  readonly code: ErrorCode;

  /** Creates an error of kind `code` with a one-line user message. */
  constructor(code: ErrorCode, message: string, options: ServinErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ServinError";
    this.code = code;
  }
}

/**
 * The {@link ServinError} (code `os-error`) for a failure the operating
 * system reported — a read-only or full file system, a permission refused,
 * a missing file — or undefined for anything else. The message is the
 * system's, in lower case, with what was being done:
 * `Read-only file system (os error 30): mkdir '/x'` becomes
 * `read-only file system: mkdir '/x'`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { osError } from "./errors.ts";
 * const err = osError(new Error("No space left on device (os error 28): write '/x'"));
 * assert(err?.message === "no space left on device: write '/x'");
 * ```
 */
export function osError(err: unknown): ServinError | undefined {
  if (!(err instanceof Error) || err instanceof ServinError) return undefined;
  const line = messageOf(err);
  const os = /^(.+?) \(os error \d+\)(?::\s*(.*))?$/.exec(line);
  if (os) {
    const what = os[1]!.charAt(0).toLowerCase() + os[1]!.slice(1);
    return new ServinError("os-error", os[2] ? `${what}: ${os[2]}` : what, { cause: err });
  }
  // node:fs and friends: `ENOSPC: no space left on device, write`.
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && /^E[A-Z0-9]+$/.test(code) && line.startsWith(`${code}: `)) {
    return new ServinError("os-error", line.slice(code.length + 2), { cause: err });
  }
  return undefined;
}

/** Exit code for a failure the user can fix (bad input, unknown image, refused archive). */
export const EXIT_USER_ERROR = 1;
/** Exit code for an unexpected failure inside Servin or a plugin (a bug). */
export const EXIT_INTERNAL_ERROR = 2;

/** True when `err` is a {@link ServinError}, optionally of the given `code`. */
export function isServinError(err: unknown, code?: ErrorCode): err is ServinError {
  return err instanceof ServinError && (code === undefined || err.code === code);
}

/** Returns a one-line message for any thrown value. */
export function messageOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n")[0] ?? text;
}
