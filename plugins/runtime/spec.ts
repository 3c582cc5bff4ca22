/**
 * The OCI runtime-spec `config.json` of a container: process (args, env,
 * cwd, user, terminal, rlimits within the caller's hard limits, Docker's
 * default capabilities with `--cap-add`/`--cap-drop`/`--privileged`), the
 * usual mounts plus the ones the caller adds (the generated `/etc/hosts`,
 * `/etc/hostname`, `/etc/resolv.conf`, the init) and the user's volumes,
 * binds and tmpfs mounts, the root read-only with `--read-only`,
 * namespaces (a path per namespace to join, for networks), masked paths,
 * cgroup resources (`--memory`, `--cpus`, `--pids-limit`) and the seccomp
 * filter `seccomp.ts` chose.
 *
 * @module
 */

import { ServinError } from "../../core/errors.ts";
import type { MountPoint, RuntimeContainer } from "../../core/kinds.ts";
import type { LinuxSeccomp } from "./seccomp.ts";

/** An OCI mount. */
export interface OciMount {
  /** Path in the container. */
  destination: string;
  /** `bind`, `tmpfs`… */
  type: string;
  /** Host path or file system name. */
  source: string;
  /** Mount options. */
  options: string[];
}

/** What the spec adds to the container's own settings. */
export interface SpecExtras {
  /** The seccomp filter (none: unconfined). */
  seccomp?: LinuxSeccomp;
  /** Mounts after the usual ones (generated files, init, volumes). */
  mounts?: OciMount[];
  /** Namespaces to join instead of making new ones (`network` → `/var/run/netns/x`). */
  namespacePaths?: Record<string, string>;
  /** The caller's hard limit on open files (default: read from `/proc/self/limits`). */
  nofileHard?: number;
}

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

/**
 * Every capability Linux knows today, in number order (`--privileged` and
 * `--cap-add ALL` give those of them the caller's bounding set holds).
 */
export const ALL_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

function capName(name: string): string {
  const upper = name.toUpperCase();
  const cap = upper === "ALL" || upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
  if (cap !== "ALL" && !ALL_CAPABILITIES.includes(cap)) {
    throw new ServinError("invalid-argument", `Unknown capability "${name}"`);
  }
  return cap;
}

/**
 * The capabilities of a container: Docker's defaults, then `drop`, then
 * `add` (`ALL` in either means every capability), or every one when privileged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { capabilities } from "./spec.ts";
 * const caps = capabilities({ cap_add: ["net_admin"], cap_drop: ["chown"] });
 * assert(caps.includes("CAP_NET_ADMIN") && !caps.includes("CAP_CHOWN"));
 * ```
 */
export function capabilities(
  host: { cap_add?: string[]; cap_drop?: string[]; privileged?: boolean } = {},
  bounding: bigint = boundingSet(),
): string[] {
  const all = ALL_CAPABILITIES.filter((_, bit) => (bounding >> BigInt(bit)) & 1n);
  if (host.privileged) return all;
  const add = (host.cap_add ?? []).map(capName);
  const drop = (host.cap_drop ?? []).map(capName);
  let caps = drop.includes("ALL") ? [] : CAPABILITIES.filter((c) => !drop.includes(c));
  if (add.includes("ALL")) caps = all;
  for (const c of add) if (c !== "ALL" && !caps.includes(c)) caps.push(c);
  return caps;
}

/** The caller's capability bounding set (`CapBnd`); every capability where it cannot be read. */
function boundingSet(): bigint {
  try {
    const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(Deno.readTextFileSync("/proc/self/status"))?.[1];
    if (hex) return BigInt(`0x${hex}`);
  } catch { /* not Linux */ }
  return (1n << 64n) - 1n;
}

const RLIMITS = [
  "as",
  "core",
  "cpu",
  "data",
  "fsize",
  "locks",
  "memlock",
  "msgqueue",
  "nice",
  "nofile",
  "nproc",
  "rss",
  "rtprio",
  "rttime",
  "sigpending",
  "stack",
];

/**
 * Docker's `--ulimit TYPE=SOFT[:HARD]` as an OCI rlimit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseUlimit } from "./spec.ts";
 * const r = parseUlimit("nofile=512:1024");
 * assert(r.type === "RLIMIT_NOFILE" && r.soft === 512 && r.hard === 1024);
 * ```
 */
export function parseUlimit(value: string): { type: string; soft: number; hard: number } {
  const m = /^([a-z]+)=(\d+)(?::(\d+))?$/.exec(value);
  if (!m || !RLIMITS.includes(m[1]!)) {
    throw new ServinError(
      "invalid-argument",
      `Invalid --ulimit "${value}": expected TYPE=SOFT[:HARD] with TYPE one of ${
        RLIMITS.join(", ")
      }`,
    );
  }
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  if (soft > hard) {
    throw new ServinError("invalid-argument", `Invalid --ulimit "${value}": soft limit above hard`);
  }
  return { type: `RLIMIT_${m[1]!.toUpperCase()}`, soft, hard };
}

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

/**
 * The generated mounts and the user's (`-v`, `--mount`, `--tmpfs`) as OCI
 * mounts: a user's mount on a generated file's place replaces it, as in
 * Docker, and parents are mounted before what lies under them.
 */
function userMounts(generated: OciMount[], mounts: readonly MountPoint[]): OciMount[] {
  const user = mounts.map((m): OciMount =>
    m.type === "tmpfs"
      ? { destination: m.destination, type: "tmpfs", source: "tmpfs", options: m.options }
      : {
        destination: m.destination,
        type: "bind",
        source: m.source,
        options: ["rbind", "rprivate", ...m.options.includes("ro") ? ["ro"] : []],
      }
  );
  const taken = new Set(user.map((m) => m.destination));
  const all = [...generated.filter((m) => !taken.has(m.destination)), ...user];
  const depth = (m: OciMount) => m.destination.split("/").filter(Boolean).length;
  // Array.prototype.sort is stable: at one depth the order stays as given.
  return all.sort((a, b) => depth(a) - depth(b));
}

/** The runtime spec for `c`, with what `extras` adds. */
export function runtimeSpec(c: RuntimeContainer, extras: SpecExtras = {}): unknown {
  const host = c.host ?? {};
  const nofile = Math.min(1_048_576, extras.nofileHard ?? nofileHardLimit());
  const namespaces = ["pid", "ipc", "uts", "mount"];
  if (c.network !== "host") namespaces.push("network");
  const caps = capabilities(host);
  const rlimits = new Map([["RLIMIT_NOFILE", {
    type: "RLIMIT_NOFILE",
    hard: nofile,
    soft: nofile,
  }]]);
  for (const u of host.ulimits ?? []) {
    const r = parseUlimit(u);
    rlimits.set(r.type, r);
  }
  const resources: Record<string, unknown> = {};
  if (host.memory) resources.memory = { limit: host.memory };
  if (host.nano_cpus) {
    resources.cpu = { period: 100_000, quota: Math.round(host.nano_cpus / 10_000) };
  }
  if (host.pids_limit) resources.pids = { limit: host.pids_limit };
  const args = host.init ? ["/dev/init", "--", ...c.process.args] : c.process.args;
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: c.process.tty,
      user: {
        uid: c.process.uid,
        gid: c.process.gid,
        ...(c.process.additional_gids.length ? { additionalGids: c.process.additional_gids } : {}),
      },
      args,
      env: c.process.env,
      cwd: c.process.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [...rlimits.values()],
      noNewPrivileges: false,
    },
    root: { path: "rootfs", readonly: host.readonly_rootfs === true },
    hostname: c.hostname,
    mounts: [
      ...MOUNTS.map((m) =>
        host.privileged && m.destination === "/sys"
          ? { ...m, options: m.options.filter((o) => o !== "ro") }
          : m
      ),
      ...userMounts(extras.mounts ?? [], host.mounts ?? []),
    ],
    linux: {
      namespaces: namespaces.map((type) => {
        const path = extras.namespacePaths?.[type];
        return path ? { type, path } : { type };
      }),
      ...(Object.keys(resources).length ? { resources } : {}),
      maskedPaths: host.privileged ? [] : MASKED,
      readonlyPaths: host.privileged ? [] : READONLY,
      ...(extras.seccomp ? { seccomp: extras.seccomp } : {}),
    },
  };
}

/**
 * Writes the files Docker generates for a container into its bundle
 * (`hosts`: localhost, the hostname and `--add-host` entries; `hostname`;
 * `resolv.conf`: the host's, or `--dns` servers) and returns their mounts.
 */
export async function environmentFiles(c: RuntimeContainer): Promise<OciMount[]> {
  const host = c.host ?? {};
  const hosts = [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    `127.0.1.1\t${c.hostname}`,
  ];
  for (const entry of host.extra_hosts ?? []) {
    const i = entry.indexOf(":");
    hosts.push(`${entry.slice(i + 1)}\t${entry.slice(0, i)}`);
  }
  let resolv: string;
  if (host.dns?.length) {
    resolv = host.dns.map((s) => `nameserver ${s}\n`).join("");
  } else {
    // A loopback resolver of the host (systemd-resolved's) cannot be reached from a network namespace.
    resolv = await Deno.readTextFile("/etc/resolv.conf").catch(() => "");
    if (c.network !== "host") {
      resolv = resolv.split("\n").filter((l) => !/^nameserver\s+127\./.test(l)).join("\n");
    }
  }
  const files: [string, string][] = [
    ["hosts", `${hosts.join("\n")}\n`],
    ["hostname", `${c.hostname}\n`],
    ["resolv.conf", resolv],
  ];
  const mounts: OciMount[] = [];
  for (const [name, text] of files) {
    await Deno.writeTextFile(`${c.bundle}/${name}`, text);
    // Relative to the bundle (the runtime's working directory): the bundle is renamed into place.
    mounts.push({
      destination: `/etc/${name}`,
      type: "bind",
      source: name,
      options: ["rbind", "rprivate"],
    });
  }
  return mounts;
}
