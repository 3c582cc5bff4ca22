import assert from "node:assert/strict";
import { identityMatches } from "./_sigstore.ts";
import { dockerScopes, Policy } from "./policy.ts";

Deno.test("the most specific scope of a transport wins, then the transport's default, then default", () => {
  const policy = Policy.parse(
    JSON.stringify({
      default: [{ type: "reject" }],
      transports: {
        docker: {
          "reg.example.com/team/app:1": [{ type: "insecureAcceptAnything" }],
          "reg.example.com/team": [{ type: "sigstoreSigned", keyPath: "k.pub" }],
          "*.example.com": [{ type: "reject" }],
        },
        "docker-archive": { "": [{ type: "insecureAcceptAnything" }] },
      },
    }),
    "/etc/p.json",
  );
  const scope = (ref: string) => policy.requirementsFor("docker", dockerScopes(ref)).scope;
  assert.equal(scope("reg.example.com/team/app:1"), "docker:reg.example.com/team/app:1");
  assert.equal(scope("reg.example.com/team/app:2"), "docker:reg.example.com/team");
  assert.equal(scope("other.example.com/x:1"), "docker:*.example.com");
  assert.equal(scope("localhost:5000/x:1"), "default");
  assert.equal(policy.requirementsFor("docker-archive", ["/a.tar"]).scope, "docker-archive:");
});

Deno.test("a policy without default or with an empty list is refused with one line", () => {
  assert.throws(() => Policy.parse("{}", "p.json"), /Invalid policy p.json: "default" is not/);
  assert.throws(
    () => Policy.parse('{"default":[{"type":"reject"}],"transports":{"docker":{"x":[]}}}', "p"),
    /transports.docker\["x"\] is not a non-empty list/,
  );
  assert.throws(() => Policy.parse("nope", "p"), /not JSON/);
});

Deno.test("signedIdentity rules match as containers-policy.json(5) says", () => {
  const id = (repo: string, tag?: string, digest?: string) => ({ repo, tag, digest });
  const app1 = id("r.io/team/app", "1");
  const byDigest = id("r.io/team/app", undefined, `sha256:${"a".repeat(64)}`);
  assert.ok(identityMatches(undefined, app1, app1));
  assert.ok(!identityMatches(undefined, app1, id("r.io/team/app", "2")));
  assert.ok(identityMatches(undefined, byDigest, id("r.io/team/app", "2")));
  assert.ok(!identityMatches({ type: "matchExact" }, byDigest, id("r.io/team/app", "2")));
  assert.ok(identityMatches({ type: "matchRepository" }, app1, id("r.io/team/app", "9")));
  assert.ok(!identityMatches({ type: "matchRepository" }, app1, id("r.io/team/other", "1")));
  assert.ok(
    identityMatches({ type: "exactRepository", dockerRepository: "r.io/team/base" }, app1, {
      repo: "r.io/team/base",
      tag: "7",
    }),
  );
  const remap = { type: "remapIdentity", prefix: "mirror.io/team", signedPrefix: "r.io/team" };
  assert.ok(identityMatches(remap, id("mirror.io/team/app", "1"), app1));
  assert.ok(!identityMatches(remap, id("mirror.io/teamx/app", "1"), id("r.io/teamx/app", "1")));
  assert.throws(() => identityMatches({ type: "nope" }, app1, app1), /unknown signedIdentity/);
});
