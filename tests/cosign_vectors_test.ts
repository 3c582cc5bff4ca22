/**
 * Known answers from the real tools, without running them: encrypted
 * private keys that cosign generated (sigstore/cosign's own test keys),
 * and signatures that cosign and skopeo made with the key behind
 * containers/image's `cosign.pub` (its policy-evaluation fixtures). Where
 * they come from, at which commit and under which licence:
 * tests/fixtures/cosign/README.md. Servin must open the keys, accept the
 * signatures with the right key and refuse them with another, refuse a
 * signature whose manifest or identity does not match, and make signatures
 * with a cosign-made key that pass the same checks; the last test takes a
 * cosign-made key through `image sign` and `image verify` against the real
 * registry.
 */

import assert from "node:assert/strict";
import { createPublicKey } from "node:crypto";
import { join } from "node:path";
import { ServinError } from "../core/errors.ts";
import type { ImageSignature, PolicyImage } from "../core/kinds.ts";
import { readPrivateKey, readPublicKey, signBytes } from "../plugins/trust/_keys.ts";
import {
  checkSigstoreSigned,
  makePayload,
  SIGNATURE_ANNOTATION,
  SIMPLE_SIGNING,
  verifySignatures,
} from "../plugins/trust/_sigstore.ts";
import { dockerScopes } from "../plugins/trust/policy.ts";
import { ok, run, sha256, withTempDir } from "./_cli.ts";
import { have, sh } from "./_layout.ts";
import { assertVerifyFails } from "./_trust.ts";
import { startRegistry } from "./_registry.ts";

const FIXTURES = new URL("./fixtures/cosign/", import.meta.url).pathname;
const fixture = (name: string) => Deno.readTextFile(join(FIXTURES, name));
/** The passphrase cosign's `TestReadingPrivatePemTypes` opens its keys with. */
const PASSPHRASE = "hello";
/** The repository the containers/image fixtures were signed for. */
const SIGNED_REPO = "192.168.64.2:5000/cosign-signed-single-sample";

/**
 * Reads a signature as containers/image's `dir:` transport stores it: the
 * `\0sigstore-json\n` prefix, then `{mimeType, payload (base64), annotations}`.
 */
async function signatureFile(name: string): Promise<ImageSignature> {
  const bytes = await Deno.readFile(join(FIXTURES, name));
  const prefix = "\0sigstore-json\n";
  assert.equal(new TextDecoder().decode(bytes.subarray(0, prefix.length)), prefix, name);
  const doc = JSON.parse(new TextDecoder().decode(bytes.subarray(prefix.length)));
  assert.equal(doc.mimeType, SIMPLE_SIGNING, name);
  return {
    payload: new Uint8Array(atob(doc.payload).split("").map((c) => c.charCodeAt(0))),
    signature: doc.annotations[SIGNATURE_ANNOTATION],
  };
}

/** The digest of a fixture manifest, as a registry would name it. */
async function manifestDigest(name: string): Promise<string> {
  return `sha256:${sha256(await Deno.readFile(join(FIXTURES, name)))}`;
}

/** The PEM public key of a private key (cosign's test keys come without their `.pub`). */
function publicPem(key: Awaited<ReturnType<typeof readPrivateKey>>): string {
  return createPublicKey(key).export({ format: "pem", type: "spki" }).toString();
}

/** Fails unless `fn` throws a ServinError whose message matches `pattern`. */
async function refuses(fn: () => unknown, pattern: RegExp): Promise<void> {
  await assert.rejects(async () => await fn(), (err: unknown) => {
    assert.ok(err instanceof ServinError, `not a ServinError: ${err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

Deno.test("cosign-made encrypted private keys open with their passphrase, under both PEM labels", async () => {
  const sigstore = await fixture("sigstore-label.key");
  const legacy = await fixture("cosign-label.key");
  assert.match(sigstore, /^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
  assert.match(legacy, /^-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n/);
  for (const [name, text] of [["sigstore-label.key", sigstore], ["cosign-label.key", legacy]]) {
    const key = await readPrivateKey(text!, PASSPHRASE);
    assert.equal(key.asymmetricKeyType, "ec", name);
    assert.equal(key.asymmetricKeyDetails?.namedCurve, "prime256v1", name);
    await refuses(
      () => readPrivateKey(text!, "hellO"),
      /^Cannot open the private key: wrong passphrase$/,
    );
    await refuses(() => readPrivateKey(text!, `${PASSPHRASE}\n`), /wrong passphrase/);
  }
  // Two keys, not one written twice.
  assert.notEqual(
    publicPem(await readPrivateKey(sigstore, PASSPHRASE)),
    publicPem(await readPrivateKey(legacy, PASSPHRASE)),
  );
  // scrypt N=2^16 and a SEC1 key inside: the passphrase opens it, but cosign's LoadPrivateKey
  // refuses what is inside (it wants PKCS#8), and so does Servin.
  const sec1 = await fixture("cosign-label-sec1.key");
  const envelope = JSON.parse(atob(sec1.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "")));
  assert.equal(envelope.kdf.params.N, 65536);
  await refuses(() => readPrivateKey(sec1, "hellO"), /wrong passphrase/);
  await refuses(() => readPrivateKey(sec1, PASSPHRASE), /does not hold an ECDSA P-256 key/);
});

Deno.test("signatures made by cosign and by skopeo verify with the real public key, not with another", async () => {
  const key = await fixture("cosign.pub");
  const other = await fixture("cosign2.pub");
  readPublicKey(key);
  readPublicKey(other);
  const digest = await manifestDigest("dir-img-cosign-valid/manifest.json");
  // The manifest is the one the signatures name.
  assert.equal(digest, "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00");
  const cosign1 = await signatureFile("dir-img-cosign-valid/signature-1");
  const cosign2 = await signatureFile("dir-img-cosign-valid-2/signature-2");
  const skopeo = await signatureFile("dir-img-cosign-valid-with-tag/signature-1");
  const unknown = await signatureFile("unknown-cosign-key.signature");
  const byDigest = `${SIGNED_REPO}@${digest}`;

  for (const sig of [cosign1, cosign2]) {
    const [verified, ...more] = verifySignatures([sig], [key], digest, byDigest);
    assert.equal(more.length, 0);
    assert.equal(verified!.identity, SIGNED_REPO);
    assert.equal(verified!.digest, digest);
    assert.deepEqual(verified!.payload.optional, null);
  }
  assert.equal(verifySignatures([cosign1, cosign2], [key], digest, byDigest).length, 2);
  // One from a key nobody trusts beside a good one (containers/image's "mixed" case).
  assert.equal(verifySignatures([unknown, cosign1], [key], digest, byDigest).length, 1);
  // Either of several keys may have made it (`keyPaths`).
  assert.equal(verifySignatures([cosign1], [other, key], digest, byDigest).length, 1);

  // skopeo signed with the same key for a tagged identity: an exact match holds for that tag only.
  const tagged = "192.168.64.2:5000/skopeo-signed:tag";
  const exact = { type: "matchExact" };
  const [bySkopeo] = verifySignatures([skopeo], [key], digest, tagged, exact);
  assert.equal(bySkopeo!.identity, tagged);
  assert.match(
    String((bySkopeo!.payload.optional as { creator: string }).creator),
    /^containers\/image /,
  );
  await refuses(
    () =>
      verifySignatures([skopeo], [key], digest, "192.168.64.2:5000/skopeo-signed:othertag", exact),
    /names "192\.168\.64\.2:5000\/skopeo-signed:tag", which does not match/,
  );
  // cosign signs a repository without a tag, which an exact match never accepts.
  await refuses(
    () => verifySignatures([cosign1], [key], digest, `${SIGNED_REPO}:latest`, exact),
    /which does not match/,
  );

  // Another key, an unknown signer, another manifest, another repository.
  for (const sig of [cosign1, cosign2, skopeo]) {
    await refuses(
      () => verifySignatures([sig], [other], digest, byDigest),
      /not valid for the key/,
    );
  }
  await refuses(
    () => verifySignatures([unknown], [key], digest, byDigest),
    /not valid for the key/,
  );
  const modified = await manifestDigest("dir-img-cosign-modified-manifest/manifest.json");
  assert.notEqual(modified, digest);
  await refuses(
    () => verifySignatures([cosign1], [key], modified, `${SIGNED_REPO}@${modified}`),
    new RegExp(`is for digest ${digest}, not ${modified}`),
  );
  await refuses(
    () => verifySignatures([cosign1], [key], digest, `192.168.64.2:5000/elsewhere@${digest}`),
    /which does not match/,
  );
  // A signature with one bit changed.
  const raw = atob(cosign1.signature);
  const flipped = btoa(
    raw.slice(0, 20) + String.fromCharCode(raw.charCodeAt(20) ^ 1) + raw.slice(21),
  );
  await refuses(
    () => verifySignatures([{ ...cosign1, signature: flipped }], [key], digest, byDigest),
    /not valid for the key/,
  );

  // A cosign signature made with a second key (this one also carries a Rekor bundle, unused here).
  const keyRekor = await signatureFile("dir-img-cosign-key-rekor-valid/signature-1");
  const keyRekorDigest = await manifestDigest("dir-img-cosign-key-rekor-valid/manifest.json");
  const keyRekorImage = `192.168.64.2:5000/cosign-signed/key-1@${keyRekorDigest}`;
  assert.equal(verifySignatures([keyRekor], [other], keyRekorDigest, keyRekorImage).length, 1);
  await refuses(
    () => verifySignatures([keyRekor], [key], keyRekorDigest, keyRekorImage),
    /not valid for the key/,
  );
});

Deno.test("the policy's sigstoreSigned accepts the real signatures with keyPath and keyData and refuses another key", async () => {
  const digest = await manifestDigest("dir-img-cosign-valid/manifest.json");
  const sigs = [await signatureFile("dir-img-cosign-valid/signature-1")];
  const image = (reference: string): PolicyImage => ({
    transport: "docker",
    scopes: dockerScopes(reference),
    reference,
    digest,
    signatures: () => Promise.resolve(sigs),
  });
  const keyData = btoa(await fixture("cosign.pub"));
  await checkSigstoreSigned(
    { type: "sigstoreSigned", keyPath: join(FIXTURES, "cosign.pub") },
    image(`${SIGNED_REPO}@${digest}`),
  );
  await checkSigstoreSigned({ type: "sigstoreSigned", keyData }, image(`${SIGNED_REPO}@${digest}`));
  // Pulled by tag, the image is accepted when the rule allows a repository-wide signature.
  await checkSigstoreSigned(
    { type: "sigstoreSigned", keyData, signedIdentity: { type: "matchRepository" } },
    image(`${SIGNED_REPO}:v1`),
  );
  await refuses(
    () => checkSigstoreSigned({ type: "sigstoreSigned", keyData }, image(`${SIGNED_REPO}:v1`)),
    /which does not match/,
  );
  await refuses(
    () =>
      checkSigstoreSigned(
        { type: "sigstoreSigned", keyPath: join(FIXTURES, "cosign2.pub") },
        image(`${SIGNED_REPO}@${digest}`),
      ),
    /not valid for the key/,
  );
});

Deno.test("a signature Servin makes with a cosign-made key passes the checks the real ones pass", async () => {
  const digest = await manifestDigest("dir-img-cosign-valid/manifest.json");
  for (const name of ["sigstore-label.key", "cosign-label.key"]) {
    const key = await readPrivateKey(await fixture(name), PASSPHRASE);
    const payload = makePayload(SIGNED_REPO, digest);
    const mine = { payload, signature: btoa(String.fromCharCode(...signBytes(key, payload))) };
    const byDigest = `${SIGNED_REPO}@${digest}`;
    const [verified] = verifySignatures([mine], [publicPem(key)], digest, byDigest);
    assert.equal(verified!.identity, SIGNED_REPO, name);
    // The payload has cosign's critical section, field for field.
    const real = JSON.parse(
      new TextDecoder().decode((await signatureFile("dir-img-cosign-valid/signature-1")).payload),
    );
    assert.deepEqual(verified!.payload.critical, real.critical, name);
    const real2 = await fixture("cosign.pub");
    await refuses(
      () => verifySignatures([mine], [real2], digest, byDigest),
      /not valid for the key/,
    );
  }
});

Deno.test({
  name:
    "image sign with cosign-made keys (both labels), then image verify, against the real registry",
  ignore: !["docker-registry", "tar"].every(have),
  sanitizeResources: false,
  fn: withTempDir(async ({ dir, root }) => {
    await using registry = await startRegistry(dir);
    const app = `${registry.host}/test/app:1`;
    const tree = join(dir, "tree");
    await Deno.mkdir(tree);
    await Deno.writeTextFile(join(tree, "hello"), "hi\n");
    await sh("tar", "-C", tree, "-cf", join(dir, "r.tar"), ".");
    await ok(root, ["image", "import", join(dir, "r.tar"), app]);
    const digest = (await ok(root, ["push", app])).match(/sha256:[0-9a-f]{64}/)![0];
    // The passphrase as a file without a trailing newline, as cosign's COSIGN_PASSWORD has it.
    const pass = join(dir, "pass");
    await Deno.writeTextFile(pass, PASSPHRASE);
    const pubs: string[] = [];
    for (const name of ["sigstore-label.key", "cosign-label.key"]) {
      await ok(root, [
        "image",
        "sign",
        "--key",
        join(FIXTURES, name),
        "--passphrase-file",
        pass,
        app,
      ]);
      const pub = join(dir, `${name}.pub`);
      await Deno.writeTextFile(
        pub,
        publicPem(await readPrivateKey(await fixture(name), PASSPHRASE)),
      );
      pubs.push(pub);
    }
    for (const pub of pubs) {
      assert.match(
        await ok(root, ["image", "verify", "--key", pub, app]),
        new RegExp(`^Verified ${app} \\(${digest}\\): 1 valid signature for ${app}\\n$`),
      );
    }
    await assertVerifyFails(root, join(FIXTURES, "cosign.pub"), app, /not valid for the key/);
    const badPass = await run(root, [
      "image",
      "sign",
      "--key",
      join(FIXTURES, "sigstore-label.key"),
      app,
    ], {
      env: { SERVIN_PASSPHRASE: "hellO" },
    });
    assert.equal(badPass.code, 1);
    assert.equal(badPass.stderr, "servin: Cannot open the private key: wrong passphrase\n");
  }),
});
