/**
 * Docker's mount syntax: `-v SRC:DST[:MODE]` and `-v DST`, `--mount
 * type=…,source=…,target=…[,readonly][,tmpfs-size=…][,tmpfs-mode=…]` and
 * `--tmpfs PATH[:OPTIONS]`, read into {@link MountPoint}s. A volume's name is
 * checked here; its data directory is filled in when the container is made
 * (an anonymous volume gets its name then too). Targets are checked
 * lexically with the confinement module's rule (absolute, no `..`); where
 * they lead inside the root filesystem is decided when the container starts.
 *
 * @module
 */

import { ServinError } from "../../core/errors.ts";
import type { MountPoint } from "../../core/kinds.ts";
import { cleanName } from "../formats/confine.ts";

/** Docker's rule for a local volume's name (two characters at least). */
export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** The label Docker gives an anonymous volume. */
export const ANONYMOUS_LABEL = "com.docker.volume.anonymous";

function invalid(message: string): ServinError {
  return new ServinError("invalid-argument", message);
}

/**
 * Checks a volume name (Docker's rule, which also keeps it inside
 * `<root>/volumes`); returns it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkVolumeName } from "./mounts.ts";
 * assert(checkVolumeName("data-1") === "data-1");
 * ```
 */
export function checkVolumeName(name: string): string {
  if (!VOLUME_NAME.test(name)) {
    throw invalid(
      `Invalid volume name "${name}": only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed, two characters at least (a host directory needs an absolute path)`,
    );
  }
  return name;
}

/**
 * A mount target made canonical: absolute, without `.`, repeated slashes or
 * `..` components (refused: a target names a place inside the container,
 * and `..` can only mean to leave it), and not `/` itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkTarget } from "./mounts.ts";
 * assert(checkTarget("/var//lib/./data/") === "/var/lib/data");
 * ```
 */
export function checkTarget(target: string, what = "mount"): string {
  if (!target.startsWith("/")) {
    throw invalid(`Invalid ${what} target "${target}": it must be an absolute path`);
  }
  const rel = target.replace(/^\/+/, "");
  const clean = rel === "" ? "" : cleanName(
    rel,
    (why) => invalid(`Invalid ${what} target "${target}": it ${why}`),
    { root: "the container's root" },
  );
  if (clean === "") throw invalid(`Invalid ${what} target "${target}": it cannot be "/"`);
  return `/${clean}`;
}

function hostPath(path: string, what: string): string {
  if (!path.startsWith("/")) {
    throw invalid(`Invalid ${what} source "${path}": a host path must be absolute`);
  }
  if (path.includes("\0")) throw invalid(`Invalid ${what} source: it has a NUL byte`);
  return path.replace(/(.)\/+$/, "$1");
}

const V_MODES = new Set(["ro", "rw", "nocopy", "z", "Z"]);

/**
 * `-v HOST:CTR[:MODE]` (a bind; a missing host directory is made at start),
 * `-v NAME:CTR[:MODE]` (a named volume) or `-v CTR` (an anonymous volume).
 * MODE is a comma list of `ro`, `rw`, `nocopy` (and SELinux's `z`/`Z`, which
 * mean nothing here).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseVolumeFlag } from "./mounts.ts";
 * const m = parseVolumeFlag("data:/srv:ro");
 * assert(m.type === "volume" && m.name === "data" && m.options.includes("ro"));
 * ```
 */
export function parseVolumeFlag(value: string): MountPoint {
  const parts = value.split(":");
  if (parts.length > 3 || parts.some((p) => p === "")) {
    throw invalid(`Invalid -v "${value}": expected [SOURCE:]TARGET[:MODE]`);
  }
  if (parts.length === 1) {
    return { type: "volume", source: "", destination: checkTarget(parts[0]!, "-v"), options: [] };
  }
  const [source, target, mode = ""] = parts as [string, string, string?];
  const options: string[] = [];
  for (const m of mode ? mode.split(",") : []) {
    if (!V_MODES.has(m)) {
      throw invalid(`Invalid -v "${value}": unknown mode "${m}" (use ro, rw or nocopy)`);
    }
    if ((m === "ro" || m === "nocopy") && !options.includes(m)) options.push(m);
  }
  if (options.includes("ro") && mode.split(",").includes("rw")) {
    throw invalid(`Invalid -v "${value}": both ro and rw`);
  }
  const destination = checkTarget(target, "-v");
  if (source.startsWith("/")) {
    if (options.includes("nocopy")) throw invalid(`Invalid -v "${value}": nocopy is for volumes`);
    return {
      type: "bind",
      source: hostPath(source, "-v"),
      destination,
      options: [...options, "create"],
    };
  }
  return { type: "volume", name: checkVolumeName(source), source: "", destination, options };
}

/** Docker's byte sizes (`64k`, `128m`, `1g`; a trailing `b` allowed). */
function size(value: string, key: string): number {
  const m = /^(\d+(?:\.\d+)?)([kmgt]?)b?$/i.exec(value);
  if (!m) throw invalid(`Invalid ${key} "${value}": expected a size such as 64m`);
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase()]!;
  return Math.floor(Number(m[1]) * unit);
}

function bool(value: string | undefined, key: string): boolean {
  if (value === undefined || ["true", "1"].includes(value)) return true;
  if (["false", "0"].includes(value)) return false;
  throw invalid(`Invalid ${key} value "${value}": use true or false`);
}

/**
 * `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly]…`, as
 * Docker reads it: `src`/`source`, `dst`/`destination`/`target`,
 * `readonly`/`ro`, `volume-nocopy`, `tmpfs-size`, `tmpfs-mode`; the type is
 * `volume` when absent. An unknown key is an error. A bind's source must
 * exist (checked when the container is made).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMountFlag } from "./mounts.ts";
 * const m = parseMountFlag("type=tmpfs,dst=/run,tmpfs-size=1m");
 * assert(m.type === "tmpfs" && m.options.includes("size=1048576"));
 * ```
 */
export function parseMountFlag(value: string): MountPoint {
  let type = "volume";
  let source: string | undefined;
  let target: string | undefined;
  const options: string[] = [];
  let tmpfsOnly = "";
  let volumeOnly = "";
  for (const field of value.split(",")) {
    const i = field.indexOf("=");
    const key = (i < 0 ? field : field.slice(0, i)).toLowerCase();
    const v = i < 0 ? undefined : field.slice(i + 1);
    const need = () => {
      if (v === undefined || v === "") {
        throw invalid(`Invalid --mount "${value}": ${key} needs a value`);
      }
      return v;
    };
    switch (key) {
      case "type":
        type = need();
        break;
      case "src":
      case "source":
        source = need();
        break;
      case "dst":
      case "destination":
      case "target":
        target = need();
        break;
      case "ro":
      case "readonly":
        if (bool(v, key) && !options.includes("ro")) options.push("ro");
        break;
      case "volume-nocopy":
        volumeOnly = key;
        if (bool(v, key)) options.push("nocopy");
        break;
      case "tmpfs-size":
        tmpfsOnly = key;
        options.push(`size=${size(need(), key)}`);
        break;
      case "tmpfs-mode": {
        tmpfsOnly = key;
        if (!/^[0-7]{1,4}$/.test(need())) {
          throw invalid(`Invalid tmpfs-mode "${v}": expected an octal mode such as 1777`);
        }
        options.push(`mode=${v}`);
        break;
      }
      default:
        throw invalid(`Invalid --mount "${value}": unknown key "${key}"`);
    }
  }
  if (type !== "bind" && type !== "volume" && type !== "tmpfs") {
    throw invalid(`Invalid --mount "${value}": unknown type "${type}" (use bind, volume or tmpfs)`);
  }
  if (target === undefined) throw invalid(`Invalid --mount "${value}": a target is required`);
  const destination = checkTarget(target, "--mount");
  if (tmpfsOnly && type !== "tmpfs") {
    throw invalid(`Invalid --mount "${value}": ${tmpfsOnly} is for type=tmpfs`);
  }
  if (volumeOnly && type !== "volume") {
    throw invalid(`Invalid --mount "${value}": ${volumeOnly} is for type=volume`);
  }
  if (type === "tmpfs") {
    if (source !== undefined) throw invalid(`Invalid --mount "${value}": tmpfs takes no source`);
    return { type, source: "", destination, options: tmpfsOptions(options) };
  }
  if (type === "bind") {
    if (source === undefined) throw invalid(`Invalid --mount "${value}": a bind needs a source`);
    return { type, source: hostPath(source, "--mount"), destination, options };
  }
  if (source === undefined) return { type, source: "", destination, options };
  return { type, name: checkVolumeName(source), source: "", destination, options };
}

const TMPFS_FLAGS = new Set([
  "ro",
  "rw",
  "exec",
  "noexec",
  "suid",
  "nosuid",
  "dev",
  "nodev",
  "atime",
  "noatime",
  "relatime",
  "strictatime",
  "nodiratime",
]);

/** Docker's tmpfs defaults (no exec, setuid or devices) under the options asked for. */
function tmpfsOptions(asked: string[]): string[] {
  const out = ["nosuid", "nodev", "noexec"];
  for (const o of asked) {
    const opposite = o.startsWith("no") ? o.slice(2) : `no${o}`;
    const i = out.indexOf(opposite);
    if (i >= 0) out.splice(i, 1);
    if (o !== "rw" && !out.includes(o)) out.push(o);
  }
  return out;
}

/**
 * `--tmpfs PATH[:OPTIONS]`: OPTIONS a comma list of mount flags (`ro`,
 * `exec`, `nosuid`…) and `size=`, `mode=`, `uid=`, `gid=`, `nr_inodes=`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTmpfsFlag } from "./mounts.ts";
 * const m = parseTmpfsFlag("/run:size=64k,mode=1777");
 * assert(m.destination === "/run" && m.options.includes("size=65536"));
 * ```
 */
export function parseTmpfsFlag(value: string): MountPoint {
  const i = value.indexOf(":");
  const target = i < 0 ? value : value.slice(0, i);
  const asked: string[] = [];
  for (const o of i < 0 ? [] : value.slice(i + 1).split(",")) {
    const [key, v] = o.split("=", 2) as [string, string?];
    if (v === undefined && TMPFS_FLAGS.has(key)) asked.push(key);
    else if (key === "size" && v) asked.push(`size=${size(v, "--tmpfs size")}`);
    else if (key === "mode" && v && /^[0-7]{1,4}$/.test(v)) asked.push(`mode=${v}`);
    else if (["uid", "gid", "nr_inodes", "nr_blocks"].includes(key) && v && /^\d+$/.test(v)) {
      asked.push(`${key}=${v}`);
    } else throw invalid(`Invalid --tmpfs "${value}": unknown option "${o}"`);
  }
  return {
    type: "tmpfs",
    source: "",
    destination: checkTarget(target, "--tmpfs"),
    options: tmpfsOptions(asked),
  };
}

/** Refuses two mounts on one target, as Docker does (`Duplicate mount point`). */
export function checkDistinct(mounts: readonly MountPoint[]): void {
  const seen = new Set<string>();
  for (const m of mounts) {
    if (seen.has(m.destination)) throw invalid(`Duplicate mount point: ${m.destination}`);
    seen.add(m.destination);
  }
}
