/**
 * Resolves `-u USER[:GROUP]` against the image's `/etc/passwd` and
 * `/etc/group`, read without ever leaving the image's root (symlinks are
 * followed inside it, as `chroot` would; see `formats/confine.ts`), and only
 * when they are regular files of at most 1 MiB: a FIFO or a device planted
 * there is refused, not read.
 *
 * @module
 */

import { join, posix } from "node:path";
import { ServinError } from "../../core/errors.ts";
import { readConfinedFile, resolveInRoot } from "../formats/confine.ts";
import { OPAQUE, WHITEOUT_PREFIX } from "../formats/whiteout.ts";
import { pathExists } from "../storage/fs.ts";

/** Resolved ids of a user. */
export interface ResolvedUser {
  /** User id. */
  uid: number;
  /** Primary group id. */
  gid: number;
  /** Supplementary groups. */
  additional_gids: number[];
}

/** Most bytes of `/etc/passwd` or `/etc/group` read (a real one is a few KiB). */
export const MAX_ACCOUNT_FILE = 1024 * 1024;

/**
 * Reads `path` from the topmost root that has it: only a regular file,
 * confined in that root, at most {@link MAX_ACCOUNT_FILE} bytes. A whiteout
 * in a root (a 0:0 device in its place, a `.wh.` file or an opaque marker
 * beside it) hides it in the roots below.
 */
async function readFromRoots(roots: string[], path: string): Promise<string | undefined> {
  const label = `the image's ${path}`;
  for (const root of roots) {
    const real = resolveInRoot(root, path, { label });
    if (real !== undefined) {
      const info = Deno.lstatSync(real);
      if (info.isCharDevice && info.rdev === 0) return undefined;
      const bytes = await readConfinedFile(root, path, { label, maxBytes: MAX_ACCOUNT_FILE });
      return new TextDecoder().decode(bytes);
    }
    const parent = resolveInRoot(root, posix.dirname(path), { label });
    if (parent === undefined) continue;
    const whiteout = WHITEOUT_PREFIX + posix.basename(path);
    if (pathExists(join(parent, whiteout), false) || pathExists(join(parent, OPAQUE), false)) {
      return undefined;
    }
  }
  return undefined;
}

function entries(text: string | undefined): string[][] {
  return (text ?? "").split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split(":"));
}

const NUMBER = /^\d+$/;

/** Resolves `user` (`name`, `uid`, `name:group`, `uid:gid`) against the files in `roots` (topmost first). */
export async function resolveUser(user: string, roots: string[]): Promise<ResolvedUser> {
  const [userPart = "", groupPart] = (user || "root").split(":", 2);
  const passwd = entries(await readFromRoots(roots, "/etc/passwd"));
  const groups = entries(await readFromRoots(roots, "/etc/group"));
  const entry = passwd.find((p) => NUMBER.test(userPart) ? p[2] === userPart : p[0] === userPart);
  let uid: number;
  let gid: number;
  if (entry) {
    uid = Number(entry[2]);
    gid = Number(entry[3] ?? 0);
  } else if (NUMBER.test(userPart) || userPart === "root") {
    // Without an /etc/passwd entry, root is still uid 0, as in Docker.
    uid = userPart === "root" ? 0 : Number(userPart);
    gid = 0;
  } else {
    throw new ServinError("not-found", `Cannot find user "${userPart}" in the image's /etc/passwd`);
  }
  if (groupPart !== undefined && groupPart !== "") {
    const group = groups.find((g) =>
      NUMBER.test(groupPart) ? g[2] === groupPart : g[0] === groupPart
    );
    if (group) gid = Number(group[2]);
    else if (NUMBER.test(groupPart)) gid = Number(groupPart);
    else {
      throw new ServinError(
        "not-found",
        `Cannot find group "${groupPart}" in the image's /etc/group`,
      );
    }
  }
  const name = entry?.[0];
  const additional = groupPart === undefined && name
    ? groups.filter((g) => (g[3] ?? "").split(",").includes(name)).map((g) => Number(g[2]))
    : [];
  return { uid, gid, additional_gids: [...new Set(additional)].filter((g) => g !== gid) };
}
