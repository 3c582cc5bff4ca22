/**
 * Signing commands: `key generate`, `image sign` and `image verify`, as
 * plain data; the work (`_trust.ts`) is imported when one of them runs.
 *
 * @module
 */

import type { CommandDef, FlagSpec } from "../../core/api.ts";
import type { Plugin } from "../../core/registry.ts";
import { commandGroup, format, registryFlags } from "./_define.ts";

const passphraseFile: FlagSpec = {
  type: "string",
  description: "Read the key's passphrase from FILE (else SERVIN_PASSPHRASE, else a prompt)",
  value: "FILE",
};

const keyGenerate: CommandDef = {
  name: "key generate",
  summary: "Make an ECDSA P-256 key pair in cosign's format (PREFIX.key, PREFIX.pub)",
  usage: "[OPTIONS]",
  args: { max: 0 },
  flags: {
    "output-key-prefix": {
      type: "string",
      description: "Write PREFIX.key and PREFIX.pub (default: servin)",
      value: "PREFIX",
    },
    "passphrase-file": passphraseFile,
  },
  run: async (ctx) => await (await import("./_trust.ts")).generateKeys(ctx),
};

const imageSign: CommandDef = {
  name: "image sign",
  summary: "Sign an image in a registry with a private key (sigstore attachment)",
  usage: "[OPTIONS] REGISTRY/REPOSITORY:TAG|@DIGEST",
  args: { min: 1, max: 1 },
  flags: {
    key: { type: "string", description: "Private key (PREFIX.key)", value: "FILE" },
    "passphrase-file": passphraseFile,
    "sign-identity": {
      type: "string",
      description: "Identity to sign (default: the reference as given)",
      value: "REF",
    },
    ...registryFlags,
  },
  run: async (ctx) => await (await import("./_trust.ts")).signImage(ctx),
};

const imageVerify: CommandDef = {
  name: "image verify",
  summary: "Check that an image in a registry has a valid signature by a public key",
  usage: "[OPTIONS] IMAGE",
  args: { min: 1, max: 1 },
  flags: {
    key: { type: "string", description: "Public key (PREFIX.pub)", value: "FILE" },
    identity: {
      type: "string",
      description: "Identity the signature must name (default: the image as given)",
      value: "REF",
    },
    format: format("text or json"),
    ...registryFlags,
  },
  run: async (ctx) => await (await import("./_trust.ts")).verifyImage(ctx),
};

/** The signing commands, in registration order. */
export const TRUST_COMMANDS: readonly CommandDef[] = [keyGenerate, imageSign, imageVerify];

/** The built-in signing command group. */
export function trustCommands(): Plugin {
  return commandGroup("commands-trust", TRUST_COMMANDS);
}
