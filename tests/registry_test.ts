/**
 * Pull and push against a real OCI distribution registry (Debian's
 * docker-registry) on 127.0.0.1: plain, behind htpasswd Basic auth over TLS
 * with a test CA made by openssl, and behind token (Bearer) auth with a
 * token server of the test's own. Needs root (containers), docker-registry,
 * skopeo, umoci, openssl and runc; reported as ignored where missing.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { gunzipSync, zstdDecompressSync } from "node:zlib";
import { listTree, ok, run, sha256, type TempPlaces, toolTest } from "./_cli.ts";
import { checkStore } from "./_invariants.ts";
import { buildLayout, check, have, sh } from "./_layout.ts";
import { writeImage, writeMultiPlatformLayout } from "./_oci.ts";
import { freePort, type Registry, startRegistry } from "./_registry.ts";
import { buildTar } from "./_tar.ts";

const ignore = Deno.uid() !== 0 ||
  !["docker-registry", "skopeo", "umoci", "openssl", "runc", "busybox"].every(have);

/** Copies `_layout.ts`'s test image into `registry` as `test/app:1` with skopeo. */
async function pushTestImage(
  dir: string,
  registry: Registry,
): Promise<{ layout: string; ref: string }> {
  const layout = await buildLayout(dir);
  const ref = `${registry.host}/test/app:1`;
  await sh("skopeo", "copy", "--dest-tls-verify=false", `oci:${layout}:v1`, `docker://${ref}`);
  return { layout, ref };
}

/** Imports a root filesystem of one file (`etc/hello`), archived by tar, as `ref`. */
async function importHello(dir: string, root: string, ref: string): Promise<void> {
  const base = join(dir, "b");
  await Deno.mkdir(join(base, "etc"), { recursive: true });
  await Deno.writeTextFile(join(base, "etc", "hello"), "hi\n");
  const tarball = join(dir, "rootfs.tar");
  await sh("tar", "-C", base, "-cf", tarball, ".");
  await ok(root, ["image", "import", tarball, ref]);
}

/** A test with a registry of its own (plain HTTP on 127.0.0.1), stopped when the test ends. */
function registryTest(
  name: string,
  fn: (places: TempPlaces & { registry: Registry }) => Promise<void>,
): void {
  toolTest(name, ignore, async (places) => {
    await using registry = await startRegistry(places.dir);
    await fn({ ...places, registry });
  });
}

async function blobGets(log: string): Promise<number> {
  const text = await Deno.readTextFile(log);
  return (text.match(/"GET \/v2\/[^"]*\/blobs\/sha256:/g) ?? []).length;
}

registryTest(
  "pull what skopeo pushed (whiteouts and all), again without downloads, by digest, and push back",
  async ({ dir, root, registry }) => {
    const { layout, ref } = await pushTestImage(dir, registry);

    const pulled = await ok(root, ["image", "pull", ref]);
    assert.match(pulled, new RegExp(`^Pulled ${ref}: sha256:[0-9a-f]{64}\\n$`));
    for (const s of ["overlay", "copy"]) await check(root, ref, s);
    const gets = await blobGets(registry.log);
    assert.ok(gets >= 4, `downloaded config and layers (${gets})`);
    assert.equal(await ok(root, ["pull", ref]), pulled);
    assert.equal(await blobGets(registry.log), gets, "a second pull downloads no blob");

    const manifestDigest = JSON.parse(
      await sh("skopeo", "inspect", "--tls-verify=false", `docker://${ref}`),
    ).Digest;
    const byDigest = await ok(root, ["pull", `${registry.host}/test/app@${manifestDigest}`]);
    assert.equal(byDigest.trim().split(": ").at(-1), pulled.trim().split(": ").at(-1));

    // push under a new name; skopeo sees the same manifest digest and copies it back intact.
    const pushed = await ok(root, ["push", ref, `${registry.host}/other/copy:2`]);
    const digest = pushed.match(/^digest: (sha256:[0-9a-f]{64})\n$/)?.[1];
    assert.ok(digest, pushed);
    assert.equal(digest, manifestDigest, "the stored manifest goes up unchanged");
    // The pulled image's blobs come from test/app on the same registry: mounted, not uploaded.
    const log = await Deno.readTextFile(registry.log);
    assert.match(
      log,
      /"POST \/v2\/other\/copy\/blobs\/uploads\/\?mount=sha256:[0-9a-f]{64}&from=test%2Fapp HTTP\/1.1" 201/,
    );
    assert.doesNotMatch(log, /"PUT \/v2\/other\/copy\/blobs\/uploads\//);
    const inspect = JSON.parse(
      await sh(
        "skopeo",
        "inspect",
        "--tls-verify=false",
        `docker://${registry.host}/other/copy:2`,
      ),
    );
    assert.equal(inspect.Digest, digest);
    const back = join(dir, "back");
    await sh(
      "skopeo",
      "copy",
      "--src-tls-verify=false",
      `docker://${registry.host}/other/copy:2`,
      `oci:${back}:x`,
    );
    const original =
      JSON.parse(await Deno.readTextFile(join(layout, "index.json"))).manifests[0].digest;
    assert.equal(
      JSON.parse(await Deno.readTextFile(join(back, "index.json"))).manifests[0].digest,
      original,
    );

    // On a terminal, progress shows the whole and each layer.
    const main = new URL("../main.ts", import.meta.url).pathname;
    const tty = await new Deno.Command("script", {
      args: ["-qec", `${Deno.execPath()} run -A ${main} pull ${ref}`, "/dev/null"],
      env: { SERVIN_ROOT: join(dir, "tty-root"), DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const screen = new TextDecoder().decode(tty.stdout);
    assert.equal(tty.code, 0, screen);
    assert.match(screen, /Pulling \S+ \/ \S+ \(100%\) .*[0-9a-f]{12} 100%/);

    const missing = await run(root, ["pull", `${registry.host}/test/nothing:1`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /MANIFEST_UNKNOWN|NAME_UNKNOWN/);
  },
);

toolTest(
  "a registry that dies mid-pull leaves the store as it was, and the next pull completes",
  ignore,
  async ({ dir, root }) => {
    await using first = await startRegistry(dir);
    await pushTestImage(dir, first);
    await ok(root, ["image", "ls"]);
    const before = await listTree(root);
    // A proxy that passes the manifest and then drops every connection stands in for a crash.
    const proxyPort = freePort();
    let served = 0;
    const proxy = Deno.serve(
      { hostname: "127.0.0.1", port: proxyPort, onListen() {} },
      async (req) => {
        const url = new URL(req.url);
        if (url.pathname.includes("/blobs/") && ++served > 1) {
          return new Response(
            new ReadableStream({
              start(c) {
                c.enqueue(new Uint8Array(100));
                c.error(new Error("registry died"));
              },
            }),
          );
        }
        const r = await fetch(`http://${first.host}${url.pathname}${url.search}`, {
          method: req.method,
          headers: req.headers,
        });
        return new Response(r.body, { status: r.status, headers: r.headers });
      },
    );
    const viaProxy = `127.0.0.1:${proxyPort}/test/app:1`;
    const failed = await run(root, ["pull", viaProxy]);
    await proxy.shutdown();
    assert.equal(failed.code, 1, failed.stdout);
    assert.equal(failed.stderr.trimEnd().split("\n").length, 1, failed.stderr);
    assert.match(failed.stderr, /connection was lost|error reading a body/);
    assert.deepEqual(await listTree(root), before, "nothing was committed or left in staging");
    await first.stop();
    await using registry = await startRegistry(dir, "", "http");
    const again = await run(root, ["pull", `${registry.host}/test/app:1`]);
    assert.equal(again.code, 0, again.stderr);
    await check(root, `${registry.host}/test/app:1`, "overlay");
  },
);

/** Makes an RSA key and a self-signed certificate for it, valid two days, with openssl. */
async function selfSigned(keyFile: string, certFile: string, commonName: string): Promise<void> {
  await sh(
    "openssl",
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    "2",
    "-subj",
    `/CN=${commonName}`,
  );
}

/** A CA and a server certificate for 127.0.0.1, made with openssl. */
async function certificates(
  dir: string,
): Promise<{ ca: string; cert: string; key: string; certDir: string }> {
  const ca = join(dir, "ca.crt");
  const caKey = join(dir, "ca.key");
  const key = join(dir, "server.key");
  const csr = join(dir, "server.csr");
  const cert = join(dir, "server.crt");
  const ext = join(dir, "san.ext");
  await selfSigned(caKey, ca, "servin test CA");
  await sh(
    "openssl",
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    key,
    "-out",
    csr,
    "-subj",
    "/CN=127.0.0.1",
  );
  await Deno.writeTextFile(ext, "subjectAltName=IP:127.0.0.1\n");
  await sh(
    "openssl",
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca,
    "-CAkey",
    caKey,
    "-CAcreateserial",
    "-out",
    cert,
    "-days",
    "2",
    "-extfile",
    ext,
  );
  const certDir = join(dir, "certs");
  await Deno.mkdir(certDir);
  await Deno.copyFile(ca, join(certDir, "ca.crt"));
  return { ca, cert, key, certDir };
}

toolTest(
  "htpasswd Basic auth over TLS with a private CA: login, pull, push; a wrong password stores nothing",
  ignore || !have("htpasswd"),
  async ({ dir, root }) => {
    const tls = await certificates(dir);
    const htpasswd = join(dir, "htpasswd");
    await sh("htpasswd", "-Bbc", htpasswd, "alice", "s3cret");
    await using registry = await startRegistry(
      dir,
      `  tls:
    certificate: ${tls.cert}
    key: ${tls.key}
auth:
  htpasswd:
    realm: test
    path: ${htpasswd}
`,
      "https",
      tls.ca,
    );
    const ref = `${registry.host}/secure/app:1`;
    await importHello(dir, root, ref);

    const anonymous = await run(root, ["push", "--cert-dir", tls.certDir, ref]);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /unauthorized/);
    const noCa = await run(root, ["pull", ref]);
    assert.equal(noCa.code, 1);
    assert.match(noCa.stderr, /TLS|certificate/i);

    const loginAlice = (password: string) =>
      run(root, [
        "login",
        "--cert-dir",
        tls.certDir,
        "-u",
        "alice",
        "--password-stdin",
        registry.host,
      ], {
        stdin: new TextEncoder().encode(password),
      });
    const wrong = await loginAlice("wrong\n");
    assert.equal(wrong.code, 1);
    assert.doesNotMatch(wrong.stderr + wrong.stdout, /wrong|s3cret/);
    assert.equal(wrong.stderr.trimEnd().split("\n").length, 1, wrong.stderr);
    await assert.rejects(() => Deno.stat(join(root, "auth.json")));

    const login = await loginAlice("s3cret\n");
    assert.equal(login.code, 0, login.stderr);
    assert.equal(login.stdout, "Login Succeeded!\n");
    assert.doesNotMatch(login.stdout + login.stderr, /s3cret/);
    const auth = await Deno.stat(join(root, "auth.json"));
    assert.equal(auth.mode! & 0o777, 0o600);
    const stored = JSON.parse(await Deno.readTextFile(join(root, "auth.json")));
    assert.equal(
      Buffer.from(stored.auths[registry.host].auth, "base64").toString(),
      "alice:s3cret",
    );

    assert.match(await ok(root, ["push", "--cert-dir", tls.certDir, ref]), /^digest: sha256:/);
    await ok(root, ["rmi", ref]);
    assert.match(await ok(root, ["pull", "--cert-dir", tls.certDir, ref]), /^Pulled /);
    assert.equal(
      await ok(root, ["logout", registry.host]),
      `Removed login credentials for ${registry.host}\n`,
    );
    const after = await run(root, ["pull", "--cert-dir", tls.certDir, ref]);
    assert.equal(after.code, 1);
  },
);

function base64url(bytes: Uint8Array | string): string {
  return Buffer.from(bytes).toString("base64url");
}

toolTest(
  "token (Bearer) auth: a token server of the test's own signs tokens the real registry checks",
  ignore,
  async ({ dir, root }) => {
    const keyFile = join(dir, "token.key");
    const certFile = join(dir, "token.crt");
    await selfSigned(keyFile, certFile, "token issuer");
    const pem = await Deno.readTextFile(keyFile);
    const der = Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
    const key = await crypto.subtle.importKey(
      "pkcs8",
      der,
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const certDer = (await Deno.readTextFile(certFile)).replace(/-----[^-]+-----/g, "").replace(
      /\s+/g,
      "",
    );
    const issued: string[] = [];
    const tokenPort = freePort();
    await using _tokens = Deno.serve(
      { hostname: "127.0.0.1", port: tokenPort, onListen() {} },
      async (req) => {
        const url = new URL(req.url);
        const auth = req.headers.get("authorization") ?? "";
        const user = auth.startsWith("Basic ")
          ? Buffer.from(auth.slice(6), "base64").toString()
          : "";
        if (user !== "bob:hunter2") return new Response("denied", { status: 401 });
        const scope = url.searchParams.get("scope") ?? "";
        issued.push(scope);
        const [type, name, actions] = scope.split(":");
        const now = Math.floor(Date.now() / 1000);
        const header = base64url(JSON.stringify({ alg: "RS256", typ: "JWT", x5c: [certDer] }));
        const claims = base64url(JSON.stringify({
          iss: "servin-test",
          sub: "bob",
          aud: "servin-registry",
          exp: now + 300,
          nbf: now - 10,
          iat: now,
          jti: crypto.randomUUID(),
          access: scope ? [{ type, name, actions: (actions ?? "").split(",") }] : [],
        }));
        const signature = new Uint8Array(
          await crypto.subtle.sign(
            "RSASSA-PKCS1-v1_5",
            key,
            new TextEncoder().encode(`${header}.${claims}`),
          ),
        );
        return Response.json({
          token: `${header}.${claims}.${base64url(signature)}`,
          expires_in: 300,
        });
      },
    );
    await using registry = await startRegistry(
      dir,
      `auth:
  token:
    realm: http://127.0.0.1:${tokenPort}/token
    service: servin-registry
    issuer: servin-test
    rootcertbundle: ${certFile}
`,
    );
    const ref = `${registry.host}/tokens/app:1`;
    await importHello(dir, root, ref);
    const anonymous = await run(root, ["push", ref]);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /authentication failed|unauthorized/);

    await ok(root, ["login", "-u", "bob", "--password-stdin", registry.host], {
      stdin: new TextEncoder().encode("hunter2"),
    });
    assert.match(await ok(root, ["push", ref]), /^digest: sha256:/);
    await ok(root, ["rmi", ref]);
    assert.match(await ok(root, ["pull", ref]), /^Pulled /);
    assert.ok(issued.includes("repository:tokens/app:pull,push"), issued.join(" "));
    assert.ok(issued.includes("repository:tokens/app:pull"), issued.join(" "));
  },
);

registryTest(
  "pull of a multi-platform index takes the host's entry, or the one --platform names",
  async ({ dir, root, registry }) => {
    const layout = join(dir, "multi");
    const amd = await writeImage(layout, [{
      tar: buildTar([{ name: "amd", body: "x86\n" }]),
      compression: "gzip",
    }]);
    const arm = await writeImage(layout, [{
      tar: buildTar([{ name: "arm", body: "arm\n" }]),
      compression: "gzip",
    }]);
    await writeMultiPlatformLayout(layout, arm, amd, "multi");
    const ref = `${registry.host}/test/multi:1`;
    await sh(
      "skopeo",
      "copy",
      "--all",
      "--dest-tls-verify=false",
      `oci:${layout}:multi`,
      `docker://${ref}`,
    );
    const host = Deno.build.arch === "aarch64" ? arm : amd;
    assert.match(await ok(root, ["pull", ref]), new RegExp(`sha256:${host.config}`));
    assert.match(
      await ok(root, ["pull", "--platform", "linux/arm64/v8", ref]),
      new RegExp(`sha256:${arm.config}`),
    );
    const none = await run(root, ["pull", "--platform", "linux/riscv64", ref]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no image for platform linux\/riscv64/);
  },
);

/** The manifest `ref` (`repo:tag`) has on `registry`, as an OCI or Docker client asks for it. */
async function manifestOf(
  registry: Registry,
  ref: string,
): Promise<{ digest: string; config: { digest: string }; layers: Descriptor[] }> {
  const [repo, tag] = ref.split(":");
  const r = await fetch(`http://${registry.host}/v2/${repo}/manifests/${tag}`, {
    headers: {
      accept:
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    },
  });
  assert.equal(r.status, 200, ref);
  const bytes = await r.bytes();
  return { ...JSON.parse(new TextDecoder().decode(bytes)), digest: `sha256:${sha256(bytes)}` };
}

/** The bytes of blob `digest` of `repo` on `registry`. */
async function blobOf(registry: Registry, repo: string, digest: string): Promise<Uint8Array> {
  const r = await fetch(`http://${registry.host}/v2/${repo}/blobs/${digest}`);
  assert.equal(r.status, 200, digest);
  return await r.bytes();
}

/** The lines of the registry's access log after the first `from` characters, for `method`. */
async function requests(registry: Registry, from: number, method: string): Promise<string[]> {
  const text = (await Deno.readTextFile(registry.log)).slice(from);
  return text.split("\n").filter((l) => l.includes(`"${method} /v2/`));
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

registryTest(
  "push compresses an imported plain-tar layer (gzip by default, zstd or none on request) and reuses the gzip blob",
  async ({ dir, root, registry }) => {
    const base = join(dir, "b");
    await Deno.mkdir(join(base, "etc"), { recursive: true });
    // Compressible, so that gzip is clearly smaller than the tar.
    await Deno.writeTextFile(join(base, "etc", "words"), "servin pushes gzip\n".repeat(50_000));
    const tarball = join(dir, "rootfs.tar");
    await sh("tar", "-C", base, "-cf", tarball, ".");
    const ref = `${registry.host}/plain/app:1`;
    const id = (await ok(root, ["image", "import", tarball, ref])).trim().replace(/^sha256:/, "");
    const [record] = (await checkStore(root, "after import")).filter((r) => r.id === id);
    const diffId = record!.layers[0]!;
    assert.equal(diffId, sha256(await Deno.readFile(tarball)), "the stored layer is the plain tar");

    // Default: gzip, streamed (POST, PATCH, PUT ?digest=), config and diff_ids unchanged.
    const pushed = await ok(root, ["push", ref]);
    const manifest = await manifestOf(registry, "plain/app:1");
    assert.equal(pushed, `digest: ${manifest.digest}\n`);
    assert.equal(manifest.config.digest, `sha256:${id}`);
    const [layer] = manifest.layers;
    assert.equal(layer!.mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
    const gz = await blobOf(registry, "plain/app", layer!.digest);
    assert.equal(`sha256:${sha256(gz)}`, layer!.digest);
    assert.equal(gz.length, layer!.size);
    assert.ok(gz.length < (await Deno.stat(tarball)).size / 10, `${gz.length} bytes of gzip`);
    assert.equal(sha256(gunzipSync(gz)), diffId, "the gzip blob gunzips to the diff_id");
    assert.equal((await requests(registry, 0, "PATCH")).length, 1);

    // The gzip blob is kept in the store, held by the image, and known as the layer's gzip form.
    const [kept] = (await checkStore(root, "after push")).filter((r) => r.id === id);
    const gzHex = layer!.digest.slice(7);
    assert.deepEqual(kept!.variants, { [diffId]: { gzip: gzHex } });
    assert.ok(kept!.blobs!.includes(gzHex));
    assert.deepEqual(await Deno.readFile(join(root, "images", "blobs", "sha256", gzHex)), gz);

    // A second push compresses nothing: the registry has the blob (HEAD 200), and a new
    // repository gets the kept blob in one PUT, with no streamed upload.
    let mark = (await Deno.readTextFile(registry.log)).length;
    assert.equal(await ok(root, ["push", ref]), pushed);
    assert.equal(await ok(root, ["push", ref, `${registry.host}/plain/copy:1`]), pushed);
    assert.deepEqual(await requests(registry, mark, "PATCH"), []);
    const heads = await requests(registry, mark, "HEAD");
    assert.ok(
      heads.some((l) => l.includes(`/plain/app/blobs/${layer!.digest} `) && / 200 /.test(l)),
    );
    const puts = await requests(registry, mark, "PUT");
    assert.ok(puts.some((l) => l.includes(`/plain/copy/blobs/uploads/`) && l.includes(gzHex)));
    const byId = async (what: string, image = id) =>
      (await checkStore(root, what)).find((r) => r.id === image)!;
    assert.deepEqual((await byId("after the second push")).blobs, kept!.blobs);

    // Another image with that layer (imported again: another ID) reuses the blob, and holds it too.
    const twinRef = `${registry.host}/plain/twin:1`;
    const twin = (await ok(root, ["image", "import", tarball, twinRef])).trim().slice(7);
    assert.notEqual(twin, id);
    mark = (await Deno.readTextFile(registry.log)).length;
    await ok(root, ["push", twinRef]);
    assert.deepEqual(await requests(registry, mark, "PATCH"), []);
    assert.deepEqual((await byId("after the twin's push", twin)).variants, {
      [diffId]: { gzip: gzHex },
    });

    // Pulled back elsewhere: the same image, and skopeo reads and copies it.
    const other = join(dir, "other-root");
    assert.equal(await ok(other, ["pull", "-q", ref]), `sha256:${id}\n`);
    const inspect = JSON.parse(
      await sh("skopeo", "inspect", "--tls-verify=false", `docker://${ref}`),
    );
    assert.deepEqual(inspect.Layers, [layer!.digest]);
    await sh(
      "skopeo",
      "copy",
      "--src-tls-verify=false",
      `docker://${ref}`,
      `oci:${join(dir, "skopeo-copy")}:x`,
    );

    // zstd on request (and kept too); none pushes the tar as stored, the manifest unchanged.
    mark = (await Deno.readTextFile(registry.log)).length;
    await ok(root, ["push", "--compression-format", "zstd", ref, `${registry.host}/plain/zstd:1`]);
    const zstd = (await manifestOf(registry, "plain/zstd:1")).layers[0]!;
    assert.equal(zstd.mediaType, "application/vnd.oci.image.layer.v1.tar+zstd");
    const zst = await blobOf(registry, "plain/zstd", zstd.digest);
    assert.deepEqual([...zst.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd]);
    assert.equal(sha256(zstdDecompressSync(zst)), diffId);
    assert.equal((await requests(registry, mark, "PATCH")).length, 1);
    assert.deepEqual((await byId("after zstd")).variants![diffId], {
      gzip: gzHex,
      zstd: zstd.digest.slice(7),
    });
    assert.equal(
      await ok(other, ["pull", "-q", `${registry.host}/plain/zstd:1`]),
      `sha256:${id}\n`,
    );

    const none = await ok(root, [
      "push",
      "--compression-format=none",
      ref,
      `${registry.host}/plain/none:1`,
    ]);
    assert.equal(none, `digest: sha256:${record!.manifest}\n`, "the stored manifest, unchanged");
    const plain = (await manifestOf(registry, "plain/none:1")).layers[0]!;
    assert.equal(plain.mediaType, "application/vnd.oci.image.layer.v1.tar");
    assert.equal(plain.digest, `sha256:${diffId}`);

    // A gzip layer (the pulled image's) goes up as stored by default; an explicit
    // --compression-format recompresses it unless --force-compression=false.
    const pulledManifest = await ok(other, ["push", ref, `${registry.host}/plain/again:1`]);
    assert.equal(pulledManifest, pushed);
    await ok(other, ["push", "--compression-format", "zstd", ref, `${registry.host}/plain/re:1`]);
    assert.equal((await manifestOf(registry, "plain/re:1")).layers[0]!.digest, zstd.digest);
    assert.equal(
      await ok(other, [
        "push",
        "--compression-format",
        "zstd",
        "--force-compression=false",
        ref,
        `${registry.host}/plain/kept:1`,
      ]),
      pushed,
    );

    const bad = await run(root, ["push", "--compression-format", "lz4", ref]);
    assert.equal(bad.code, 1);
    assert.equal(
      bad.stderr,
      'servin: Invalid --compression-format "lz4": use gzip, zstd or none\n',
    );
  },
);

toolTest(
  "a compressed upload that fails starts over once; failing again, the push leaves the store as it was",
  ignore,
  async ({ dir, root }) => {
    // Relative upload locations, so that every request goes through the proxy.
    await using registry = await startRegistry(dir, "  relativeurls: true\n");
    const ref = `${registry.host}/flaky/app:1`;
    await importHello(dir, root, ref);
    let failures = 0;
    let patches = 0;
    const proxyPort = freePort();
    const proxy = Deno.serve(
      { hostname: "127.0.0.1", port: proxyPort, onListen() {} },
      async (req) => {
        const url = new URL(req.url);
        if (req.method === "PATCH" && (patches++, failures-- > 0)) {
          await req.body?.cancel();
          return new Response("down for a moment", { status: 503 });
        }
        const r = await fetch(`http://${registry.host}${url.pathname}${url.search}`, {
          method: req.method,
          headers: req.headers,
          body: req.body,
        });
        return new Response(r.body, { status: r.status, headers: r.headers });
      },
    );
    try {
      const via = `127.0.0.1:${proxyPort}/flaky/app:1`;
      const before = await listTree(root);
      failures = 2;
      const failed = await run(root, ["push", ref, via]);
      assert.equal(failed.code, 1, failed.stdout);
      assert.equal(failed.stderr.trimEnd().split("\n").length, 1, failed.stderr);
      assert.match(failed.stderr, /PATCH .*HTTP 503/);
      assert.equal(patches, 2, "one attempt, then one more from the start");
      assert.deepEqual(await listTree(root), before, "nothing kept, nothing left in staging");

      failures = 1;
      patches = 0;
      assert.match(await ok(root, ["push", ref, via]), /^digest: sha256:/);
      assert.equal(patches, 2);
      const layer = (await manifestOf(registry, "flaky/app:1")).layers[0]!;
      assert.equal(layer.mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
      const other = join(dir, "other-root");
      await ok(other, ["pull", ref]);
    } finally {
      await proxy.shutdown();
    }
  },
);
