/**
 * Linux: `/var/lib/servin` as root, `$XDG_DATA_HOME/servin` otherwise;
 * ownership and device nodes are kept when running as root.
 *
 * @module
 */

import { join } from "node:path";
import { ServinError } from "../../core/errors.ts";
import type { Platform, SpecialFileKind } from "../../core/kinds.ts";
import { definePlugin } from "../../core/registry.ts";
import { homeDir, ociArchitecture } from "./_common.ts";

const S_IF: Record<SpecialFileKind, number> = { char: 0o020000, block: 0o060000, fifo: 0o010000 };

let libc: Deno.DynamicLibrary<{ mknod: { parameters: ["buffer", "u32", "u64"]; result: "i32" } }>;

// Deno has no mknod; glibc's is one FFI call away.
function mknod(path: string, kind: SpecialFileKind, mode: number, major: number, minor: number) {
  libc ??= Deno.dlopen("libc.so.6", {
    mknod: { parameters: ["buffer", "u32", "u64"], result: "i32" },
  });
  const dev = (BigInt(major & 0xfff) << 8n) | BigInt(minor & 0xff) |
    (BigInt(minor & ~0xff) << 12n) | (BigInt(major & ~0xfff) << 32n);
  const cpath = new TextEncoder().encode(`${path}\0`);
  if (libc.symbols.mknod(cpath, S_IF[kind] | (mode & 0o7777), dev) !== 0) {
    throw new ServinError("internal", `mknod failed for "${path}"`);
  }
}

/** The Linux platform. */
export function linuxPlatform(): Platform {
  const root = Deno.uid() === 0;
  return {
    name: "linux",
    os: "linux",
    architecture: ociArchitecture(),
    canChown: root,
    mknod,
    defaultRoot() {
      if (root) return "/var/lib/servin";
      const data = Deno.env.get("XDG_DATA_HOME") || join(homeDir("HOME"), ".local", "share");
      return join(data, "servin");
    },
  };
}

/** The built-in Linux platform plugin. */
export function linux() {
  return definePlugin({
    name: "platform-linux",
    setup(api) {
      if (Deno.build.os === "linux") api.platform(linuxPlatform());
    },
  });
}
