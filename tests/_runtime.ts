/**
 * Fixtures for the runtime tests.
 *
 * @module
 */

import type { ProcessSpec } from "../core/kinds.ts";

/** The process of a test container: `args` as root in `/`, `PATH=/bin`, no terminal, no stdin. */
export function rootProcess(args: string[]): ProcessSpec {
  return {
    args,
    env: ["PATH=/bin"],
    cwd: "/",
    user: "root",
    uid: 0,
    gid: 0,
    additional_gids: [],
    tty: false,
    interactive: false,
  };
}

/** A seccomp profile that allows everything but `mkdir`, which fails with EPERM. */
export const NO_MKDIR_PROFILE = {
  defaultAction: "SCMP_ACT_ALLOW",
  syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
};
