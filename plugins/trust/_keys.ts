/**
 * Key pairs in cosign's format, which containers/image (skopeo, podman) and
 * cosign read and write: an ECDSA P-256 private key as PKCS#8, sealed with a
 * key derived from the passphrase by scrypt in a NaCl secretbox, inside a
 * JSON envelope inside PEM (`ENCRYPTED SIGSTORE PRIVATE KEY`, formerly
 * `ENCRYPTED COSIGN PRIVATE KEY`); the public key as PEM SPKI. Signatures are
 * ECDSA over SHA-256, DER-encoded, as Go's `ecdsa.SignASN1` makes them.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  scrypt,
  sign as nodeSign,
  verify as nodeVerify,
} from "node:crypto";
import type naclTypes from "tweetnacl";
import { ServinError } from "../../core/errors.ts";

// Imported by a name the module graph does not follow, so that commands that never open a key
// (and their fresh caches) do not fetch the package: the type import keeps it checked and cached.
const NACL = "tweetnacl";
let loaded: Promise<typeof naclTypes> | undefined;
function secretbox(): Promise<typeof naclTypes> {
  return loaded ??= import(NACL).then((m) => (m.default ?? m) as typeof naclTypes);
}

/** The PEM label cosign writes now. */
export const PRIVATE_LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY";
/** The label older cosign releases wrote; still read. */
export const LEGACY_PRIVATE_LABEL = "ENCRYPTED COSIGN PRIVATE KEY";

// go-securesystemslib's parameters: the legacy set is what every reader accepts,
// so keys are written with it; the stronger sets newer writers use are read too.
const WRITE_PARAMS = { N: 32768, r: 8, p: 1 };
const READ_N = [32768, 65536, 131072];
const SALT_BYTES = 32;

/** A key pair as PEM text. */
export interface KeyPairPem {
  /** `ENCRYPTED SIGSTORE PRIVATE KEY` PEM. */
  privateKey: string;
  /** `PUBLIC KEY` PEM (SPKI). */
  publicKey: string;
}

function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64").replace(/.{1,64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${b64}-----END ${label}-----\n`;
}

/** The DER bytes of the first PEM block labelled one of `labels`, or undefined. */
function unpem(text: string, labels: string[]): { label: string; der: Uint8Array } | undefined {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\sA-Za-z0-9+/=]*?)-----END \1-----/.exec(text);
  if (!m || !labels.includes(m[1]!)) return undefined;
  return { label: m[1]!, der: new Uint8Array(Buffer.from(m[2]!.replace(/\s+/g, ""), "base64")) };
}

function deriveKey(
  passphrase: string,
  salt: Uint8Array,
  params: { N: number; r: number; p: number },
): Promise<Uint8Array> {
  return new Promise((resolve, reject) =>
    // 128·N·r bytes of memory: 32 MiB for the parameters written, more than Node's default cap.
    scrypt(passphrase, salt, 32, { ...params, maxmem: 256 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(new Uint8Array(key)))
  );
}

/**
 * Makes a new ECDSA P-256 key pair; the private key is sealed with `passphrase`.
 *
 * @example
 * ```ts ignore
 * const { privateKey, publicKey } = await generateKeyPairPem("correct horse");
 * ```
 */
export async function generateKeyPairPem(passphrase: string): Promise<KeyPairPem> {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const pkcs8 = new Uint8Array(privateKey.export({ format: "der", type: "pkcs8" }));
  const salt = new Uint8Array(randomBytes(SALT_BYTES));
  const nacl = await secretbox();
  const nonce = new Uint8Array(randomBytes(nacl.secretbox.nonceLength));
  const key = await deriveKey(passphrase, salt, WRITE_PARAMS);
  const sealed = nacl.secretbox(pkcs8, nonce, key);
  const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
  const envelope = {
    kdf: { name: "scrypt", params: WRITE_PARAMS, salt: b64(salt) },
    cipher: { name: "nacl/secretbox", nonce: b64(nonce) },
    ciphertext: b64(sealed),
  };
  const spki = new Uint8Array(publicKey.export({ format: "der", type: "spki" }));
  return {
    privateKey: pem(PRIVATE_LABEL, new TextEncoder().encode(JSON.stringify(envelope))),
    publicKey: pem("PUBLIC KEY", spki),
  };
}

function bad(what: string, why: string): ServinError {
  return new ServinError("invalid-argument", `Cannot read ${what}: ${why}`);
}

/** Opens cosign's encrypted private key `text` with `passphrase`; a wrong one is `unauthorized`. */
export async function readPrivateKey(
  text: string,
  passphrase: string,
  what = "the private key",
): Promise<KeyObject> {
  const block = unpem(text, [PRIVATE_LABEL, LEGACY_PRIVATE_LABEL]);
  if (!block) {
    throw bad(what, `not a PEM "${PRIVATE_LABEL}" (or "${LEGACY_PRIVATE_LABEL}") block`);
  }
  let env: {
    kdf?: { name?: unknown; params?: { N?: unknown; r?: unknown; p?: unknown }; salt?: unknown };
    cipher?: { name?: unknown; nonce?: unknown };
    ciphertext?: unknown;
  };
  try {
    env = JSON.parse(new TextDecoder().decode(block.der));
  } catch {
    throw bad(what, "its envelope is not JSON");
  }
  const { N, r, p } = env.kdf?.params ?? {};
  if (env.kdf?.name !== "scrypt" || !READ_N.includes(N as number) || r !== 8 || p !== 1) {
    throw bad(what, "it uses an unsupported key derivation (scrypt N=2^15..2^17, r=8, p=1)");
  }
  if (env.cipher?.name !== "nacl/secretbox") {
    throw bad(what, `it uses an unsupported cipher "${env.cipher?.name}"`);
  }
  const nacl = await secretbox();
  const bytes = (v: unknown) =>
    typeof v === "string" ? new Uint8Array(Buffer.from(v, "base64")) : new Uint8Array();
  const salt = bytes(env.kdf.salt);
  const nonce = bytes(env.cipher.nonce);
  if (salt.length === 0 || nonce.length !== nacl.secretbox.nonceLength) {
    throw bad(what, "its salt or nonce is missing");
  }
  const key = await deriveKey(passphrase, salt, { N: N as number, r: 8, p: 1 });
  const opened = nacl.secretbox.open(bytes(env.ciphertext), nonce, key);
  if (!opened) {
    throw new ServinError("invalid-argument", `Cannot open ${what}: wrong passphrase`);
  }
  try {
    const keyObject = createPrivateKey({ key: Buffer.from(opened), format: "der", type: "pkcs8" });
    if (keyObject.asymmetricKeyDetails?.namedCurve !== "prime256v1") throw new Error("curve");
    return keyObject;
  } catch {
    throw bad(what, "it does not hold an ECDSA P-256 key");
  }
}

/** Reads a PEM `PUBLIC KEY` (ECDSA P-256). */
export function readPublicKey(text: string, what = "the public key"): KeyObject {
  const block = unpem(text, ["PUBLIC KEY"]);
  if (!block) throw bad(what, 'not a PEM "PUBLIC KEY" block');
  try {
    const key = createPublicKey({ key: Buffer.from(block.der), format: "der", type: "spki" });
    if (key.asymmetricKeyDetails?.namedCurve !== "prime256v1") throw new Error("curve");
    return key;
  } catch {
    throw bad(what, "it is not an ECDSA P-256 public key");
  }
}

/** ECDSA-P256-SHA256 signature of `data`, DER-encoded. */
export function signBytes(key: KeyObject, data: Uint8Array): Uint8Array {
  return new Uint8Array(nodeSign("sha256", data, key));
}

/** True when `signature` (DER) is `key`'s over `data`. */
export function verifyBytes(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return nodeVerify("sha256", data, key, signature);
  } catch {
    return false;
  }
}
