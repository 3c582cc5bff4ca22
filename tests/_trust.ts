/**
 * Helpers of the signing tests (trust_test.ts, cosign_vectors_test.ts).
 *
 * @module
 */

import assert from "node:assert/strict";
import { run } from "./_cli.ts";

/**
 * Runs `servin image verify --key PUB [flags] REF` in `root` and asserts that
 * it fails: exit 1, with `why` on stderr.
 */
export async function assertVerifyFails(
  root: string,
  pub: string,
  ref: string,
  why: RegExp,
  flags: string[] = [],
): Promise<void> {
  const r = await run(root, ["image", "verify", "--key", pub, ...flags, ref]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, why);
}
