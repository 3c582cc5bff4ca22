/**
 * Resolves `-u USER[:GROUP]` against the image's `/etc/passwd` and
 * `/etc/group`, read without ever leaving the image's root (symlinks are
 * followed inside it, as `chroot` would).
 *
 * @module
 */

import { join } from "node:path";
import { ServinError } from "../../core/errors.ts";

/** Resolved ids of a user. */
export interface ResolvedUser {
  /** User id. */
  uid: number;
  /** Primary group id. */
  gid: number;
  /** Supplementary groups. */
  additional_gids: number[];
}

/** Resolves `path` under `root` following symlinks as if `root` were `/`; undefined when missing. */
export async function resolveInRoot(root: string, path: string): Promise<string | undefined> {
  const todo = path.split("/").filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (todo.length) {
    const part = todo.shift()!;
    if (part === ".") continue;
    if (part === "..") {
      done.pop();
      continue;
    }
    const here = join(root, ...done, part);
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(here);
    } catch {
      return undefined;
    }
    if (!info.isSymlink) {
      done.push(part);
      continue;
    }
    if (++links > 40) return undefined;
    const target = await Deno.readLink(here);
    if (target.startsWith("/")) done.length = 0;
    todo.unshift(...target.split("/").filter(Boolean));
  }
  return join(root, ...done);
}

/** Reads `path` from the topmost root that has it. */
async function readFromRoots(roots: string[], path: string): Promise<string | undefined> {
  for (const root of roots) {
    const real = await resolveInRoot(root, path);
    if (!real) continue;
    try {
      return await Deno.readTextFile(real);
    } catch { /* a directory or unreadable: try lower */ }
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
