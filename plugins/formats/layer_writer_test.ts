import assert from "node:assert/strict";
import { join } from "node:path";
import { ServinError } from "../../core/errors.ts";
import { DEFAULT_LIMITS } from "../../core/image.ts";
import { sha256Hex } from "./digest.ts";
import { directoryLayer, layerTar, opaqueEntry, whiteoutEntry } from "./layer_writer.ts";
import { listxattr, setxattr } from "../platform/_libc.ts";
import { readTar, type TarHeader } from "./tar.ts";
import { gnuTarList, tarHeader } from "../../tests/_tar.ts";

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function entries(data: Uint8Array): Promise<{ header: TarHeader; text: string }[]> {
  const out = [];
  for await (const e of readTar(ReadableStream.from([data]), DEFAULT_LIMITS)) {
    out.push({
      header: e.header,
      text: new TextDecoder().decode(await bytesOf(ReadableStream.from(e.body))),
    });
  }
  return out;
}

const file = (name: string, extra: Partial<TarHeader> = {}): TarHeader =>
  tarHeader(name, 1_700_000_000, extra);

Deno.test("layer writer: parents first, names bytewise, whiteouts before their siblings", async () => {
  const tar = layerTar([
    { header: file("a-b") },
    { header: file("a/z") },
    { header: file("a", { type: "dir", mode: 0o755 }) },
    whiteoutEntry("a/gone"),
    opaqueEntry("a"),
    { header: file("a/!x") },
    { header: file("B") },
    { header: file("é") },
    { header: file("z") },
  ]);
  const names = (await entries(await bytesOf(tar))).map((e) => e.header.name);
  assert.deepEqual(names, [
    "B",
    "a/",
    "a/.wh..wh..opq",
    "a/.wh.gone",
    "a/!x",
    "a/z",
    "a-b",
    "z",
    "é",
  ]);
});

Deno.test("layer writer: canonical headers, clamped mtimes, pax only when needed", async () => {
  const long = `${"d".repeat(120)}/f`;
  const data = await bytesOf(layerTar([
    { header: file("new", { mtime: 2_000_000_000.7, uid: 1000, gid: 1000, mode: 0o104755 }) },
    { header: file("old", { mtime: 1_000_000_000 }) },
    { header: file(long.split("/")[0]!, { type: "dir", mode: 0o755 }) },
    { header: file(long, { size: 3 }), content: new TextEncoder().encode("abc") },
  ], { clampMtime: 1_500_000_000 }));
  const got = await entries(data);
  const by = Object.fromEntries(got.map((e) => [e.header.name, e]));
  assert.equal(by["new"]!.header.mtime, 1_500_000_000);
  assert.equal(by["old"]!.header.mtime, 1_000_000_000);
  assert.equal(by["new"]!.header.mode, 0o4755);
  assert.equal(by["new"]!.header.uid, 1000);
  assert.equal(by[long]!.text, "abc");
  // Only the long name needed a pax header; no user or group names anywhere.
  const text = new TextDecoder("latin1").decode(data);
  assert.equal(text.split("ustar\u000000").length - 1, 5);
  assert.equal((text.match(/PaxHeaders/g) ?? []).length, 1);
  for (let off = 0; off < data.length; off += 512) {
    if (text.slice(off + 257, off + 262) !== "ustar") continue;
    assert.equal(data.subarray(off + 265, off + 329).every((b) => b === 0), true, "uname/gname");
  }
  // The same entries in another order give the same bytes.
  const again = await bytesOf(layerTar([
    { header: file(long, { size: 3 }), content: new TextEncoder().encode("abc") },
    { header: file(long.split("/")[0]!, { type: "dir", mode: 0o755 }) },
    { header: file("old", { mtime: 1_000_000_000 }) },
    { header: file("new", { mtime: 2_000_000_000.7, uid: 1000, gid: 1000, mode: 0o104755 }) },
  ], { clampMtime: 1_500_000_000 }));
  assert.equal(sha256Hex(again), sha256Hex(data));
});

Deno.test("layer writer: a hardlink group is written once, the first in order holding the content", async () => {
  const data = await bytesOf(layerTar([
    { header: file("z", { size: 2 }), content: new TextEncoder().encode("hi") },
    { header: file("a", { type: "link", linkname: "z" }) },
    { header: file("m", { type: "link", linkname: "a" }) },
  ]));
  const got = await entries(data);
  assert.deepEqual(got.map((e) => [e.header.name, e.header.type, e.header.linkname, e.text]), [
    ["a", "file", "", "hi"],
    ["m", "link", "a", ""],
    ["z", "link", "a", ""],
  ]);
  assert.throws(
    () => layerTar([{ header: file("a", { type: "link", linkname: "nowhere" }) }]),
    /not in the layer/,
  );
});

Deno.test("layer writer: a directory's tree, with hardlinks, symlinks and xattrs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "sub"));
    await Deno.writeTextFile(join(dir, "sub/b"), "content");
    await Deno.link(join(dir, "sub/b"), join(dir, "a"));
    await Deno.symlink("sub/b", join(dir, "link"));
    let xattrs = true;
    try {
      setxattr(join(dir, "sub/b"), "user.servin", "yes");
    } catch {
      xattrs = false; // the filesystem of the temporary directory takes none
    }
    const data = await bytesOf(directoryLayer(dir, { listxattr }));
    const got = await entries(data);
    assert.deepEqual(got.map((e) => [e.header.name, e.header.type, e.header.linkname]), [
      ["a", "file", ""],
      ["link", "symlink", "sub/b"],
      ["sub/", "dir", ""],
      ["sub/b", "link", "a"],
    ]);
    assert.equal(got[0]!.text, "content");
    if (xattrs) {
      assert.equal(new TextDecoder().decode(got[0]!.header.xattrs?.["user.servin"]), "yes");
    }
    // GNU tar reads it back, and the same tree gives the same bytes.
    assert.match(await gnuTarList(data), /sub\/b link to a/);
    assert.equal(sha256Hex(await bytesOf(directoryLayer(dir, { listxattr }))), sha256Hex(data));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("layer writer: a file gone or changed before it is read fails the stream with one line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "short"), "ab");
    await assert.rejects(
      bytesOf(layerTar([{ header: file("gone", { size: 1 }), content: join(dir, "gone") }])),
      (e: unknown) => e instanceof ServinError && e.code === "os-error",
    );
    await assert.rejects(
      bytesOf(layerTar([{ header: file("short", { size: 5 }), content: join(dir, "short") }])),
      (e: unknown) =>
        e instanceof ServinError && e.code === "conflict" && /"short"/.test(e.message),
    );
    await assert.rejects(
      bytesOf(layerTar([{ header: file("grown", { size: 1 }), content: join(dir, "short") }])),
      (e: unknown) =>
        e instanceof ServinError && e.code === "conflict" &&
        /larger than its header/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("layer writer: file contents of every size around the block and chunk bounds, byte for byte", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const MiB = 1024 * 1024;
    const sizes = [0, 1, 511, 512, 513, MiB - 513, MiB - 512, MiB, MiB + 1, 2.5 * MiB];
    const want = new Map<string, string>();
    let seed = 7;
    for (const size of sizes) {
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i++) bytes[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
      await Deno.writeFile(join(dir, `f${size}`), bytes);
      want.set(`f${size}`, sha256Hex(bytes));
    }
    const got = new Map<string, string>();
    const data = await bytesOf(directoryLayer(dir));
    for await (const e of readTar(ReadableStream.from([data]), DEFAULT_LIMITS)) {
      got.set(e.header.name, sha256Hex(await bytesOf(ReadableStream.from(e.body))));
    }
    assert.deepEqual(got, want);
    assert.equal(data.length % 512, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
