/**
 * The hostile-input table: layer tars that are hostile (absolute names, `..`,
 * planted symlinks, hardlinks out, root replacement, malformed whiteouts) or
 * broken (truncated, corrupt, not a tar, unsupported compression, oversized
 * or undecodable headers). Every verb that unpacks a layer — import, load of
 * an OCI layout or a docker-archive, pull — must refuse each one with one line
 * containing `expect`, and leave the store as it was.
 *
 * @module
 */

import { gunzipSync, gzipSync } from "node:zlib";
import { buildTar, type FixtureEntry } from "./_tar.ts";
import type { LayerSpec } from "./_oci.ts";

/** One hostile or broken layer. */
export interface HostileCase {
  /** What it is, for the test step's name. */
  name: string;
  /** Layer bytes; `outside` is a canary directory the layer must not reach. */
  data: (outside: string) => Uint8Array;
  /** The bytes say they are gzip: an image carrying them gives them a gzip media type. */
  gzip?: true;
  /** Fragments the error line must contain. */
  expect: string[];
}

const tar = (entries: FixtureEntry[], options?: { end?: boolean }) => () =>
  buildTar(entries, options);
const file = (name: string, body = "x"): FixtureEntry => ({ name, body });
/** A gzipped tar of one 100 kB file, spoiled by `spoil`. */
const gzipped = (spoil: (gz: Uint8Array) => Uint8Array) => () =>
  spoil(gzipSync(buildTar([file("a", "z".repeat(100_000))])));

/** The table; each case is refused by the extraction rules or the tar and gzip readers. */
export const HOSTILE_CASES: HostileCase[] = [
  { name: "an absolute name", data: tar([file("/etc/evil")]), expect: ['"/etc/evil"', "absolute"] },
  { name: "a .. component", data: tar([file("../evil")]), expect: ['"../evil"', "escapes"] },
  {
    name: "a .. component deeper down",
    data: tar([file("a/b/../../../evil")]),
    expect: ['"a/b/../../../evil"', "escapes"],
  },
  {
    name: "a file under a planted absolute symlink",
    data: (outside) =>
      buildTar([{ name: "link", type: "2", linkname: outside }, file("link/evil")]),
    expect: ['"link/evil"', 'parent "link" that is a symlink'],
  },
  {
    name: "a file under a planted relative symlink",
    data: tar([{ name: "up", type: "2", linkname: "../../../../.." }, file("up/tmp/evil")]),
    expect: ['"up/tmp/evil"', "symlink"],
  },
  {
    name: "a directory under a nested planted symlink",
    data: (outside) =>
      buildTar([
        { name: "d/", type: "5" },
        { name: "d/l", type: "2", linkname: outside },
        { name: "d/l/sub/", type: "5" },
      ]),
    expect: ['"d/l/sub/"', 'parent "d/l"'],
  },
  {
    name: "a hardlink to a path outside the root",
    data: tar([{ name: "h", type: "1", linkname: "../../etc/passwd" }]),
    expect: ['"h"', "escapes"],
  },
  {
    name: "a hardlink to an absolute path",
    data: tar([{ name: "h", type: "1", linkname: "/etc/passwd" }]),
    expect: ['"h"', "absolute"],
  },
  {
    name: "a hardlink to a missing entry",
    data: tar([{ name: "h", type: "1", linkname: "nope" }]),
    expect: ['"h"', '"nope"', "not in the archive"],
  },
  {
    name: "a hardlink through a symlinked path",
    data: (outside) =>
      buildTar([
        { name: "s", type: "2", linkname: outside },
        { name: "h", type: "1", linkname: "s/canary" },
      ]),
    expect: ['"h"', 'parent "s" that is a symlink'],
  },
  {
    name: "a symlink that would replace the root",
    data: tar([{ name: "./", type: "2", linkname: "/" }]),
    expect: ["would replace the image root"],
  },
  {
    name: "a file that would replace the root",
    data: tar([file(".")]),
    expect: ["would replace the image root"],
  },
  {
    name: "an unknown entry type",
    data: tar([{ name: "vol", type: "V" }]),
    expect: ['unsupported entry type "V"'],
  },
  {
    name: "a GNU sparse file",
    data: tar([{ name: "sparse", type: "S", body: "x" }]),
    expect: ["GNU sparse"],
  },
  {
    name: "a pax sparse file",
    data: tar([{ ...file("sparse"), pax: { "GNU.sparse.major": "1" } }]),
    expect: ["sparse"],
  },
  {
    name: "a malformed whiteout",
    data: tar([{ name: "etc/.wh..wh.evil", body: "" }]),
    expect: ['"etc/.wh..wh.evil"', "malformed whiteout"],
  },
  {
    name: "a whiteout of the parent directory",
    data: tar([{ name: "etc/.wh...", body: "" }]),
    expect: ['"etc/.wh..."', "malformed whiteout"],
  },
  {
    name: "a whiteout that is not a regular file",
    data: tar([{ name: "etc/.wh.passwd", type: "5" }]),
    expect: ['"etc/.wh.passwd"', "whiteout but not a regular file"],
  },
  {
    name: "a truncated archive",
    data: () => buildTar([file("big", "y".repeat(5000))]).subarray(0, 2048),
    expect: ["truncated"],
  },
  {
    name: "an archive without its end marker",
    data: tar([file("a")], { end: false }),
    expect: ["truncated"],
  },
  {
    name: "a corrupt header",
    data: () => {
      const data = buildTar([file("a"), file("b")]);
      data[1024 + 10] = 0x7f;
      return data;
    },
    expect: ["checksum"],
  },
  {
    name: "corrupt gzip data",
    gzip: true,
    data: gzipped((gz) => gz.fill(0x55, 40, 80)),
    expect: ["corrupt gzip data"],
  },
  {
    name: "truncated gzip data",
    gzip: true,
    data: gzipped((gz) => gz.subarray(0, gz.length - 30)),
    expect: ["gzip"],
  },
  {
    name: "bzip2 data",
    gzip: true,
    data: () => new TextEncoder().encode("BZh91AY&SY" + "\0".repeat(600)),
    expect: ["bzip2 compression is not supported"],
  },
  {
    name: "something that is not a tar archive",
    data: () => new TextEncoder().encode("hello, I am a text file\n".repeat(50)),
    expect: ["not a tar"],
  },
  {
    name: "an empty file",
    data: () => new Uint8Array(0),
    expect: ["not a tar"],
  },
  {
    name: "an oversized pax header",
    data: tar([{ ...file("a"), pax: { comment: "c".repeat(1024 * 1024 + 10) } }]),
    expect: ["pax header", "exceeds the limit"],
  },
  {
    name: "a name that is not UTF-8",
    data: () => {
      const data = buildTar([file("abc")]);
      data[1] = 0xff;
      let sum = 0;
      data.fill(32, 148, 156);
      for (const b of data.subarray(0, 512)) sum += b;
      data.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
      return data;
    },
    expect: ["not valid UTF-8"],
  },
];

/**
 * A case as the one layer of an image ({@link LayerSpec}): stored as it is,
 * with a gzip media type when it claims gzip. Its diff_id is the sha256 of
 * the decompressed bytes where they can be had, so that what refuses it is
 * the extraction rule, not a diff_id mismatch.
 */
export function hostileLayer(c: HostileCase, outside: string): LayerSpec {
  const blob = c.data(outside);
  if (!c.gzip) return { tar: blob, blob };
  let tar = blob;
  try {
    tar = gunzipSync(blob);
  } catch {
    // Corrupt or not gzip at all: no diff_id can match, the reader fails first.
  }
  return { tar, blob, compression: "gzip" };
}
