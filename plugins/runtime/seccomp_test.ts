import assert from "node:assert/strict";
import { join } from "node:path";
import type { RuntimeContainer } from "../../core/kinds.ts";
import { ServinError } from "../../core/errors.ts";
import { which } from "../platform/_common.ts";
import {
  ACTIONS,
  ARCHES,
  convertProfile,
  defaultProfile,
  FLAGS,
  type LinuxSeccomp,
  OPERATORS,
  parseSecurityOpts,
  seccompFor,
} from "./seccomp.ts";
import { ociRuntime } from "./mod.ts";
import { CAPABILITIES } from "./spec.ts";
import { withTempDir } from "../../tests/_cli.ts";
import { NO_MKDIR_PROFILE, rootProcess } from "../../tests/_runtime.ts";

const ARCH_MAP = [
  { architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
  { architecture: "SCMP_ARCH_AARCH64", subArchitectures: ["SCMP_ARCH_ARM"] },
];

function names(spec: LinuxSeccomp | undefined): string[] {
  return (spec?.syscalls ?? []).flatMap((s) => s.names.map((n) => `${n}:${s.action}`));
}

function refused(profile: unknown, message: RegExp): void {
  assert.throws(
    () => convertProfile(profile, { capabilities: [], arch: "amd64", source: '"p.json"' }),
    (err: unknown) => {
      assert.ok(err instanceof ServinError);
      assert.equal(err.code, "invalid-argument");
      assert.match(err.message, /^Invalid seccomp profile "p\.json": /);
      assert.match(err.message, message);
      assert.ok(!err.message.includes("\n"));
      return true;
    },
  );
}

Deno.test("seccomp conversion keeps a rule only when its caps includes hold and no caps exclude does", () => {
  const profile = {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 1,
    syscalls: [
      { names: ["read"], action: "SCMP_ACT_ALLOW" },
      { names: ["unshare"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } },
      {
        names: ["setns"],
        action: "SCMP_ACT_ALLOW",
        includes: { caps: ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"] },
      },
      {
        names: ["clone3"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 38,
        excludes: { caps: ["CAP_SYS_ADMIN"] },
      },
    ],
  };
  const plain = convertProfile(profile, { capabilities: CAPABILITIES, arch: "amd64" });
  assert.deepEqual(plain, {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 1,
    syscalls: [
      { names: ["read"], action: "SCMP_ACT_ALLOW" },
      { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38 },
    ],
  });
  const admin = convertProfile(profile, {
    capabilities: [...CAPABILITIES, "CAP_SYS_ADMIN"],
    arch: "amd64",
  });
  assert.deepEqual(names(admin), ["read:SCMP_ACT_ALLOW", "unshare:SCMP_ACT_ALLOW"]);
  const both = convertProfile(profile, {
    capabilities: ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"],
    arch: "amd64",
  });
  assert.deepEqual(names(both), [
    "read:SCMP_ACT_ALLOW",
    "unshare:SCMP_ACT_ALLOW",
    "setns:SCMP_ACT_ALLOW",
  ]);
});

Deno.test("seccomp conversion takes the native architecture's archMap entry and filters rules by arch", () => {
  const profile = {
    defaultAction: "SCMP_ACT_ERRNO",
    archMap: ARCH_MAP,
    syscalls: [
      { names: ["arch_prctl"], action: "SCMP_ACT_ALLOW", includes: { arches: ["amd64", "x32"] } },
      { names: ["set_tls"], action: "SCMP_ACT_ALLOW", includes: { arches: ["arm", "arm64"] } },
      { names: ["clone"], action: "SCMP_ACT_ALLOW", excludes: { arches: ["s390", "s390x"] } },
      { names: ["vm86"], action: "SCMP_ACT_ALLOW", excludes: { arches: ["amd64"] } },
    ],
  };
  const amd64 = convertProfile(profile, { capabilities: [], arch: "amd64" });
  assert.deepEqual(amd64?.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
  assert.deepEqual(names(amd64), ["arch_prctl:SCMP_ACT_ALLOW", "clone:SCMP_ACT_ALLOW"]);
  const arm64 = convertProfile(profile, { capabilities: [], arch: "arm64" });
  assert.deepEqual(arm64?.architectures, ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
  assert.deepEqual(names(arm64), [
    "set_tls:SCMP_ACT_ALLOW",
    "clone:SCMP_ACT_ALLOW",
    "vm86:SCMP_ACT_ALLOW",
  ]);
  // An architecture the map does not list leaves the choice to libseccomp (its native one).
  const s390x = convertProfile(profile, { capabilities: [], arch: "s390x" });
  assert.equal(s390x?.architectures, undefined);
  const explicit = convertProfile(
    { defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64"], syscalls: [] },
    { capabilities: [], arch: "arm64" },
  );
  assert.deepEqual(explicit?.architectures, ["SCMP_ARCH_X86_64"]);
});

Deno.test("seccomp conversion drops rules for kernels older than minKernel, as moby does", () => {
  const profile = {
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [
      { names: ["ptrace"], action: "SCMP_ACT_ALLOW", includes: { minKernel: "4.8" } },
      {
        names: ["ptrace"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 1,
        excludes: { minKernel: "4.8" },
      },
    ],
  };
  const at = (kernel: string) => names(convertProfile(profile, { capabilities: [], kernel }));
  assert.deepEqual(at("4.4.0-210-generic"), ["ptrace:SCMP_ACT_ERRNO"]);
  assert.deepEqual(at("4.8.0"), ["ptrace:SCMP_ACT_ALLOW"]);
  assert.deepEqual(at("6.1.0-13-amd64"), ["ptrace:SCMP_ACT_ALLOW"]);
  assert.deepEqual(at("3.19"), ["ptrace:SCMP_ACT_ERRNO"]);
});

Deno.test("seccomp conversion keeps args, errnoRet and Docker's single name form", () => {
  const spec = convertProfile({
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 38,
    flags: ["SECCOMP_FILTER_FLAG_LOG"],
    syscalls: [
      {
        name: "personality",
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 4294967295, valueTwo: 0, op: "SCMP_CMP_EQ" }],
      },
      {
        names: ["clone"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 2114060288, op: "SCMP_CMP_MASKED_EQ" }],
        comment: "namespaces need CAP_SYS_ADMIN",
      },
    ],
  }, { capabilities: [], arch: "amd64" });
  assert.deepEqual(spec, {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 38,
    flags: ["SECCOMP_FILTER_FLAG_LOG"],
    syscalls: [
      {
        names: ["personality"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 4294967295, op: "SCMP_CMP_EQ" }],
      },
      {
        names: ["clone"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: 2114060288, op: "SCMP_CMP_MASKED_EQ" }],
      },
    ],
  });
  assert.equal(convertProfile({ syscalls: [] }, { capabilities: [] }), undefined);
});

Deno.test("seccomp conversion refuses, in one line, what runc would refuse at start", () => {
  const rule = (extra: object) => ({
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW", ...extra }],
  });
  refused([], /not a JSON object/);
  refused({ defaultAction: "SCMP_ACT_DENY", syscalls: [] }, /defaultAction: unknown action/);
  refused(rule({ action: "SCMP_ACT_NOTIFY" }), /seccomp agent/);
  refused(rule({ args: [{ index: 0, value: 1, op: "SCMP_CMP_SOMETIMES" }] }), /unknown operator/);
  refused(rule({ args: [{ index: 6, value: 1, op: "SCMP_CMP_EQ" }] }), /index must be 0 to 5/);
  refused(
    rule({ args: [{ index: 0, value: 18446744073709551615, op: "SCMP_CMP_EQ" }] }),
    /2\^53-1/,
  );
  refused(rule({ name: "write" }), /either name or names/);
  refused(rule({ names: [] }), /no syscall names/);
  refused(rule({ errnoRet: 1 }), /errnoRet needs SCMP_ACT_ERRNO/);
  refused(rule({ includes: { minKernel: "new" } }), /minKernel "new"/);
  refused(
    { defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86"], archMap: ARCH_MAP },
    /either architectures or archMap/,
  );
  refused({ defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_Z80"] }, /Z80/);
  refused({ defaultAction: "SCMP_ACT_ALLOW", flags: ["SECCOMP_FILTER_FLAG_FAST"] }, /unknown flag/);
  refused({ defaultAction: "SCMP_ACT_ALLOW", syscalls: {} }, /syscalls must be a list/);
});

Deno.test("--security-opt values: unconfined, a profile path resolved against cwd, the last one wins", () => {
  assert.deepEqual(parseSecurityOpts([]), { kind: "default" });
  assert.deepEqual(parseSecurityOpts(["seccomp=unconfined"]), { kind: "unconfined" });
  assert.deepEqual(parseSecurityOpts(["seccomp=p.json"], "/srv"), {
    kind: "file",
    path: "/srv/p.json",
  });
  assert.deepEqual(parseSecurityOpts(["seccomp=/a.json", "seccomp=unconfined"]), {
    kind: "unconfined",
  });
  for (const bad of ["apparmor=unconfined", "seccomp", "seccomp=", "no-new-privileges"]) {
    assert.throws(() => parseSecurityOpts([bad]), (err: unknown) => {
      assert.ok(err instanceof ServinError && err.code === "invalid-argument");
      assert.match(err.message, new RegExp(`^Invalid --security-opt "${bad}": `));
      return true;
    });
  }
});

/** The rules of `spec` that apply to `name`, as `action[ args]` strings. */
function rulesFor(spec: LinuxSeccomp | undefined, name: string): string[] {
  return (spec?.syscalls ?? []).filter((s) => s.names.includes(name)).map((s) =>
    [s.action, s.errnoRet, ...(s.args ?? []).map((a) => `${a.index}${a.op}${a.value}`)]
      .filter((x) => x !== undefined).join(" ")
  );
}

// What CAP_SYS_ADMIN guards in Docker's default: namespaces, mounts, and the rest.
const ADMIN_ONLY = [
  "unshare",
  "setns",
  "mount",
  "umount",
  "umount2",
  "fsopen",
  "fsconfig",
  "fsmount",
  "fspick",
  "move_mount",
  "open_tree",
  "mount_setattr",
  "sethostname",
  "setdomainname",
  "bpf",
  "perf_event_open",
  "quotactl",
  "fanotify_init",
  "lookup_dcookie",
  "syslog",
];

Deno.test("the default profile keeps namespaces and mounts to CAP_SYS_ADMIN, as Docker's does", async () => {
  const opts = { arch: "amd64", kernel: "6.1.0" };
  const plain = await seccompFor([], CAPABILITIES, opts);
  assert.ok(plain);
  assert.equal(plain.defaultAction, "SCMP_ACT_ERRNO");
  assert.equal(plain.defaultErrnoRet, 1, "EPERM, as Docker: a refused call says so");
  assert.deepEqual(plain.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
  // Without CAP_SYS_ADMIN no rule names them: the default action (EPERM) answers.
  for (const name of ADMIN_ONLY) assert.deepEqual(rulesFor(plain, name), [], name);
  // clone only without CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
  // (0x7E020000); clone3, whose flags seccomp cannot read, says ENOSYS so libc uses clone.
  assert.deepEqual(rulesFor(plain, "clone"), [`SCMP_ACT_ALLOW 0SCMP_CMP_MASKED_EQ${0x7E020000}`]);
  assert.deepEqual(rulesFor(plain, "clone3"), ["SCMP_ACT_ERRNO 38"]);
  // Podman's profile allows these to everyone; Docker's does not.
  for (const name of ["keyctl", "pivot_root", "reboot", "pidfd_getfd", "set_mempolicy"]) {
    assert.deepEqual(rulesFor(plain, name), [], name);
  }
  for (const name of ["io_uring_setup", "io_uring_enter", "add_key", "request_key", "kexec_load"]) {
    assert.deepEqual(rulesFor(plain, name), [], name);
  }
  assert.deepEqual(rulesFor(plain, "socket"), ["SCMP_ACT_ALLOW 0SCMP_CMP_NE40"], "no AF_VSOCK");
  for (const name of ["read", "fork", "vfork", "execve", "chroot", "arch_prctl", "ptrace"]) {
    assert.deepEqual(rulesFor(plain, name), ["SCMP_ACT_ALLOW"], name);
  }
  assert.deepEqual(rulesFor(plain, "set_tls"), [], "an arm rule on amd64");

  const admin = await seccompFor([], [...CAPABILITIES, "CAP_SYS_ADMIN"], opts);
  for (const name of [...ADMIN_ONLY, "clone", "clone3"]) {
    assert.deepEqual(rulesFor(admin, name), ["SCMP_ACT_ALLOW"], name);
  }
  const arm = await seccompFor([], [], { arch: "arm64", kernel: "6.1.0" });
  assert.deepEqual(arm?.architectures, ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
  assert.deepEqual(rulesFor(arm, "set_tls"), ["SCMP_ACT_ALLOW"]);
  assert.deepEqual(rulesFor(arm, "chroot"), [], "no CAP_SYS_CHROOT");
  const old = await seccompFor([], CAPABILITIES, { arch: "amd64", kernel: "4.4.0" });
  assert.deepEqual(rulesFor(old, "ptrace"), [], "ptrace could bypass seccomp before 4.8");
  assert.equal(await seccompFor(["seccomp=unconfined"], CAPABILITIES), undefined);
});

Deno.test("the default profile is the built-in one, not the host's Podman file", async () => {
  const podman = "/usr/share/containers/seccomp.json";
  const host = await Deno.readTextFile(podman).catch(() => undefined);
  const builtin = convertProfile(await defaultProfile(), { capabilities: CAPABILITIES });
  assert.deepEqual(await seccompFor([], CAPABILITIES), builtin);
  if (host === undefined) return; // containers-common not installed: nothing to tell apart
  // Named with --security-opt, the host file is used as written: there unshare is allowed.
  const named = await seccompFor([`seccomp=${podman}`], CAPABILITIES);
  assert.notDeepEqual(named, builtin);
  assert.ok(rulesFor(named, "unshare").includes("SCMP_ACT_ALLOW"));
});

Deno.test(
  "a profile file is read when it is chosen, and a missing or broken one is a one-line error",
  withTempDir(async ({ dir }) => {
    const good = join(dir, "good.json");
    await Deno.writeTextFile(good, JSON.stringify(NO_MKDIR_PROFILE));
    assert.deepEqual(await seccompFor([`seccomp=${good}`], CAPABILITIES), NO_MKDIR_PROFILE);
    await Deno.writeTextFile(join(dir, "broken.json"), "{ not json");
    await assert.rejects(
      seccompFor([`seccomp=${join(dir, "broken.json")}`], CAPABILITIES),
      (err: ServinError) =>
        err.code === "invalid-argument" &&
        err.message.startsWith(`Invalid seccomp profile "${dir}/broken.json": `) &&
        !err.message.includes("\n"),
    );
    await assert.rejects(
      seccompFor([`seccomp=${join(dir, "missing.json")}`], CAPABILITIES),
      (err: ServinError) =>
        err.code === "not-found" &&
        err.message === `Cannot read seccomp profile "${dir}/missing.json": no such file`,
    );
  }),
);

const runc = which("runc");

Deno.test({
  name: "what the conversion accepts is what the installed runc knows (runc features)",
  ignore: !runc,
  async fn() {
    const out = await new Deno.Command(runc!, { args: ["features"], stdout: "piped" }).output();
    const known = JSON.parse(new TextDecoder().decode(out.stdout)).linux.seccomp;
    for (const a of ACTIONS) assert.ok(known.actions.includes(a), a);
    for (const o of OPERATORS) assert.ok(known.operators.includes(o), o);
    for (const a of Object.keys(ARCHES)) assert.ok(known.archs.includes(a), a);
    // runc 1.1 does not list its flags; later versions do (`knownFlags`).
    if (known.knownFlags) { for (const f of FLAGS) assert.ok(known.knownFlags.includes(f), f); }
  },
});

const busybox = which("busybox");

Deno.test({
  name:
    "the bundle a runtime writes carries the default filter, and runc runs under it (Seccomp: 2)",
  ignore: !runc || !busybox || Deno.uid() !== 0,
  async fn() {
    const bundle = await Deno.makeTempDir();
    try {
      await Deno.mkdir(join(bundle, "rootfs", "bin"), { recursive: true });
      for (const d of ["proc", "dev", "sys", "tmp"]) await Deno.mkdir(join(bundle, "rootfs", d));
      await Deno.copyFile(await Deno.realPath(busybox!), join(bundle, "rootfs", "bin", "busybox"));
      const container: RuntimeContainer = {
        id: `servin-seccomp-test-${crypto.randomUUID()}`,
        hostname: "seccomp",
        bundle,
        network: "none",
        process: rootProcess(["/bin/busybox", "sh", "-c", "grep Seccomp: /proc/self/status"]),
      };
      await ociRuntime("runc").writeBundle(container);
      const written = JSON.parse(await Deno.readTextFile(join(bundle, "config.json")));
      assert.deepEqual(written.linux.seccomp, await seccompFor([], CAPABILITIES));
      const out = await new Deno.Command(runc!, {
        args: ["run", "--bundle", bundle, container.id],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assert.equal(out.code, 0, dec.decode(out.stderr));
      assert.equal(dec.decode(out.stdout), "Seccomp:\t2\n");
    } finally {
      await Deno.remove(bundle, { recursive: true });
    }
  },
});
