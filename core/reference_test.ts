import assert from "node:assert/strict";
import { normalizeReference, parseReference } from "./reference.ts";

Deno.test("references split name and tag, never taking a registry port for a tag", () => {
  assert.deepEqual(parseReference("alpine"), { repository: "alpine", tag: "latest" });
  assert.deepEqual(parseReference("alpine:3.20"), { repository: "alpine", tag: "3.20" });
  assert.deepEqual(parseReference("localhost:5000/app"), {
    repository: "localhost:5000/app",
    tag: "latest",
  });
  assert.deepEqual(parseReference("localhost:5000/team/app:1"), {
    repository: "localhost:5000/team/app",
    tag: "1",
  });
  assert.deepEqual(parseReference("registry.example.com/a_b/c-d.e:v1.2_3"), {
    repository: "registry.example.com/a_b/c-d.e",
    tag: "v1.2_3",
  });
  assert.equal(normalizeReference("ubuntu:20.04"), "ubuntu:20.04");
});

Deno.test("invalid references are refused with the reason", () => {
  for (const bad of ["Alpine", "alpine:", "-x", "a//b", "a:b:c", "a:" + "x".repeat(129), ""]) {
    assert.throws(() => parseReference(bad), /Invalid reference/, bad);
  }
  assert.throws(() => parseReference("alpine@sha256:abc"), /digest references need a registry/);
});
