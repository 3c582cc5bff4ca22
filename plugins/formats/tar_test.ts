import assert from "node:assert/strict";
import { join } from "node:path";
import { buildTar } from "../../tests/_tar.ts";
import { DEFAULT_LIMITS } from "../../core/image.ts";
import { listxattr, setxattr } from "../platform/_libc.ts";
import { readTar, type TarHeader } from "./tar.ts";
import { TarWriter } from "./tar_writer.ts";

const enc = new TextEncoder();

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(parts.flatMap((p) => [...p]));
}

async function headers(data: Uint8Array): Promise<TarHeader[]> {
  const out: TarHeader[] = [];
  for await (const e of readTar(ReadableStream.from([data]), DEFAULT_LIMITS)) out.push(e.header);
  return out;
}

function gnuTar(args: string[]): Uint8Array {
  const out = new Deno.Command("tar", { args, stdout: "piped", stderr: "piped" }).outputSync();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  return out.stdout;
}

Deno.test("reads v7 archives and GNU base-256 numbers", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "f"), "data");
    const v7 = await headers(gnuTar(["--format=v7", "-C", dir, "-cf", "-", "f"]));
    assert.equal(v7[0]?.name, "f");
    assert.equal(v7[0]?.size, 4);
    const big = await headers(
      gnuTar(["--format=gnu", "--owner=:3000000", "--group=:4000000", "-C", dir, "-cf", "-", "f"]),
    );
    assert.equal(big[0]?.uid, 3_000_000);
    assert.equal(big[0]?.gid, 4_000_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("global pax records apply to the entries after them; local ones win", async () => {
  const data = buildTar([
    { name: "g", type: "g", body: "13 uid=12345\n" },
    { name: "a" },
    { name: "b", pax: { uid: "7", mtime: "1700000000.5" } },
  ]);
  const [a, b] = await headers(data);
  assert.equal(a?.uid, 12345);
  assert.equal(b?.uid, 7);
  assert.equal(b?.mtime, 1700000000.5);
});

Deno.test("the whole stream is consumed after the end marker, so a hash over it is complete", async () => {
  const data = buildTar([{ name: "a", body: "x" }]);
  let consumed = 0;
  async function* chunks() {
    for (const part of [data, new Uint8Array(10240), new Uint8Array(512).fill(1)]) {
      consumed += part.length;
      yield part;
    }
  }
  const names = [];
  for await (const e of readTar(chunks(), DEFAULT_LIMITS)) names.push(e.header.name);
  assert.deepEqual(names, ["a"]);
  assert.equal(consumed, data.length + 10240 + 512);
});

Deno.test("device numbers and body bytes arrive as written, across chunk boundaries", async () => {
  const body = new Uint8Array(70_000).map((_, i) => i % 251);
  const data = buildTar([
    { name: "dev/sda", type: "4", devmajor: 8, devminor: 300 },
    { name: "blob", body },
  ]);
  const chunks = Array.from(
    { length: Math.ceil(data.length / 777) },
    (_, i) => data.subarray(i * 777, (i + 1) * 777),
  );
  const got: Uint8Array[] = [];
  const seen: TarHeader[] = [];
  for await (const e of readTar(ReadableStream.from(chunks), DEFAULT_LIMITS)) {
    seen.push(e.header);
    for await (const c of e.body) got.push(c.slice());
  }
  assert.deepEqual([seen[0]?.type, seen[0]?.devmajor, seen[0]?.devminor], ["block", 8, 300]);
  assert.deepEqual(new Uint8Array(got.flatMap((c) => [...c])), body);
});

Deno.test("SCHILY.xattr pax records come out as binary values; the writer writes them back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "f");
    await Deno.writeTextFile(file, "data");
    // A binary value with a NUL, a newline and an "=" in it.
    const binary = new Uint8Array([1, 0, 10, 61, 255, 0x80]);
    setxattr(file, "user.bin", binary);
    setxattr(file, "user.text", "héllo");
    const gnu = await headers(
      gnuTar(["--format=posix", "--xattrs", "--xattrs-include=*", "-C", dir, "-cf", "-", "f"]),
    );
    assert.deepEqual(gnu[0]?.xattrs, { "user.bin": binary, "user.text": enc.encode("héllo") });
    const chunks: Uint8Array[] = [];
    const w = new TarWriter((c) => {
      chunks.push(c.slice());
      return Promise.resolve();
    });
    await w.add(gnu[0]!, enc.encode("data"));
    await w.add({ ...gnu[0]!, name: "plain", xattrs: undefined }, enc.encode("data"));
    await w.finish();
    const again = await headers(concat(chunks));
    assert.deepEqual(again.map((h) => h.xattrs), [gnu[0]!.xattrs, undefined]);
    // And GNU tar reads them back.
    const out = join(dir, "out");
    await Deno.mkdir(out);
    const tar = new Deno.Command("tar", {
      args: ["--xattrs", "--xattrs-include=*", "-C", out, "-xf", "-"],
      stdin: "piped",
    }).spawn();
    const writer = tar.stdin.getWriter();
    await writer.write(concat(chunks));
    await writer.close();
    assert.equal((await tar.status).code, 0);
    assert.deepEqual(listxattr(join(out, "f")), gnu[0]!.xattrs);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
