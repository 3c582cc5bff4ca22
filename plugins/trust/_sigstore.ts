/**
 * The work of the trust plugin (`mod.ts`), imported when a signature is
 * made or checked: simple-signing payloads, sigstore attachments in a
 * registry (an OCI manifest tagged `sha256-<hex>.sig` beside the image, one
 * layer per signature, as cosign and containers/image write them), the
 * `sigstoreSigned` requirement and its `signedIdentity` rules, and the
 * policy check that runs before a pulled or loaded image is stored.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { join, resolve } from "node:path";
import { ServinError } from "../../core/errors.ts";
import type { CommitBeforePayload } from "../../core/hooks.ts";
import type {
  ImageSignature,
  PolicyImage,
  RegistryOptions,
  TrustContext,
  TrustOptions,
  VerifiedSignature,
} from "../../core/kinds.ts";
import { parseRegistryReference, type RegistryReference } from "../../core/reference.ts";
import { sha256Hex } from "../formats/digest.ts";
import type { RegistryClient } from "../registry/client.ts";
import { ACCEPT, client } from "../registry/_transfer.ts";
import { readPrivateKey, readPublicKey, signBytes, verifyBytes } from "./_keys.ts";
import { dockerScopes, pathScopes, Policy } from "./policy.ts";

/** Media type of a simple-signing payload layer. */
export const SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json";
/** Annotation holding the base64 signature. */
export const SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const SIGNATURE_TYPE = "cosign container image signature";
/** Most signatures read per image; more is a registry trying to wear us out. */
const MAX_SIGNATURES = 64;
const PAYLOAD_LIMIT = 64 * 1024;

// ---------------------------------------------------------------- identities

/** A parsed docker reference: repository (`host/path`), and a tag or digest when named. */
interface Identity {
  repo: string;
  tag?: string;
  digest?: string;
}

/** Parses a docker reference as containers/image normalises it; `what` names it in errors. */
function identityOf(text: string, what: string): Identity {
  let ref: RegistryReference;
  try {
    ref = parseRegistryReference(text);
  } catch {
    throw new ServinError("untrusted", `${what} "${text}" is not a valid reference`);
  }
  const name = text.split("@")[0]!;
  const explicitTag = name.slice(name.lastIndexOf("/") + 1).includes(":");
  return {
    repo: `${ref.registry}/${ref.path}`,
    tag: explicitTag ? ref.tag : undefined,
    digest: ref.digest,
  };
}

function formatIdentity(id: Identity): string {
  return `${id.repo}${id.tag ? `:${id.tag}` : ""}${id.digest ? `@${id.digest}` : ""}`;
}

function sameExact(a: Identity, b: Identity): boolean {
  return (a.tag !== undefined || a.digest !== undefined) && formatIdentity(a) === formatIdentity(b);
}

/**
 * True when a signature naming `signed` is acceptable for an image known as
 * `image` under the `signedIdentity` rule (containers-policy.json(5)).
 */
export function identityMatches(
  rule: Readonly<Record<string, unknown>> | undefined,
  image: Identity,
  signed: Identity,
): boolean {
  const type = rule?.type ?? "matchRepoDigestOrExact";
  const repoDigestOrExact = (img: Identity) =>
    img.digest && !img.tag ? img.repo === signed.repo : sameExact(img, signed);
  switch (type) {
    case "matchExact":
      return sameExact(image, signed);
    case "matchRepoDigestOrExact":
      return repoDigestOrExact(image);
    case "matchRepository":
      return image.repo === signed.repo;
    case "exactReference": {
      const want = identityOf(String(rule?.dockerReference ?? ""), "dockerReference");
      if (!want.tag && !want.digest) return false;
      return sameExact(want, signed);
    }
    case "exactRepository":
      return identityOf(String(rule?.dockerRepository ?? ""), "dockerRepository").repo ===
        signed.repo;
    case "remapIdentity": {
      const prefix = String(rule?.prefix ?? "");
      const signedPrefix = String(rule?.signedPrefix ?? "");
      const full = formatIdentity(image);
      const boundary = full.length === prefix.length || /^[/:@]/.test(full.slice(prefix.length)) ||
        prefix.endsWith("/");
      if (!prefix || !full.startsWith(prefix) || !boundary) return repoDigestOrExact(image);
      return repoDigestOrExact(
        identityOf(signedPrefix + full.slice(prefix.length), "the remapped identity"),
      );
    }
    default:
      throw new ServinError("untrusted", `unknown signedIdentity type "${type}"`);
  }
}

// ---------------------------------------------------------------- payloads

/** The simple-signing payload containers/image writes for `identity` and `digest`. */
export function makePayload(identity: string, digest: string): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({
    critical: {
      identity: { "docker-reference": identity },
      image: { "docker-manifest-digest": digest },
      type: SIGNATURE_TYPE,
    },
    optional: { creator: "servin", timestamp: Math.floor(Date.now() / 1000) },
  }));
}

/** Reads a payload with containers/image's strictness: exactly the fields it defines. */
function parsePayload(bytes: Uint8Array): VerifiedSignature {
  const bad = (why: string) => new ServinError("untrusted", `invalid signature payload: ${why}`);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw bad("not JSON");
  }
  const exact = (o: unknown, keys: string[], where: string): Record<string, unknown> => {
    if (typeof o !== "object" || o === null || Array.isArray(o)) {
      throw bad(`${where} not an object`);
    }
    const have = Object.keys(o).sort().join();
    if (have !== [...keys].sort().join()) throw bad(`${where} has fields ${have}`);
    return o as Record<string, unknown>;
  };
  const critical = exact(exact(doc, ["critical", "optional"], "the payload").critical, [
    "identity",
    "image",
    "type",
  ], "critical");
  if (critical.type !== SIGNATURE_TYPE) throw bad(`type is "${critical.type}"`);
  const identity = exact(critical.identity, ["docker-reference"], "critical.identity");
  const image = exact(critical.image, ["docker-manifest-digest"], "critical.image");
  const ref = identity["docker-reference"];
  const digest = image["docker-manifest-digest"];
  if (typeof ref !== "string" || typeof digest !== "string") throw bad("fields are not strings");
  return { identity: ref, digest, payload: doc };
}

// ---------------------------------------------------------------- registry

interface Remote {
  ref: RegistryReference;
  registry: RegistryClient;
  scope: string;
}

async function connect(
  reference: string,
  root: string,
  options: RegistryOptions,
  push: boolean,
): Promise<Remote> {
  const ref = parseRegistryReference(reference);
  const registry = await client(root, ref.registry, options, {});
  return { ref, registry, scope: `repository:${ref.path}:pull${push ? ",push" : ""}` };
}

/** The digest of the manifest (or index) the reference names, as the registry holds it. */
async function manifestDigest(remote: Remote): Promise<string> {
  const { ref, registry, scope } = remote;
  const { bytes } = await registry.document(
    `/v2/${ref.path}/manifests/${ref.digest ?? ref.tag ?? "latest"}`,
    scope,
    { headers: { accept: ACCEPT }, what: "the manifest" },
  );
  const digest = `sha256:${sha256Hex(bytes)}`;
  if (ref.digest && digest !== ref.digest) {
    throw new ServinError(
      "invalid-archive",
      `the registry sent a manifest that is not ${ref.digest}`,
    );
  }
  return digest;
}

interface Attachment {
  manifest: { layers: Record<string, unknown>[] } & Record<string, unknown>;
  config: Record<string, unknown>;
}

const sigTag = (digest: string) => `sha256-${digest.slice(7)}.sig`;

/** The signature manifest and config attached to `digest`, or undefined when there is none. */
async function readAttachment(remote: Remote, digest: string): Promise<Attachment | undefined> {
  const { ref, registry, scope } = remote;
  const got = await registry.request("GET", `/v2/${ref.path}/manifests/${sigTag(digest)}`, scope, {
    headers: { accept: OCI_MANIFEST },
    ok: [404],
  });
  if (got.status === 404) {
    await got.body?.cancel();
    return undefined;
  }
  const text = await readLimited(got, 4 * 1024 * 1024, "the signature manifest");
  let manifest: Attachment["manifest"];
  try {
    manifest = JSON.parse(text);
  } catch {
    throw new ServinError("invalid-archive", "the signature manifest is not JSON");
  }
  if (!Array.isArray(manifest?.layers)) {
    throw new ServinError("invalid-archive", "the signature manifest has no layers");
  }
  const configDesc = manifest.config as { digest?: string; size?: number } | undefined;
  let config: Record<string, unknown> = {};
  if (configDesc?.digest && typeof configDesc.size === "number") {
    const bytes = await blobBytes(remote, configDesc.digest, configDesc.size, "the config");
    try {
      config = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      config = {};
    }
  }
  return { manifest, config };
}

async function readLimited(r: Response, limit: number, what: string): Promise<string> {
  const bytes = new Uint8Array(await r.arrayBuffer());
  if (bytes.length > limit) throw new ServinError("limit-exceeded", `${what} is too large`);
  return new TextDecoder().decode(bytes);
}

async function blobBytes(
  remote: Remote,
  digest: string,
  size: number,
  what: string,
): Promise<Uint8Array> {
  if (!/^sha256:[0-9a-f]{64}$/.test(digest) || size > PAYLOAD_LIMIT) {
    throw new ServinError("invalid-archive", `${what} has a bad digest or is too large`);
  }
  const stream = remote.registry.blob(remote.ref.path, digest, size, remote.scope);
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  if (`sha256:${sha256Hex(bytes)}` !== digest) {
    throw new ServinError("invalid-archive", `${what} does not match its digest`);
  }
  return bytes;
}

/** The sigstore signatures attached to `digest` (none when nothing is attached). */
async function fetchSignatures(remote: Remote, digest: string): Promise<ImageSignature[]> {
  const attachment = await readAttachment(remote, digest);
  const out: ImageSignature[] = [];
  for (const layer of attachment?.manifest.layers.slice(0, MAX_SIGNATURES) ?? []) {
    if (layer.mediaType !== SIMPLE_SIGNING) continue;
    const annotations = (layer.annotations ?? {}) as Record<string, unknown>;
    const signature = annotations[SIGNATURE_ANNOTATION];
    if (typeof signature !== "string") continue;
    const payload = await blobBytes(
      remote,
      String(layer.digest),
      Number(layer.size),
      "a signature payload",
    );
    out.push({ payload, signature });
  }
  return out;
}

/** Uploads `bytes` as a blob unless the repository has it; returns its descriptor. */
async function uploadBlob(
  remote: Remote,
  bytes: Uint8Array,
  mediaType: string,
): Promise<{ mediaType: string; digest: string; size: number }> {
  const { ref, registry, scope } = remote;
  const digest = `sha256:${sha256Hex(bytes)}`;
  const desc = { mediaType, digest, size: bytes.length };
  const head = await registry.request("HEAD", `/v2/${ref.path}/blobs/${digest}`, scope, {
    ok: [404],
  });
  await head.body?.cancel();
  if (head.status === 200) return desc;
  const start = await registry.request("POST", `/v2/${ref.path}/blobs/uploads/`, scope, {
    ok: [202],
  });
  await start.body?.cancel();
  const location = start.headers.get("location");
  if (!location) throw new ServinError("unreachable", `${registry.registry}: no upload location`);
  const url = new URL(location, "http://placeholder");
  url.searchParams.set("digest", digest);
  const target = /^https?:\/\//.test(location) ? url.href : `${url.pathname}${url.search}`;
  const put = await registry.request("PUT", target, scope, {
    headers: { "content-type": "application/octet-stream" },
    body: bytes as Uint8Array<ArrayBuffer>,
    ok: [201, 204],
  });
  await put.body?.cancel();
  return desc;
}

// ---------------------------------------------------------------- sign and verify

/** Signs what `reference` names in its registry and appends the signature to its attachment. */
export async function sign(
  reference: string,
  options: TrustOptions,
  context: TrustContext,
): Promise<string> {
  // The key is opened first: a wrong passphrase must leave the registry untouched.
  const key = await readPrivateKey(options.key, options.passphrase ?? "");
  const remote = await connect(reference, context.root, options, true);
  try {
    const digest = await manifestDigest(remote);
    const named = identityOf(reference, "the image");
    const identity = options.identity !== undefined
      ? formatIdentity(identityOf(options.identity, "--sign-identity"))
      : formatIdentity(named.tag ? { repo: named.repo, tag: named.tag } : { repo: named.repo });
    const payload = makePayload(identity, digest);
    const signature = Buffer.from(signBytes(key, payload)).toString("base64");
    const attachment = await readAttachment(remote, digest) ?? {
      manifest: { schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] },
      config: { architecture: "", os: "", config: {}, rootfs: { type: "layers", diff_ids: [] } },
    };
    const layer = await uploadBlob(remote, payload, SIMPLE_SIGNING);
    attachment.manifest.layers.push({
      ...layer,
      annotations: { [SIGNATURE_ANNOTATION]: signature },
    });
    const rootfs = (attachment.config.rootfs ?? {}) as { type?: string; diff_ids?: string[] };
    attachment.config.rootfs = {
      ...rootfs,
      type: rootfs.type ?? "layers",
      diff_ids: [...(Array.isArray(rootfs.diff_ids) ? rootfs.diff_ids : []), layer.digest],
    };
    const config = new TextEncoder().encode(JSON.stringify(attachment.config));
    attachment.manifest.config = await uploadBlob(remote, config, OCI_CONFIG);
    const { ref, registry, scope } = remote;
    const put = await registry.request(
      "PUT",
      `/v2/${ref.path}/manifests/${sigTag(digest)}`,
      scope,
      {
        headers: { "content-type": OCI_MANIFEST },
        body: JSON.stringify(attachment.manifest),
        ok: [201],
      },
    );
    await put.body?.cancel();
    return digest;
  } finally {
    remote.registry.close();
  }
}

/**
 * The signatures among `signatures` that `publicKey` made over `digest` for
 * an identity `rule` accepts for `image`; throws `untrusted` with the most
 * telling reason when there are none.
 */
export function verifySignatures(
  signatures: ImageSignature[],
  publicKeys: string[],
  digest: string,
  image: string,
  rule?: Readonly<Record<string, unknown>>,
): VerifiedSignature[] {
  if (signatures.length === 0) {
    throw new ServinError("untrusted", `no signatures for ${image} (${digest})`);
  }
  const keys = publicKeys.map((k) => readPublicKey(k));
  const wanted = identityOf(image, "the image");
  const ok: VerifiedSignature[] = [];
  const reasons: string[] = [];
  for (const sig of signatures) {
    const raw = new Uint8Array(Buffer.from(sig.signature, "base64"));
    if (!keys.some((k) => verifyBytes(k, sig.payload, raw))) {
      reasons.push("a signature is not valid for the key");
      continue;
    }
    let parsed: VerifiedSignature;
    try {
      parsed = parsePayload(sig.payload);
    } catch (err) {
      reasons.push((err as Error).message);
      continue;
    }
    if (parsed.digest !== digest) {
      reasons.push(`a signature is for digest ${parsed.digest}, not ${digest}`);
      continue;
    }
    if (!identityMatches(rule, wanted, identityOf(parsed.identity, "the signed identity"))) {
      reasons.push(`a signature names "${parsed.identity}", which does not match ${image}`);
      continue;
    }
    ok.push(parsed);
  }
  if (ok.length === 0) {
    // The reason of the signature that got furthest says most.
    const rank = (r: string) =>
      r.includes("does not match") ? 3 : r.includes("digest") ? 2 : r.includes("payload") ? 1 : 0;
    const best = reasons.sort((a, b) => rank(b) - rank(a))[0];
    throw new ServinError("untrusted", `no valid signature for ${image}: ${best}`);
  }
  return ok;
}

/** Verifies `reference` against `options.key` and `options.identity` (exact identity). */
export async function verify(
  reference: string,
  options: TrustOptions,
  context: TrustContext,
): Promise<VerifiedSignature[]> {
  readPublicKey(options.key);
  const remote = await connect(reference, context.root, options, false);
  try {
    const digest = await manifestDigest(remote);
    const signatures = await fetchSignatures(remote, digest);
    const rule = options.identity !== undefined
      ? { type: "exactReference", dockerReference: options.identity }
      : undefined;
    return verifySignatures(signatures, [options.key], digest, reference, rule);
  } finally {
    remote.registry.close();
  }
}

// ---------------------------------------------------------------- policy

/** The built-in requirement `sigstoreSigned` (with `keyPath`, `keyPaths`, `keyData` or `keyDatas`). */
export async function checkSigstoreSigned(
  req: Readonly<Record<string, unknown>>,
  image: PolicyImage,
): Promise<void> {
  for (const unsupported of ["fulcio", "rekorPublicKeyPath", "rekorPublicKeyData"]) {
    if (req[unsupported] !== undefined) {
      throw new ServinError("unsupported", `"${unsupported}" is not supported`);
    }
  }
  const keys: string[] = [];
  const paths = [req.keyPath, ...(Array.isArray(req.keyPaths) ? req.keyPaths : [])];
  for (const p of paths.filter((p) => p !== undefined)) {
    const path = String(p);
    try {
      keys.push(await Deno.readTextFile(path));
    } catch (err) {
      throw new ServinError("untrusted", `cannot read key ${path}: ${(err as Error).message}`);
    }
  }
  const datas = [req.keyData, ...(Array.isArray(req.keyDatas) ? req.keyDatas : [])];
  for (const d of datas.filter((d) => d !== undefined)) {
    keys.push(Buffer.from(String(d), "base64").toString("utf8"));
  }
  if (keys.length === 0) throw new ServinError("untrusted", "no keyPath or keyData is given");
  if (!image.digest || !image.reference) {
    throw new ServinError("untrusted", `no signatures exist for a ${image.transport} image`);
  }
  const rule = req.signedIdentity as Readonly<Record<string, unknown>> | undefined;
  verifySignatures(await image.signatures(), keys, image.digest, image.reference, rule);
}

/** The policy file in force: the one given, `<root>/policy.json`, the system's, or none. */
export async function policyPath(context: TrustContext): Promise<string | undefined> {
  if (context.signaturePolicy) return resolve(context.signaturePolicy);
  for (const path of [join(context.root, "policy.json"), "/etc/containers/policy.json"]) {
    try {
      if ((await Deno.stat(path)).isFile) return path;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  return undefined;
}

/** True when a tag names a registry (`host.name/…`, `host:port/…`, `localhost/…`). */
function namesRegistry(tag: string): boolean {
  const first = tag.split("/")[0]!;
  return tag.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
}

/**
 * The `image:commit:before` check: a pulled image, or a loaded one whose
 * tags name a registry, is judged by the policy in force before anything
 * of it is stored.
 */
export async function enforce(payload: CommitBeforePayload): Promise<void> {
  if (!payload.trust || (payload.verb !== "pull" && payload.verb !== "load")) return;
  const path = await policyPath(payload.trust);
  if (!path) return;
  const policy = await Policy.load(path);
  const types = payload.trust.requirements?.() ?? [];
  const origin = payload.origin ?? {};
  if (payload.verb === "pull") {
    const digest = origin.digest;
    let cached: Promise<ImageSignature[]> | undefined;
    const root = payload.trust.root;
    const image: PolicyImage = {
      transport: "docker",
      scopes: dockerScopes(payload.input),
      reference: payload.input,
      digest,
      signatures: () =>
        cached ??= (async () => {
          const remote = await connect(payload.input, root, payload.registry ?? {}, false);
          try {
            return digest ? await fetchSignatures(remote, digest) : [];
          } finally {
            remote.registry.close();
          }
        })(),
    };
    return await policy.check(image, types);
  }
  const tags = payload.tags.filter(namesRegistry);
  if (tags.length === 0) return;
  const transport = origin.source === "docker-archive" ? "docker-archive" : "oci-archive";
  for (const tag of tags) {
    await policy.check({
      transport,
      scopes: pathScopes(resolve(payload.input)),
      reference: tag,
      signatures: () => Promise.resolve([]),
    }, types);
  }
}
