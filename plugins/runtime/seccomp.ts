/**
 * Seccomp for containers: which profile a container gets (`--security-opt`),
 * and the conversion of a Docker/moby-format profile into the OCI runtime
 * spec's `linux.seccomp` for this host's architecture and the container's
 * capabilities.
 *
 * The default profile is always the built-in `seccomp_default.json`, whose
 * rules are written to behave as Docker's default (moby's
 * `profiles/seccomp`, as of Docker 25): unknown syscalls fail with EPERM;
 * `unshare`, `setns`, `mount`, `umount2`, the new mount API, `clone` with a
 * `CLONE_NEW*` flag and the like need CAP_SYS_ADMIN, which Docker's default
 * capabilities lack; `clone3` fails with ENOSYS so that libc falls back to
 * `clone`, whose flags the filter can read; kernel keyrings, io_uring and
 * AF_VSOCK sockets are refused. It covers the architectures Deno runs on
 * (x86_64 with its 32-bit ABIs, aarch64 with arm). The host's
 * containers-common file (`/usr/share/containers/seccomp.json`) is not read:
 * it is Podman's profile, which lets a container's root `unshare -U` and
 * mount, and an administrator may have loosened it for Podman. A profile file
 * is used only when `--security-opt seccomp=PROFILE.json` names it, and then
 * as written, as Docker does.
 *
 * The conversion follows what moby's `profiles/seccomp` and containers/common's
 * `pkg/seccomp` do: `archMap` gives the native architecture and its
 * sub-architectures; a rule is kept when every `includes` condition holds and
 * no `excludes` condition does (`caps` against the bounding set, `arches`
 * against libseccomp's name of the native architecture, `minKernel` against the
 * running kernel). Everything runc would refuse at start is refused here, at
 * create time, with the profile's name in the message.
 *
 * @module
 */

import { resolve } from "node:path";
import { ServinError } from "../../core/errors.ts";
import { readText } from "../storage/fs.ts";

/** One argument condition of an OCI seccomp rule. */
export interface SeccompArg {
  /** Argument index, 0 to 5. */
  index: number;
  /** Value compared with (a mask for `SCMP_CMP_MASKED_EQ`). */
  value: number;
  /** Second value (`SCMP_CMP_MASKED_EQ`'s expected result). */
  valueTwo?: number;
  /** `SCMP_CMP_EQ`, `SCMP_CMP_MASKED_EQ`, … */
  op: string;
}

/** One rule of the OCI runtime spec's `linux.seccomp.syscalls`. */
export interface SeccompSyscall {
  /** Syscall names. */
  names: string[];
  /** `SCMP_ACT_ALLOW`, `SCMP_ACT_ERRNO`, … */
  action: string;
  /** The errno an `SCMP_ACT_ERRNO` or `SCMP_ACT_TRACE` rule returns. */
  errnoRet?: number;
  /** Conditions on the arguments (all must hold). */
  args?: SeccompArg[];
}

/** The OCI runtime spec's `linux.seccomp`. */
export interface LinuxSeccomp {
  /** Action for syscalls no rule matches. */
  defaultAction: string;
  /** The errno of an `SCMP_ACT_ERRNO` default action. */
  defaultErrnoRet?: number;
  /** `SCMP_ARCH_*` the filter covers; libseccomp's native one when absent. */
  architectures?: string[];
  /** `SECCOMP_FILTER_FLAG_*`. */
  flags?: string[];
  /** Rules, in order. */
  syscalls: SeccompSyscall[];
}

/** What decides which rules of a profile apply. */
export interface ConvertOptions {
  /** The container's bounding capabilities (`CAP_…`). */
  capabilities: readonly string[];
  /** libseccomp's name of the native architecture (`amd64`, `arm64`); the host's by default. */
  arch?: string;
  /** Kernel release (`6.1.0-13-amd64`); the running kernel's by default. */
  kernel?: string;
  /** Where the profile came from, for error messages. */
  source?: string;
}

// What runc 1.1 accepts (`runc features`); seccomp_test.ts checks them against the installed runc.
/** Seccomp actions runc accepts, but `SCMP_ACT_NOTIFY`: Servin runs no seccomp agent. */
export const ACTIONS: readonly string[] = [
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_LOG",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_TRAP",
];
/** Argument comparison operators runc accepts. */
export const OPERATORS: readonly string[] = [
  "SCMP_CMP_EQ",
  "SCMP_CMP_GE",
  "SCMP_CMP_GT",
  "SCMP_CMP_LE",
  "SCMP_CMP_LT",
  "SCMP_CMP_MASKED_EQ",
  "SCMP_CMP_NE",
];
/** `SCMP_ARCH_*` names runc accepts, with libseccomp's short name of each. */
export const ARCHES: Readonly<Record<string, string>> = {
  SCMP_ARCH_X86: "x86",
  SCMP_ARCH_X86_64: "amd64",
  SCMP_ARCH_X32: "x32",
  SCMP_ARCH_ARM: "arm",
  SCMP_ARCH_AARCH64: "arm64",
  SCMP_ARCH_MIPS: "mips",
  SCMP_ARCH_MIPS64: "mips64",
  SCMP_ARCH_MIPS64N32: "mips64n32",
  SCMP_ARCH_MIPSEL: "mipsel",
  SCMP_ARCH_MIPSEL64: "mipsel64",
  SCMP_ARCH_MIPSEL64N32: "mipsel64n32",
  SCMP_ARCH_PPC: "ppc",
  SCMP_ARCH_PPC64: "ppc64",
  SCMP_ARCH_PPC64LE: "ppc64le",
  SCMP_ARCH_S390: "s390",
  SCMP_ARCH_S390X: "s390x",
};
/** Filter flags runc accepts. */
export const FLAGS: readonly string[] = [
  "SECCOMP_FILTER_FLAG_TSYNC",
  "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
  "SECCOMP_FILTER_FLAG_LOG",
];

/** libseccomp's name of the host's architecture (Deno runs on these two). */
export function hostSeccompArch(): string {
  return Deno.build.arch === "aarch64" ? "arm64" : "amd64";
}

/** `[major, minor]` of a kernel release such as `6.1.0-13-amd64`, or undefined. */
function kernelVersion(release: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function kernelAtLeast(running: string, min: string, fail: (why: string) => never): boolean {
  const want = kernelVersion(min);
  if (!want) fail(`minKernel "${min}" is not a kernel version`);
  const have = kernelVersion(running);
  // An unreadable running version is taken as new: the rules it gates exist on current kernels.
  if (!have) return true;
  return have[0] !== want[0] ? have[0] > want[0] : have[1] >= want[1];
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function list(v: unknown, what: string, fail: (why: string) => never): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(`${what} must be a list`);
  return v as unknown[];
}

function stringList(v: unknown, what: string, fail: (why: string) => never): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) {
    fail(`${what} must be a list of strings`);
  }
  return v as string[];
}

function errnoValue(v: unknown, what: string, fail: (why: string) => never): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 0xffff) {
    fail(`${what} must be an integer from 0 to 65535`);
  }
  return v as number;
}

function convertArg(a: unknown, where: string, fail: (why: string) => never): SeccompArg {
  if (!isObject(a)) fail(`${where}: an argument must be an object`);
  const { index, value, valueTwo, op } = a;
  if (!Number.isInteger(index) || (index as number) < 0 || (index as number) > 5) {
    fail(`${where}: argument index must be 0 to 5`);
  }
  // JSON numbers past 2^53 would reach runc changed; refuse rather than filter on another value.
  for (const [name, v] of [["value", value], ["valueTwo", valueTwo ?? 0]] as const) {
    if (!Number.isSafeInteger(v) || (v as number) < 0) {
      fail(`${where}: argument ${name} must be an integer from 0 to 2^53-1`);
    }
  }
  if (typeof op !== "string" || !OPERATORS.includes(op)) {
    fail(`${where}: unknown operator ${JSON.stringify(op)}`);
  }
  return {
    index: index as number,
    value: value as number,
    ...(valueTwo ? { valueTwo: valueTwo as number } : {}),
    op: op as string,
  };
}

function checkAction(action: unknown, where: string, fail: (why: string) => never): string {
  if (action === "SCMP_ACT_NOTIFY") {
    fail(`${where}: SCMP_ACT_NOTIFY needs a seccomp agent, which Servin does not run`);
  }
  if (typeof action !== "string" || !ACTIONS.includes(action)) {
    fail(`${where}: unknown action ${JSON.stringify(action)}`);
  }
  return action;
}

/**
 * Converts a Docker/moby-format seccomp profile into the OCI runtime spec's
 * `linux.seccomp`, or undefined when the profile disables seccomp (no default
 * action and no rules, as Docker reads it). Throws an `invalid-argument`
 * `ServinError` for anything runc would refuse.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { convertProfile } from "./seccomp.ts";
 * const spec = convertProfile(
 *   {
 *     defaultAction: "SCMP_ACT_ERRNO",
 *     syscalls: [
 *       { names: ["chroot"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_CHROOT"] } },
 *     ],
 *   },
 *   { capabilities: [] },
 * );
 * assert(spec?.syscalls.length === 0);
 * ```
 */
export function convertProfile(
  profile: unknown,
  options: ConvertOptions,
): LinuxSeccomp | undefined {
  const source = options.source ?? "the seccomp profile";
  const fail: (why: string) => never = (why) => {
    throw new ServinError("invalid-argument", `Invalid seccomp profile ${source}: ${why}`);
  };
  if (!isObject(profile)) fail("not a JSON object");
  const p = profile as Json;
  const rules = list(p.syscalls, "syscalls", fail);
  if ((p.defaultAction === undefined || p.defaultAction === "") && rules.length === 0) {
    return undefined;
  }
  const defaultAction = checkAction(p.defaultAction, "defaultAction", fail);
  const arch = options.arch ?? hostSeccompArch();
  const kernel = options.kernel ?? Deno.osRelease();
  const caps = new Set(options.capabilities);

  const architectures = stringList(p.architectures, "architectures", fail);
  const archMap = list(p.archMap, "archMap", fail);
  if (architectures.length && archMap.length) {
    fail("give either architectures or archMap, not both");
  }
  for (const entry of archMap) {
    if (!isObject(entry) || typeof entry.architecture !== "string") {
      fail("an archMap entry needs an architecture");
    }
    const e = entry as Json;
    const subs = stringList(e.subArchitectures, "subArchitectures", fail);
    if (ARCHES[e.architecture as string] === arch) {
      architectures.push(e.architecture as string, ...subs);
      break;
    }
  }
  for (const a of architectures) if (!(a in ARCHES)) fail(`unknown architecture "${a}"`);
  const flags = stringList(p.flags, "flags", fail);
  for (const f of flags) if (!FLAGS.includes(f)) fail(`unknown flag "${f}"`);

  const applies = (cond: unknown, where: string, include: boolean): boolean => {
    if (cond === undefined || cond === null) return include;
    if (!isObject(cond)) fail(`${where} must be an object`);
    const c = cond as Json;
    const arches = stringList(c.arches, `${where}.arches`, fail);
    const needCaps = stringList(c.caps, `${where}.caps`, fail);
    const minKernel = c.minKernel;
    if (minKernel !== undefined && minKernel !== "" && typeof minKernel !== "string") {
      fail(`${where}.minKernel must be a string`);
    }
    const newEnough = minKernel ? kernelAtLeast(kernel, minKernel as string, fail) : undefined;
    // includes: every condition must hold; excludes: any condition that holds drops the rule.
    if (include) {
      return (arches.length === 0 || arches.includes(arch)) &&
        needCaps.every((cap) => caps.has(cap)) && newEnough !== false;
    }
    return arches.includes(arch) || needCaps.some((cap) => caps.has(cap)) || newEnough === true;
  };

  const syscalls: SeccompSyscall[] = [];
  rules.forEach((rule, i) => {
    const where = `syscalls[${i}]`;
    if (!isObject(rule)) fail(`${where} must be an object`);
    const r = rule as Json;
    if (!applies(r.includes, `${where}.includes`, true)) return;
    if (applies(r.excludes, `${where}.excludes`, false)) return;
    const names = stringList(r.names, `${where}.names`, fail);
    if (r.name !== undefined && r.name !== "") {
      if (names.length) fail(`${where}: give either name or names, not both`);
      if (typeof r.name !== "string") fail(`${where}.name must be a string`);
      names.push(r.name as string);
    }
    if (names.length === 0 || names.includes("")) fail(`${where}: no syscall names`);
    const action = checkAction(r.action, where, fail);
    const errnoRet = errnoValue(r.errnoRet, `${where}.errnoRet`, fail);
    if (errnoRet !== undefined && action !== "SCMP_ACT_ERRNO" && action !== "SCMP_ACT_TRACE") {
      fail(`${where}: errnoRet needs SCMP_ACT_ERRNO or SCMP_ACT_TRACE`);
    }
    const args = list(r.args, `${where}.args`, fail);
    syscalls.push({
      names: [...names],
      action,
      ...(errnoRet !== undefined ? { errnoRet } : {}),
      ...(args.length ? { args: args.map((a) => convertArg(a, where, fail)) } : {}),
    });
  });

  const defaultErrnoRet = errnoValue(p.defaultErrnoRet, "defaultErrnoRet", fail);
  return {
    defaultAction,
    ...(defaultErrnoRet !== undefined ? { defaultErrnoRet } : {}),
    ...(architectures.length ? { architectures } : {}),
    ...(flags.length ? { flags } : {}),
    syscalls,
  };
}

/** A container's seccomp choice: the default profile, none, or a profile file. */
export type SeccompChoice =
  | { kind: "default" }
  | { kind: "unconfined" }
  | { kind: "file"; path: string };

/**
 * Reads `--security-opt` values (`seccomp=unconfined`, `seccomp=PROFILE.json`);
 * the last seccomp option wins, as in Docker. A relative profile path is
 * resolved against `cwd`. Anything else is an `invalid-argument` error.
 */
export function parseSecurityOpts(values: readonly string[], cwd = Deno.cwd()): SeccompChoice {
  let choice: SeccompChoice = { kind: "default" };
  for (const value of values) {
    const eq = value.indexOf("=");
    const key = eq < 0 ? value : value.slice(0, eq);
    const arg = eq < 0 ? "" : value.slice(eq + 1);
    if (key !== "seccomp") {
      throw new ServinError(
        "invalid-argument",
        `Invalid --security-opt "${value}": only seccomp=unconfined or seccomp=PROFILE.json is supported`,
      );
    }
    if (arg === "") {
      throw new ServinError(
        "invalid-argument",
        `Invalid --security-opt "${value}": expected seccomp=unconfined or seccomp=PROFILE.json`,
      );
    }
    choice = arg === "unconfined"
      ? { kind: "unconfined" }
      : { kind: "file", path: resolve(cwd, arg) };
  }
  return choice;
}

async function readProfile(path: string): Promise<unknown> {
  const text = await readText(path, `seccomp profile "${path}"`, "not-found");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ServinError(
      "invalid-argument",
      `Invalid seccomp profile "${path}": ${(err as Error).message}`,
    );
  }
}

/** Options of {@link seccompFor}. */
export interface SeccompForOptions {
  /** As in {@link ConvertOptions}. */
  arch?: string;
  /** As in {@link ConvertOptions}. */
  kernel?: string;
}

/** The built-in default profile, in Docker's format (`seccomp_default.json`). */
export async function defaultProfile(): Promise<unknown> {
  const builtin = await import("./seccomp_default.json", { with: { type: "json" } });
  return builtin.default;
}

/**
 * The `linux.seccomp` of a container with these `--security-opt` values and
 * bounding capabilities, or undefined for `seccomp=unconfined`.
 */
export async function seccompFor(
  securityOpt: readonly string[],
  capabilities: readonly string[],
  options: SeccompForOptions = {},
): Promise<LinuxSeccomp | undefined> {
  const choice = parseSecurityOpts(securityOpt);
  if (choice.kind === "unconfined") return undefined;
  const [profile, source] = choice.kind === "file"
    ? [await readProfile(choice.path), `"${choice.path}"`]
    : [await defaultProfile(), "(built-in default)"];
  return convertProfile(profile, {
    capabilities,
    source,
    arch: options.arch,
    kernel: options.kernel,
  });
}
