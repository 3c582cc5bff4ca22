/**
 * The built-in platforms, one plugin each, registered under `Deno.build.os`'s
 * name for the system they serve:
 *
 * - Linux: `/var/lib/servin` as root, `$XDG_DATA_HOME/servin` otherwise;
 *   ownership and device nodes are kept when running as root. The libc calls
 *   (`_libc.ts`) load their library on first use and the fallback root
 *   filesystem's builder is imported when asked for, so setting this up costs
 *   nothing.
 * - Windows (a stub for development): `~/.servin` from `USERPROFILE`; no
 *   ownership, no device nodes, no containers.
 * - macOS (a stub for development): `~/.servin`; no ownership, no device
 *   nodes, no containers.
 *
 * @module
 */

import type { Platform, SpecialFileKind } from "../../core/kinds.ts";
import type { Plugin } from "../../core/registry.ts";
import {
  dotServin,
  homeDir,
  joinPath,
  ociArchitecture,
  platformPlugin,
  stubPlatform,
} from "./_common.ts";
import * as libc from "./_libc.ts";

const S_IF: Record<SpecialFileKind, number> = { char: 0o020000, block: 0o060000, fifo: 0o010000 };

/** The Linux platform. */
export function linuxPlatform(): Platform {
  const root = Deno.uid() === 0;
  return {
    name: "linux",
    os: "linux",
    architecture: ociArchitecture(),
    canChown: root,
    canMknod: root,
    mknod: (path, kind, mode, major, minor) => libc.mknod(path, S_IF[kind] | mode, major, minor),
    mount: libc.mount,
    unmount: libc.unmount,
    setxattr: libc.setxattr,
    getxattr: libc.getxattr,
    listxattr: libc.listxattr,
    // Only root can make 0:0 devices and trusted.* xattrs.
    overlayWhiteouts: root,
    basicRootfs: async (dir) => await (await import("./_basic_rootfs.ts")).basicRootfs(dir),
    defaultRoot() {
      if (root) return "/var/lib/servin";
      const data = Deno.env.get("XDG_DATA_HOME") || joinPath(homeDir("HOME"), ".local", "share");
      return joinPath(data, "servin");
    },
  };
}

/** The built-in Linux platform plugin (registered as `linux`, `Deno.build.os`'s name). */
export function linux(): Plugin {
  return platformPlugin("linux", linuxPlatform);
}

/** The Windows platform. */
export function windowsPlatform(): Platform {
  return stubPlatform("windows", "Windows", () => dotServin("USERPROFILE"));
}

/** The built-in Windows platform plugin (registered as `windows`, `Deno.build.os`'s name). */
export function windows(): Plugin {
  return platformPlugin("windows", windowsPlatform);
}

/** The macOS platform. */
export function darwinPlatform(): Platform {
  return stubPlatform("darwin", "macOS", () => dotServin("HOME"));
}

/** The built-in macOS platform plugin (registered as `darwin`, `Deno.build.os`'s name). */
export function darwin(): Plugin {
  return platformPlugin("darwin", darwinPlatform);
}
