/**
 * sha256, as content addresses use it. This module imports `node:crypto`,
 * whose start-up costs more than listing an empty store: only modules that
 * run once a command moves bytes import it, the others import it lazily.
 *
 * @module
 */

import { createHash } from "node:crypto";

/**
 * Lowercase hex sha256 of `bytes`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sha256Hex } from "./digest.ts";
 * assert(sha256Hex("").startsWith("e3b0c442"));
 * ```
 */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** An incremental sha256: `update(bytes)` as they stream, then `digest("hex")`. */
export function sha256Hasher(): {
  update(bytes: Uint8Array): unknown;
  digest(encoding: "hex"): string;
} {
  return createHash("sha256");
}
