/**
 * The OCI runtime-spec `config.json` of a container: process (args, env,
 * cwd, user, terminal, rlimits within the caller's hard limits, Docker's
 * default capabilities), the usual mounts, namespaces, masked paths, and the
 * seccomp filter `seccomp.ts` chose. No cgroup resources: none are asked for.
 *
 * @module
 */

import type { RuntimeContainer } from "../../core/kinds.ts";
import type { LinuxSeccomp } from "./seccomp.ts";

/** Docker's default capabilities: every set of the container's process holds these. */
export const CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

const MOUNTS = [
  { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
  {
    destination: "/dev",
    type: "tmpfs",
    source: "tmpfs",
    options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
  },
  {
    destination: "/dev/pts",
    type: "devpts",
    source: "devpts",
    options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
  },
  {
    destination: "/dev/shm",
    type: "tmpfs",
    source: "shm",
    options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
  },
  {
    destination: "/dev/mqueue",
    type: "mqueue",
    source: "mqueue",
    options: ["nosuid", "noexec", "nodev"],
  },
  {
    destination: "/sys",
    type: "sysfs",
    source: "sysfs",
    options: ["nosuid", "noexec", "nodev", "ro"],
  },
];

const MASKED = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
];
const READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/** The caller's hard limit on open files, from `/proc/self/limits`. */
export function nofileHardLimit(): number {
  try {
    const line = Deno.readTextFileSync("/proc/self/limits").split("\n")
      .find((l) => l.startsWith("Max open files"));
    const hard = line?.trim().split(/\s+/)[4];
    if (hard === "unlimited") return 1_048_576;
    if (hard && /^\d+$/.test(hard)) return Number(hard);
  } catch { /* not Linux */ }
  return 1024;
}

/** The runtime spec for `c`, with `seccomp` as its filter (none when absent: unconfined). */
export function runtimeSpec(
  c: RuntimeContainer,
  nofileHard = nofileHardLimit(),
  seccomp?: LinuxSeccomp,
): unknown {
  const nofile = Math.min(1_048_576, nofileHard);
  const namespaces = ["pid", "ipc", "uts", "mount"];
  if (c.network !== "host") namespaces.push("network");
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: c.process.tty,
      user: {
        uid: c.process.uid,
        gid: c.process.gid,
        ...(c.process.additional_gids.length ? { additionalGids: c.process.additional_gids } : {}),
      },
      args: c.process.args,
      env: c.process.env,
      cwd: c.process.cwd,
      capabilities: {
        bounding: CAPABILITIES,
        effective: CAPABILITIES,
        permitted: CAPABILITIES,
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: nofile, soft: nofile }],
      noNewPrivileges: false,
    },
    root: { path: "rootfs", readonly: false },
    hostname: c.hostname,
    mounts: MOUNTS,
    linux: {
      namespaces: namespaces.map((type) => ({ type })),
      maskedPaths: MASKED,
      readonlyPaths: READONLY,
      ...(seccomp ? { seccomp } : {}),
    },
  };
}
