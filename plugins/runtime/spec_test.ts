import assert from "node:assert/strict";
import type { RuntimeContainer } from "../../core/kinds.ts";
import { runtimeSpec } from "./spec.ts";
import { rootProcess } from "../../tests/_runtime.ts";

const container = {
  id: "a".repeat(64),
  name: "web",
  hostname: "web",
  network: "none",
  process: rootProcess(["/bin/sh"]),
} as unknown as RuntimeContainer;

Deno.test("the runtime spec keeps rlimits under the caller's hard limit and sets no cgroup limits", () => {
  // deno-lint-ignore no-explicit-any
  const spec = runtimeSpec(container, { nofileHard: 4096 }) as any;
  assert.deepEqual(spec.process.rlimits, [{ type: "RLIMIT_NOFILE", hard: 4096, soft: 4096 }]);
  assert.equal(spec.linux.resources, undefined);
  assert.equal(spec.linux.cgroupsPath, undefined);
  assert.equal(spec.hostname, "web");
  assert.deepEqual(spec.linux.namespaces.map((n: { type: string }) => n.type), [
    "pid",
    "ipc",
    "uts",
    "mount",
    "network",
  ]);
  assert.deepEqual(
    spec.mounts.map((m: { destination: string }) => m.destination),
    ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"],
  );
  // deno-lint-ignore no-explicit-any
  const host = runtimeSpec({ ...container, network: "host" }, { nofileHard: 1 << 30 }) as any;
  assert.ok(!host.linux.namespaces.some((n: { type: string }) => n.type === "network"));
  assert.equal(host.process.rlimits[0].hard, 1_048_576);
});
