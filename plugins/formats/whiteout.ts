/**
 * OCI whiteouts, and their overlayfs form.
 *
 * In a layer tar, `.wh.NAME` deletes NAME of the layers below and
 * `.wh..wh..opq` makes its directory opaque (nothing below shows through,
 * what the same layer adds stays). On disk, as root on Linux, layers keep
 * them in the form overlayfs reads: a 0:0 character device named NAME, and
 * the `trusted.overlay.opaque` xattr set to `y` on the directory.
 *
 * @module
 */

/** Prefix of a whiteout file. */
export const WHITEOUT_PREFIX = ".wh.";
/** Name of the opaque-directory marker. */
export const OPAQUE = ".wh..wh..opq";
/** The xattr overlayfs reads for an opaque directory. */
export const OPAQUE_XATTR = "trusted.overlay.opaque";

/**
 * True for attributes that belong to the host, not the file: overlayfs's
 * own (`trusted.overlay.*`: opaque, redirect, metacopy, …, which steer the
 * mount) and SELinux labels (host policy, as umoci also holds). They are
 * never taken from an archive, nor copied or exported as a file's own.
 */
export function isHostXattr(name: string): boolean {
  return name.startsWith("trusted.overlay.") || name === "security.selinux";
}

/** What a base name means: an ordinary entry, a whiteout of `target`, or the opaque marker. */
export type WhiteoutKind =
  | { kind: "none" }
  | { kind: "whiteout"; target: string }
  | { kind: "opaque" };

/** Classifies a base name; throws on a malformed whiteout (e.g. `.wh..wh.x`, `.wh.`). */
export function classify(base: string): WhiteoutKind {
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: "none" };
  if (base === OPAQUE) return { kind: "opaque" };
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === "" || target === "." || target === ".." || target.startsWith(WHITEOUT_PREFIX)) {
    throw new Error(`malformed whiteout "${base}"`);
  }
  return { kind: "whiteout", target };
}
