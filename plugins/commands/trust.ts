/**
 * Signing commands: `key generate`, `image sign` and `image verify`, as
 * plain data; the work (`_trust.ts`) is imported when one of them runs.
 *
 * @module
 */

import type { CommandDef } from "../../core/api.ts";
import type { Plugin } from "../../core/registry.ts";
import { command, commandGroup, format, lazy, opt, registryFlags } from "./_define.ts";

const trust = lazy(() => import("./_trust.ts"));
const passphraseFile = opt(
  "FILE",
  "Read the key's passphrase from FILE (else SERVIN_PASSPHRASE, else a prompt)",
);

/** The signing commands, in registration order. */
export const TRUST_COMMANDS: readonly CommandDef[] = [
  command("key generate", "[OPTIONS]", { max: 0 }, {
    summary: "Make an ECDSA P-256 key pair in cosign's format (PREFIX.key, PREFIX.pub)",
    flags: {
      "output-key-prefix": opt("PREFIX", "Write PREFIX.key and PREFIX.pub (default: servin)"),
      "passphrase-file": passphraseFile,
    },
    run: trust("generateKeys"),
  }),
  command("image sign", "[OPTIONS] REGISTRY/REPOSITORY:TAG|@DIGEST", { min: 1, max: 1 }, {
    summary: "Sign an image in a registry with a private key (sigstore attachment)",
    flags: {
      key: opt("FILE", "Private key (PREFIX.key)"),
      "passphrase-file": passphraseFile,
      "sign-identity": opt("REF", "Identity to sign (default: the reference as given)"),
      ...registryFlags,
    },
    run: trust("signImage"),
  }),
  command("image verify", "[OPTIONS] IMAGE", { min: 1, max: 1 }, {
    summary: "Check that an image in a registry has a valid signature by a public key",
    flags: {
      key: opt("FILE", "Public key (PREFIX.pub)"),
      identity: opt("REF", "Identity the signature must name (default: the image as given)"),
      format: format("text or json"),
      ...registryFlags,
    },
    run: trust("verifyImage"),
  }),
];

/** The built-in signing command group. */
export function trustCommands(): Plugin {
  return commandGroup("commands-trust", TRUST_COMMANDS);
}
