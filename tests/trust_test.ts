/**
 * Signing, verifying and the trust policy against the real distribution
 * registry (Debian's docker-registry on 127.0.0.1): Servin signs and
 * verifies its own signatures, attachments are tampered with by hand, and
 * pulls and loads are refused by the policy without leaving a file behind.
 * The interoperability cases need an upstream skopeo built with sigstore
 * (Debian's has it disabled): `.ci/run` builds one and names it in
 * `SERVIN_SKOPEO`; without it they are reported as ignored.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { listTree, ok, run, sha256, toolTest } from "./_cli.ts";
import { busyboxImage } from "./_busybox.ts";
import { have, sh } from "./_layout.ts";
import { assertVerifyFails } from "./_trust.ts";
import { type Registry, startRegistry } from "./_registry.ts";

const ignore = !["docker-registry", "tar"].every(have);
// Running what was pulled needs runc, a busybox to put in the image, and root.
const runIgnore = ignore || Deno.uid() !== 0 || !have("runc") || !have("busybox");
const SKOPEO = Deno.env.get("SERVIN_SKOPEO");
const skopeoMissing = !SKOPEO || !(await Deno.stat(SKOPEO).then(() => true, () => false));
if (skopeoMissing) {
  console.warn(
    "trust_test: the skopeo interoperability cases are ignored: no upstream skopeo with " +
      "sigstore (SERVIN_SKOPEO unset or missing; .ci/run builds it when the Go module proxy " +
      "is reachable)",
  );
}
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

/** Imports a one-file root filesystem holding `text` as `ref` and pushes it to the same name. */
async function pushImage(dir: string, root: string, ref: string, text: string): Promise<string> {
  const base = join(dir, `b-${sha256(ref + text).slice(0, 8)}`);
  await Deno.mkdir(join(base, "etc"), { recursive: true });
  await Deno.writeTextFile(join(base, "etc", "hello"), text);
  const tarball = `${base}.tar`;
  await sh("tar", "-C", base, "-cf", tarball, ".");
  await ok(root, ["image", "import", tarball, ref]);
  const out = await ok(root, ["push", ref]);
  return out.match(/digest: (sha256:[0-9a-f]{64})/)![1]!;
}

/** The registry's raw API, to copy and tamper with attachments as an attacker would. */
function api(registry: Registry) {
  const base = `http://${registry.host}/v2`;
  return {
    async manifest(
      repo: string,
      ref: string,
    ): Promise<{ bytes: Uint8Array<ArrayBuffer>; status: number }> {
      const r = await fetch(`${base}/${repo}/manifests/${ref}`, {
        headers: { accept: OCI_MANIFEST },
      });
      return { bytes: new Uint8Array(await r.arrayBuffer()), status: r.status };
    },
    async put(repo: string, tag: string, bytes: Uint8Array<ArrayBuffer>): Promise<void> {
      const r = await fetch(`${base}/${repo}/manifests/${tag}`, {
        method: "PUT",
        headers: { "content-type": OCI_MANIFEST },
        body: bytes,
      });
      await r.body?.cancel();
      assert.equal(r.status, 201, `PUT ${repo}:${tag}`);
    },
    /** Copies manifest `from:ref` to `to:tag`, mounting its blobs. */
    async copy(from: string, ref: string, to: string, tag: string, edit = (m: Manifest) => m) {
      const { bytes } = await this.manifest(from, ref);
      const doc = edit(JSON.parse(new TextDecoder().decode(bytes)));
      for (const blob of [doc.config, ...doc.layers]) {
        const r = await fetch(
          `${base}/${to}/blobs/uploads/?mount=${blob.digest}&from=${encodeURIComponent(from)}`,
          { method: "POST" },
        );
        await r.body?.cancel();
        assert.equal(r.status, 201, `mount ${blob.digest}`);
      }
      await this.put(to, tag, new TextEncoder().encode(JSON.stringify(doc)));
    },
  };
}

interface Manifest {
  config: { digest: string };
  layers: { digest: string; annotations?: Record<string, string> }[];
}

/**
 * A test (skipped without docker-registry or tar) against a registry of its own on
 * loopback: `fn` gets the temporary places, the registry and its API.
 */
function registryTest(
  name: string,
  fn: (
    t: { dir: string; root: string; registry: Registry; reg: ReturnType<typeof api> },
  ) => Promise<void>,
  skip = ignore,
): void {
  toolTest(name, skip, async ({ dir, root }) => {
    await using registry = await startRegistry(dir);
    await fn({ dir, root, registry, reg: api(registry) });
  });
}

const sigTag = (digest: string) => `sha256-${digest.slice(7)}.sig`;

/** An attachment whose first signature has its first byte changed: no longer the key's. */
function flipSignature(m: Manifest): Manifest {
  const sig = m.layers[0]!.annotations!["dev.cosignproject.cosign/signature"]!;
  const flipped = sig.startsWith("M") ? `N${sig.slice(1)}` : `M${sig.slice(1)}`;
  m.layers[0]!.annotations!["dev.cosignproject.cosign/signature"] = flipped;
  return m;
}

/** Replaces the attachment of `repo`'s image `digest` with one whose signature is flipped. */
async function tamper(reg: ReturnType<typeof api>, repo: string, digest: string): Promise<void> {
  await reg.copy(repo, sigTag(digest), repo, sigTag(digest), flipSignature);
}

/** Signs the pushed image `ref` with the key pair `key` (passphrase "s3cret", as keyPair's). */
async function sign(root: string, key: string, ref: string): Promise<void> {
  await ok(root, ["image", "sign", "--key", `${key}.key`, ref], {
    env: { SERVIN_PASSPHRASE: "s3cret" },
  });
}

/** A policy file: images under `HOST/test` need a signature by `KEY.pub`; all else is refused. */
async function signedUnderTest(dir: string, host: string, key: string): Promise<string> {
  const policy = join(dir, "policy.json");
  await Deno.writeTextFile(
    policy,
    JSON.stringify({
      default: [{ type: "reject" }],
      transports: {
        docker: { [`${host}/test`]: [{ type: "sigstoreSigned", keyPath: `${key}.pub` }] },
      },
    }),
  );
  return policy;
}

/** Every path under `root` with the contents of each file: "nothing changed", to the byte. */
async function snapshot(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const path of await listTree(root)) {
    out.push(
      path.endsWith("/") ? path : `${path} ${sha256(await Deno.readFile(join(root, path)))}`,
    );
  }
  return out;
}

async function keyPair(
  dir: string,
  root: string,
  prefix: string,
  pass = "s3cret",
): Promise<string> {
  const file = join(dir, `${prefix}.pass`);
  await Deno.writeTextFile(file, `${pass}\n`);
  await ok(root, [
    "key",
    "generate",
    "--output-key-prefix",
    join(dir, prefix),
    "--passphrase-file",
    file,
  ]);
  return join(dir, prefix);
}

registryTest(
  "sign and verify: valid, another key, unsigned, copied to another repository, tag moved",
  async ({ dir, root, registry, reg }) => {
    const app = `${registry.host}/test/app:1`;
    const digest = await pushImage(dir, root, app, "one\n");
    const key = await keyPair(dir, root, "k");
    const other = await keyPair(dir, root, "other");
    const env = { SERVIN_PASSPHRASE: "s3cret" };

    await assertVerifyFails(root, `${key}.pub`, app, /^servin: no signatures for .*test\/app:1/);

    assert.equal(
      await ok(root, ["image", "sign", "--key", `${key}.key`, app], { env }),
      `Signed ${app} (${digest})\n`,
    );
    assert.match(
      await ok(root, ["image", "verify", "--key", `${key}.pub`, app]),
      new RegExp(`^Verified ${app} \\(${digest}\\): 1 valid signature for ${app}\\n$`),
    );
    const byDigest = `${registry.host}/test/app@${digest}`;
    await ok(root, ["image", "verify", "--key", `${key}.pub`, byDigest]);
    await assertVerifyFails(root, `${other}.pub`, app, /not valid for the key/);
    await assertVerifyFails(root, `${key}.pub`, app, /does not match/, [
      "--identity",
      `${registry.host}/test/app:2`,
    ]);

    // A second signature is appended to the attachment, not put in place of the first.
    await ok(root, ["image", "sign", "--key", `${other}.key`, app], { env });
    const attachment = JSON.parse(
      new TextDecoder().decode((await reg.manifest("test/app", sigTag(digest))).bytes),
    ) as Manifest;
    assert.equal(attachment.layers.length, 2);
    const json = JSON.parse(
      await ok(root, ["image", "verify", "--key", `${key}.pub`, "--format", "json", app]),
    );
    assert.equal(json.length, 1);
    assert.equal(json[0].critical.image["docker-manifest-digest"], digest);
    assert.equal(json[0].critical.identity["docker-reference"], app);

    // The same image and its signature copied to another repository: the identity gives it away.
    await ok(root, ["push", app, `${registry.host}/evil/app:1`]);
    await reg.copy("test/app", sigTag(digest), "evil/app", sigTag(digest));
    await assertVerifyFails(
      root,
      `${key}.pub`,
      `${registry.host}/evil/app:1`,
      /names ".*test\/app:1", which does not match/,
    );

    // The tag moved to another image, the old signature attached to the new digest.
    const second = await pushImage(dir, root, `${registry.host}/test/app:1`, "two\n");
    assert.notEqual(second, digest);
    await reg.copy("test/app", sigTag(digest), "test/app", sigTag(second));
    await assertVerifyFails(
      root,
      `${key}.pub`,
      app,
      new RegExp(`is for digest ${digest}, not ${second}`),
    );
  },
);

registryTest(
  "a wrong passphrase uploads nothing; both PEM labels and passphrase files with or without a newline work",
  async ({ dir, root, registry, reg }) => {
    const app = `${registry.host}/test/app:1`;
    const digest = await pushImage(dir, root, app, "one\n");
    const key = await keyPair(dir, root, "k", "pass phrase");
    const requests = async () =>
      ((await Deno.readTextFile(registry.log)).match(/"(PUT|POST|PATCH|DELETE) /g) ?? []).length;
    const before = await requests();
    const wrong = await run(root, ["image", "sign", "--key", `${key}.key`, app], {
      env: { SERVIN_PASSPHRASE: "pass phrasE" },
    });
    assert.equal(wrong.code, 1);
    assert.equal(wrong.stderr, "servin: Cannot open the private key: wrong passphrase\n");
    assert.equal(await requests(), before, "nothing was sent that writes");
    assert.equal((await reg.manifest("test/app", sigTag(digest))).status, 404);

    // The file `key generate` read ended with a newline; one without works the same.
    const bare = join(dir, "bare.pass");
    await Deno.writeTextFile(bare, "pass phrase");
    await ok(root, ["image", "sign", "--key", `${key}.key`, "--passphrase-file", bare, app]);
    // Keys older cosign wrote carry another label; the envelope is the same.
    const legacy = join(dir, "legacy.key");
    await Deno.writeTextFile(
      legacy,
      (await Deno.readTextFile(`${key}.key`)).replaceAll(
        "ENCRYPTED SIGSTORE PRIVATE KEY",
        "ENCRYPTED COSIGN PRIVATE KEY",
      ),
    );
    await ok(root, ["image", "sign", "--key", legacy, app], {
      env: { SERVIN_PASSPHRASE: "pass phrase" },
    });
    assert.match(
      await ok(root, ["image", "verify", "--key", `${key}.pub`, app]),
      /: 2 valid signatures for /,
    );
    const pem = await Deno.readTextFile(`${key}.key`);
    const envelope = JSON.parse(
      atob(pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "")),
    );
    assert.deepEqual(Object.keys(envelope).sort(), ["cipher", "ciphertext", "kdf"]);
    assert.deepEqual(envelope.kdf.params, { N: 32768, r: 8, p: 1 });
    assert.equal(envelope.kdf.name, "scrypt");
    assert.equal(atob(envelope.kdf.salt).length, 32);
    assert.equal(envelope.cipher.name, "nacl/secretbox");
    assert.equal((await Deno.stat(`${key}.key`)).mode! & 0o777, 0o600);
  },
);

registryTest(
  "the policy refuses unsigned, tampered and out-of-scope images on pull and stores nothing",
  async ({ dir, root, registry, reg }) => {
    const key = await keyPair(dir, root, "k");
    const host = registry.host;
    const signed = `${host}/test/app:1`;
    await pushImage(dir, root, signed, "signed\n");
    await sign(root, key, signed);
    const unsigned = `${host}/test/unsigned:1`;
    await pushImage(dir, root, unsigned, "unsigned\n");
    const tampered = `${host}/test/tampered:1`;
    const tamperedDigest = await pushImage(dir, root, tampered, "tampered\n");
    await sign(root, key, tampered);
    await tamper(reg, "test/tampered", tamperedDigest);
    const outside = `${host}/elsewhere/app:1`;
    await pushImage(dir, root, outside, "outside\n");
    const policy = await signedUnderTest(dir, host, key);

    // A fresh store, so that nothing of the pushes is there to reuse.
    const store = join(dir, "store");
    await ok(store, ["images"]);
    const empty = await listTree(store);
    const pull = (ref: string) => run(store, ["--signature-policy", policy, "pull", ref]);
    for (
      const [ref, why] of [
        [unsigned, /"sigstoreSigned" of docker:.*test.*no signatures for/],
        [tampered, /"sigstoreSigned" of docker:.*not valid for the key/],
        [outside, /requirement 1 "reject" of default in .*policy.json: the policy rejects it/],
      ] as const
    ) {
      const r = await pull(ref);
      assert.equal(r.code, 1, `${ref}: ${r.stdout}`);
      assert.match(r.stderr, why);
      assert.match(r.stderr, new RegExp(`${ref.replace(/[.:]/g, "\\$&")} is refused`));
      assert.deepEqual(await listTree(store), empty, `${ref} left files behind`);
    }
    assert.match((await pull(signed)).stdout, new RegExp(`^Pulled ${signed}: sha256:`));

    // <root>/policy.json is used without the flag, and `system info` says which policy is in force.
    await Deno.copyFile(policy, join(store, "policy.json"));
    assert.equal((await run(store, ["pull", unsigned])).code, 1);
    assert.match(await ok(store, ["system", "info"]), new RegExp(`Policy: +${store}/policy.json`));
    const info = JSON.parse(
      await ok(store, ["--signature-policy", policy, "info", "--format", "json"]),
    );
    assert.equal(info.policy, policy);

    // signedIdentity: a signature of test/app is accepted for test/copy only when remapped.
    await ok(root, ["push", signed, `${host}/test/copy:1`]);
    const appDigest = (await ok(root, ["push", signed])).match(/sha256:[0-9a-f]{64}/)![0];
    await reg.copy("test/app", sigTag(appDigest), "test/copy", sigTag(appDigest));
    const withIdentity = async (signedIdentity: Record<string, string>) => {
      await Deno.writeTextFile(
        policy,
        JSON.stringify({
          default: [{
            type: "sigstoreSigned",
            keyData: btoa(await Deno.readTextFile(`${key}.pub`)),
            signedIdentity,
          }],
        }),
      );
      return (await pull(`${host}/test/copy:1`)).code;
    };
    assert.equal(await withIdentity({ type: "matchRepoDigestOrExact" }), 1);
    assert.equal(await withIdentity({ type: "matchRepository" }), 1);
    assert.equal(
      await withIdentity({ type: "exactRepository", dockerRepository: `${host}/test/app` }),
      0,
    );
    assert.equal(
      await withIdentity({ type: "exactReference", dockerReference: `${host}/test/app:2` }),
      1,
    );
    assert.equal(await withIdentity({ type: "exactReference", dockerReference: signed }), 0);
    assert.equal(
      await withIdentity({
        type: "remapIdentity",
        prefix: `${host}/test/copy`,
        signedPrefix: `${host}/test/app`,
      }),
      0,
    );
  },
);

registryTest(
  "run and create refuse unsigned, tampered and out-of-scope images they pull (125, nothing stored) and run a signed one",
  async ({ dir, root, registry, reg }) => {
    const key = await keyPair(dir, root, "k");
    const host = registry.host;
    await busyboxImage(dir, root);
    const publish = async (image: string, ref: string, signed: boolean) => {
      await ok(root, ["tag", image, ref]);
      const digest = (await ok(root, ["push", ref])).match(/sha256:[0-9a-f]{64}/)![0];
      if (signed) await sign(root, key, ref);
      return digest;
    };
    const signed = `${host}/test/app:1`;
    await publish("busybox:test", signed, true);
    const unsigned = `${host}/test/unsigned:1`;
    await publish("busybox:test", unsigned, false);
    // Signed, then the signature's first byte changed.
    const flipped = `${host}/test/flipped:1`;
    const flippedDigest = await publish("busybox:test", flipped, true);
    await tamper(reg, "test/flipped", flippedDigest);
    // Signed, then the tag moved to another image that carries the old signature: valid
    // for the key, but over another digest.
    const moved = `${host}/test/moved:1`;
    const before = await publish("busybox:test", moved, true);
    const after = await publish("configured:test", moved, false);
    assert.notEqual(after, before);
    await reg.copy("test/moved", sigTag(before), "test/moved", sigTag(after));
    const outside = `${host}/elsewhere/app:1`;
    await publish("busybox:test", outside, true);
    const policy = await signedUnderTest(dir, host, key);
    const signedReq = /requirement 1 "sigstoreSigned" of docker:[^ ]+\/test in [^ ]+policy\.json: /;
    const cases = [
      [unsigned, new RegExp(signedReq.source + "no signatures for ")],
      [flipped, new RegExp(signedReq.source + ".*not valid for the key")],
      [moved, new RegExp(signedReq.source + `.*is for digest ${before}, not ${after}`)],
      [outside, /requirement 1 "reject" of default in [^ ]+policy\.json: the policy rejects it/],
    ] as const;

    // A fresh store, so that nothing of the pushes is there to reuse.
    const store = join(dir, "store");
    await ok(store, ["images"]);
    const empty = await snapshot(store);
    try {
      for (const command of ["run", "create"]) {
        for (const pull of ["missing", "always"]) {
          for (const [ref, why] of cases) {
            const args = ["--signature-policy", policy, command, "--pull", pull];
            const r = await run(store, [
              ...args,
              ...(command === "run" ? ["--rm"] : []),
              ref,
              "true",
            ]);
            const what = `${command} --pull ${pull} ${ref}`;
            assert.equal(r.code, 125, `${what}: ${r.stdout}${r.stderr}`);
            assert.match(r.stderr, why, `${what}: ${r.stderr}`);
            // One line, after Docker's note for --pull missing; the hook's wrapper names the plugin.
            const refused = `servin: plugin "trust": ${ref.replace(/[.:]/g, "\\$&")} is refused: `;
            assert.match(
              r.stderr,
              new RegExp(`^(Unable to find image .*\\n)?${refused}[^\\n]*\\n$`),
              `${what}: ${r.stderr}`,
            );
            assert.deepEqual(await snapshot(store), empty, `${what} left files behind`);
          }
        }
      }

      // The signed image is pulled (the policy is consulted again with --pull always) and runs.
      const created = await ok(store, ["--signature-policy", policy, "create", signed, "true"]);
      assert.match(created, /^[0-9a-f]{64}\n$/);
      await ok(store, ["rm", created.trim()]);
      const ran = await run(store, [
        "--signature-policy",
        policy,
        "run",
        "--rm",
        "--pull",
        "always",
        signed,
        "echo",
        "signed and run",
      ]);
      assert.equal(ran.code, 0, ran.stderr);
      assert.equal(ran.stdout, "signed and run\n");
    } finally {
      const ids = (await run(store, ["ps", "-aq", "--no-trunc"])).stdout.split("\n");
      for (const id of ids.filter(Boolean)) await run(store, ["rm", "-f", id]);
    }
  },
  runIgnore,
);

registryTest(
  "the README's signing walkthrough runs as written, against this registry",
  async ({ dir, root, registry }) => {
    const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
    const section = readme.slice(readme.indexOf("\n## Signing and policy\n"));
    const script = /```sh\n([\s\S]*?)```/.exec(section)![1]!.replaceAll(
      "localhost:5000",
      registry.host,
    );
    // `servin` on PATH is this checkout's (or the compiled binary under test), on the test's root.
    const bin = join(dir, "bin");
    await Deno.mkdir(bin);
    const main = new URL("../main.ts", import.meta.url).pathname;
    const servin = Deno.env.get("SERVIN_BIN") ?? `${Deno.execPath()} run -A ${main}`;
    await Deno.writeTextFile(join(bin, "servin"), `#!/bin/sh\nexec ${servin} "$@"\n`, {
      mode: 0o755,
    });
    // The rootfs.tar the walkthrough imports.
    const work = join(dir, "work");
    await Deno.mkdir(join(work, "tree", "etc"), { recursive: true });
    await Deno.writeTextFile(join(work, "tree", "etc", "hello"), "hi\n");
    await sh("tar", "-C", join(work, "tree"), "-cf", join(work, "rootfs.tar"), ".");
    const shell = (text: string) =>
      new Deno.Command("sh", {
        args: ["-euc", text],
        cwd: work,
        env: { PATH: `${bin}:${Deno.env.get("PATH")}`, SERVIN_ROOT: root, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    // Every step but the last must succeed; the last is the pull the policy refuses.
    const lines = script.trimEnd().split("\n");
    const last = lines.pop()!;
    assert.match(last, /pull .*other\/app:1 .*# refused/);
    const steps = await shell(lines.join("\n"));
    assert.equal(steps.code, 0, decode(steps.stderr));
    const out = decode(steps.stdout);
    assert.match(out, new RegExp(`^Verified ${registry.host}/team/app:1 `, "m"));
    assert.match(out, new RegExp(`^Pulled ${registry.host}/team/app:1: sha256:`, "m"));
    assert.equal((await Deno.stat(join(work, "servin.key"))).mode! & 0o777, 0o600);
    const refused = await shell(last);
    assert.equal(refused.code, 1, decode(refused.stdout));
    assert.match(
      decode(refused.stderr),
      /other\/app:1 is refused: requirement 1 "reject" of default in .*policy\.json/,
    );
  },
);

toolTest(
  "load: an archive tagged for a registry is judged under docker-archive scopes, a local tag is not",
  ignore,
  async ({ dir, root }) => {
    const base = join(dir, "b");
    await Deno.mkdir(base);
    await Deno.writeTextFile(join(base, "f"), "x\n");
    await sh("tar", "-C", base, "-cf", join(dir, "r.tar"), ".");
    await ok(root, ["import", join(dir, "r.tar"), "registry.example.com/team/app:1"]);
    await ok(root, ["tag", "registry.example.com/team/app:1", "local:1"]);
    const archives = join(dir, "archives");
    await Deno.mkdir(archives);
    const remote = join(archives, "remote.tar");
    const local = join(archives, "local.tar");
    await ok(root, [
      "save",
      "--format",
      "docker-archive",
      "-o",
      remote,
      "registry.example.com/team/app:1",
    ]);
    await ok(root, ["save", "--format", "docker-archive", "-o", local, "local:1"]);
    const policy = join(dir, "policy.json");
    await Deno.writeTextFile(
      policy,
      JSON.stringify({
        default: [{ type: "insecureAcceptAnything" }],
        transports: { "docker-archive": { [archives]: [{ type: "reject" }] } },
      }),
    );
    const store = join(dir, "store");
    await ok(store, ["images"]);
    const empty = await listTree(store);
    const refused = await run(store, ["--signature-policy", policy, "load", "-i", remote]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`"reject" of docker-archive:${archives}`));
    assert.deepEqual(await listTree(store), empty);
    await ok(store, ["--signature-policy", policy, "load", "-i", local]);
  },
);

toolTest(
  "skopeo signs (keys from servin and from skopeo) and servin verifies; servin signs and skopeo's policy accepts",
  ignore || skopeoMissing,
  async ({ dir, root }) => {
    const skopeo = SKOPEO!;
    await using registry = await startRegistry(dir);
    const host = registry.host;
    const app = `${host}/test/app:1`;
    await pushImage(dir, root, app, "one\n");
    const servinKey = await keyPair(dir, root, "servin");
    const pass = join(dir, "servin.pass");
    const other = await keyPair(dir, root, "other");
    await sh(
      "sh",
      "-c",
      `printf 's3cret' | ${skopeo} generate-sigstore-key --output-prefix ${dir}/skopeo --passphrase-file /dev/stdin`,
    );
    const registries = join(dir, "registries.d");
    await Deno.mkdir(registries);
    await Deno.writeTextFile(
      join(registries, "default.yaml"),
      "default-docker:\n  use-sigstore-attachments: true\n",
    );
    const copyTo = async (key: string, repo: string) =>
      await sh(
        skopeo,
        "--registries.d",
        registries,
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--sign-by-sigstore-private-key",
        key,
        "--sign-passphrase-file",
        pass,
        `docker://${app}`,
        `docker://${host}/${repo}:1`,
      );
    await copyTo(`${servinKey}.key`, "signed/by-servin-key");
    await copyTo(`${dir}/skopeo.private`, "signed/by-skopeo-key");
    await ok(root, [
      "image",
      "verify",
      "--key",
      `${servinKey}.pub`,
      `${host}/signed/by-servin-key:1`,
    ]);
    await ok(root, [
      "image",
      "verify",
      "--key",
      `${dir}/skopeo.pub`,
      `${host}/signed/by-skopeo-key:1`,
    ]);
    assert.equal(
      (await run(root, [
        "image",
        "verify",
        "--key",
        `${other}.pub`,
        `${host}/signed/by-servin-key:1`,
      ]))
        .code,
      1,
    );

    // Servin signs; skopeo's policy with Servin's key accepts, with another key refuses.
    await ok(root, ["image", "sign", "--key", `${servinKey}.key`, app], {
      env: { SERVIN_PASSPHRASE: "s3cret" },
    });
    const policyFor = async (pub: string) => {
      const path = join(dir, `policy-${sha256(pub).slice(0, 6)}.json`);
      await Deno.writeTextFile(
        path,
        JSON.stringify({
          default: [{
            type: "sigstoreSigned",
            keyPath: pub,
            signedIdentity: { type: "matchRepository" },
          }],
        }),
      );
      return path;
    };
    const skopeoCopy = async (pub: string) =>
      await new Deno.Command(skopeo, {
        args: [
          "--policy",
          await policyFor(pub),
          "--registries.d",
          registries,
          "copy",
          "--src-tls-verify=false",
          `docker://${app}`,
          `oci:${dir}/out-${sha256(pub).slice(0, 6)}:x`,
        ],
        stdout: "null",
        stderr: "piped",
      }).output();
    assert.equal((await skopeoCopy(`${servinKey}.pub`)).code, 0);
    assert.notEqual((await skopeoCopy(`${other}.pub`)).code, 0);
  },
);
