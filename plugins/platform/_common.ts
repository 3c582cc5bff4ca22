/**
 * What the platform plugins share: the OCI names of the host architecture,
 * the home directory lookup, finding host tools, the stub platforms'
 * refusals, and the plugin that registers a platform. No `node:` imports: the platform is set up on every start.
 *
 * @module
 */

import { ServinError } from "../../core/errors.ts";
import type { Platform } from "../../core/kinds.ts";
import { definePlugin, type Plugin } from "../../core/registry.ts";

const ARCH: Record<string, string> = { x86_64: "amd64", aarch64: "arm64" };

/** OCI `architecture` of the host (`amd64`, `arm64`). */
export function ociArchitecture(): string {
  return ARCH[Deno.build.arch] ?? Deno.build.arch;
}

/** `dir` and `name` joined with the host's separator (`dir` may end with one). */
export function joinPath(dir: string, ...names: string[]): string {
  const sep = Deno.build.os === "windows" ? "\\" : "/";
  return [dir.replace(/[\\/]+$/, "") || sep, ...names].join(sep).replace(/^([\\/])\1+/, "$1");
}

/** The user's home directory from `variable`, or a clear error. */
export function homeDir(variable: "HOME" | "USERPROFILE"): string {
  const home = Deno.env.get(variable);
  if (!home) {
    throw new ServinError(
      "invalid-argument",
      `Cannot find the home directory: ${variable} is not set (use --root or SERVIN_ROOT)`,
    );
  }
  return home;
}

/** `~/.servin`, the data root on Windows and macOS. */
export function dotServin(variable: "HOME" | "USERPROFILE"): string {
  return joinPath(homeDir(variable), ".servin");
}

/** Finds the executable `name` on PATH (shared by the plugins that run host tools). */
export function which(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    const path = joinPath(dir || ".", name);
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* not here */ }
  }
  return undefined;
}

/**
 * A development platform (Windows, macOS) that keeps a store but cannot
 * apply ownership, make devices, mount or run: what it cannot do throws
 * `unsupported`; unmounting and reading attributes find nothing.
 */
export function stubPlatform(name: string, label: string, defaultRoot: () => string): Platform {
  const refuse = (what: string) => () => {
    throw new ServinError("unsupported", `${what} is not supported on ${label}`);
  };
  return {
    name,
    // Images made here hold Linux root filesystems.
    os: "linux",
    architecture: ociArchitecture(),
    canChown: false,
    canMknod: false,
    cannotRun: `running containers is not supported on ${label}`,
    overlayWhiteouts: false,
    defaultRoot,
    mknod: refuse("Creating device nodes"),
    mount: refuse("Mounting"),
    unmount: () => {},
    setxattr: refuse("Setting extended attributes"),
    getxattr: () => undefined,
    listxattr: () => ({}),
    basicRootfs: () => Promise.reject(refuse("Building a basic root filesystem")()),
  };
}

/** The plugin `platform-NAME` that registers the platform `make` builds, when it is set up. */
export function platformPlugin(name: string, make: () => Platform): Plugin {
  return definePlugin({
    name: `platform-${name}`,
    setup: (api) => api.provide("platform", make()),
  });
}

/**
 * Whether directory `dir` has an entry `name` (false when `dir` is missing), from one listing;
 * undefined when `dir` cannot be listed. For small directories on the path of every command,
 * where a failing stat or read would cost more than the listing: Deno makes an error, with its
 * stack, for each.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasEntry } from "./_common.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/a`, "");
 * assert.equal(hasEntry(dir, "a"), true);
 * assert.equal(hasEntry(dir, "b"), false);
 * assert.equal(hasEntry(`${dir}/missing`, "a"), false);
 * assert.equal(hasEntry(`${dir}/a`, "x"), undefined); // not a directory: the caller's to say
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function hasEntry(dir: string, name: string): boolean | undefined {
  try {
    for (const entry of Deno.readDirSync(dir)) if (entry.name === name) return true;
    return false;
  } catch (err) {
    return err instanceof Deno.errors.NotFound ? false : undefined;
  }
}
