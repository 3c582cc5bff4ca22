/**
 * The trust plugin: signs and verifies images with sigstore key pairs
 * (cosign's format, which skopeo and podman read too) and enforces a
 * `containers-policy.json(5)` trust policy before a pulled image, or a
 * loaded one whose tags name a registry, is stored. It registers the
 * `trust` service, the built-in requirement types (`insecureAcceptAnything`,
 * `reject`, `sigstoreSigned`: other plugins may add more under the
 * `requirement` kind) and the `image:commit:before` check; the work is
 * imported when it is first needed.
 *
 * @module
 */

import { ServinError } from "../../core/errors.ts";
import type { Plugin } from "../../core/registry.ts";
import { lazyMethods, servicePlugin } from "../_lazy.ts";

/** A key pair as PEM text: the private key encrypted as cosign writes it, the public key as SPKI. */
export interface KeyPair {
  /** `ENCRYPTED SIGSTORE PRIVATE KEY` PEM. */
  privateKey: string;
  /** `PUBLIC KEY` PEM. */
  publicKey: string;
}

/**
 * Makes an ECDSA P-256 key pair in cosign's format, the private key sealed with `passphrase`.
 *
 * @example
 * ```ts ignore
 * import { generateKeyPair } from "@servin/servin";
 * const { privateKey, publicKey } = await generateKeyPair("correct horse battery staple");
 * await Deno.writeTextFile("signing.key", privateKey, { mode: 0o600 });
 * await Deno.writeTextFile("signing.pub", publicKey);
 * ```
 */
export async function generateKeyPair(passphrase: string): Promise<KeyPair> {
  return await (await import("./_keys.ts")).generateKeyPairPem(passphrase);
}

const work = () => import("./_sigstore.ts");

/** The built-in trust plugin. */
export function trustPlugin(): Plugin {
  const service = { name: "trust", ...lazyMethods(work, ["sign", "verify", "policyPath"]) };
  return servicePlugin("trust", service, (api) => {
    api.provide("requirement", {
      name: "insecureAcceptAnything",
      check: () => Promise.resolve(),
    });
    api.provide("requirement", {
      name: "reject",
      check: () => Promise.reject(new ServinError("vetoed", "the policy rejects it")),
    });
    api.provide("requirement", {
      name: "sigstoreSigned",
      check: async (requirement, image) =>
        await (await work()).checkSigstoreSigned(requirement, image),
    });
    api.on("image:commit:before", async (payload) => {
      if (payload.verb !== "pull" && payload.verb !== "load") return;
      await (await work()).enforce(payload);
    });
  });
}
