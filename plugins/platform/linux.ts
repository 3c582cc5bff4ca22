/**
 * Linux: `/var/lib/servin` as root, `$XDG_DATA_HOME/servin` otherwise;
 * ownership and device nodes are kept when running as root.
 *
 * @module
 */

import { join } from "node:path";
import type { Platform, SpecialFileKind } from "../../core/kinds.ts";
import { definePlugin } from "../../core/registry.ts";
import { homeDir, ociArchitecture } from "./_common.ts";
import { basicRootfs } from "./_basic_rootfs.ts";
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
    mknod: (path, kind, mode, major, minor) => libc.mknod(path, S_IF[kind] | mode, major, minor),
    mount: libc.mount,
    unmount: libc.unmount,
    setxattr: libc.setxattr,
    getxattr: libc.getxattr,
    // Only root can make 0:0 devices and trusted.* xattrs.
    overlayWhiteouts: root,
    basicRootfs,
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
