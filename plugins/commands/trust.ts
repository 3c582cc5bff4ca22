/**
 * Signing commands: `key generate`, `image sign` and `image verify`, as
 * plain data; the work (`_trust.ts`) is imported when one of them runs.
 *
 * @module
 */

import type { CommandDef } from "../../core/api.ts";
import { command, lazy, opt, shared } from "./_define.ts";

const trust = lazy(() => import("./_trust.ts"));
const passphraseFile = opt(
  "FILE",
  "Read the key's passphrase from FILE (else SERVIN_PASSPHRASE, else a prompt)",
);

/** The signing commands, in registration order. */
export const TRUST_COMMANDS: readonly CommandDef[] = [
  command("key generate", "[OPTIONS]", trust("generateKeys"), {
    summary: "Make an ECDSA P-256 key pair in cosign's format (PREFIX.key, PREFIX.pub)",
    flags: {
      "output-key-prefix": opt("PREFIX", "Write PREFIX.key and PREFIX.pub (default: servin)"),
      "passphrase-file": passphraseFile,
    },
  }),
  command("image sign", "[OPTIONS] REGISTRY/REPOSITORY:TAG|@DIGEST", trust("signImage"), {
    summary: "Sign an image in a registry with a private key (sigstore attachment)",
    flags: {
      key: opt("FILE", "Private key (PREFIX.key)"),
      "passphrase-file": passphraseFile,
      "sign-identity": opt("REF", "Identity to sign (default: the reference as given)"),
      ...shared.registryFlags,
    },
  }),
  command("image verify", "[OPTIONS] IMAGE", trust("verifyImage"), {
    summary: "Check that an image in a registry has a valid signature by a public key",
    flags: {
      key: opt("FILE", "Public key (PREFIX.pub)"),
      identity: opt("REF", "Identity the signature must name (default: the image as given)"),
      format: shared.textFormat,
      ...shared.registryFlags,
    },
  }),
];
