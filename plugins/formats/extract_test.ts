/**
 * The extractor's rules one by one: each test feeds an entry sequence to an
 * {@link Extractor} in a fresh directory and checks the refusal or the result
 * on disk, and that nothing was written beside the target directory.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ServinError } from "../../core/errors.ts";
import type { Platform } from "../../core/kinds.ts";
import { stubPlatform } from "../platform/_common.ts";
import { linuxPlatform } from "../platform/mod.ts";
import { Extractor, type ExtractorOptions, unpack } from "./extract.ts";
import { mergedTree } from "./layers.ts";
import type { EntryType, TarEntry, TarHeader } from "./tar.ts";

const isRoot = Deno.uid() === 0;
const enc = new TextEncoder();

interface Spec extends Partial<Omit<TarHeader, "name">> {
  body?: string | Uint8Array;
}

function entry(name: string, spec: Spec = {}): TarEntry {
  const body = typeof spec.body === "string"
    ? enc.encode(spec.body)
    : spec.body ?? new Uint8Array();
  const type: EntryType = spec.type ?? "file";
  const header: TarHeader = {
    name,
    type,
    mode: spec.mode ?? (type === "dir" ? 0o755 : 0o644),
    uid: spec.uid ?? Deno.uid() ?? 0,
    gid: spec.gid ?? Deno.gid() ?? 0,
    size: type === "file" ? body.length : 0,
    mtime: spec.mtime ?? 1_700_000_000,
    linkname: spec.linkname ?? "",
    devmajor: spec.devmajor ?? 0,
    devminor: spec.devminor ?? 0,
  };
  if (spec.xattrs) header.xattrs = spec.xattrs;
  return { header, body: ReadableStream.from(body.length ? [body] : []) };
}

const dir = (name: string, spec: Spec = {}) => entry(name, { ...spec, type: "dir" });
const symlink = (name: string, linkname: string) => entry(name, { type: "symlink", linkname });
const hardlink = (name: string, linkname: string) => entry(name, { type: "link", linkname });

interface Sandbox {
  /** The target of the latest extractor (each gets a fresh one). */
  dest: string;
  /** A directory beside it with a canary file, which no entry may touch. */
  outside: string;
  warnings: string[];
  extractor(options?: Partial<ExtractorOptions>): Extractor;
}

/** A sandbox test only root can run: it makes devices or sets privileged attributes. */
function rootSandboxTest(name: string, fn: (s: Sandbox) => Promise<void>): void {
  Deno.test({ name, ignore: !isRoot, fn: () => sandbox(fn) });
}

async function sandbox(fn: (s: Sandbox) => Promise<void>): Promise<void> {
  const base = await Deno.makeTempDir();
  const outside = join(base, "outside");
  await Deno.mkdir(outside);
  await Deno.writeTextFile(join(outside, "canary"), "canary");
  const warnings: string[] = [];
  let n = 0;
  const s: Sandbox = {
    dest: "",
    outside,
    warnings,
    extractor: (options = {}) => {
      s.dest = join(base, `dest${n++}`);
      Deno.mkdirSync(s.dest);
      return new Extractor(s.dest, {
        platform: linuxPlatform(),
        warn: (m) => warnings.push(m),
        ...options,
      });
    },
  };
  try {
    await fn(s);
    assert.deepEqual([...Deno.readDirSync(outside)].map((e) => e.name), ["canary"]);
    assert.equal(await Deno.readTextFile(join(outside, "canary")), "canary");
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

/** Applies `entries` in order; the last must be refused with `code` and a message matching `message`. */
async function refused(x: Extractor, entries: TarEntry[], code: string, message: RegExp) {
  const last = entries.pop()!;
  for (const e of entries) await x.apply(e);
  await assert.rejects(() => x.apply(last), (err: unknown) => {
    assert.ok(err instanceof ServinError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

const names = (path: string) => [...Deno.readDirSync(path)].map((e) => e.name).sort();

Deno.test("extract: an absolute name is refused", async () => {
  await sandbox(async (s) => {
    await refused(
      s.extractor(),
      [entry("/etc/evil")],
      "unsafe-archive",
      /^entry "\/etc\/evil" has an absolute path$/,
    );
  });
});

Deno.test("extract: a .. component is refused, even one that would stay inside", async () => {
  await sandbox(async (s) => {
    await refused(s.extractor(), [entry("a/../b")], "unsafe-archive", /^entry "a\/..\/b" escapes/);
    await refused(s.extractor(), [entry("../outside/canary")], "unsafe-archive", /escapes/);
  });
});

Deno.test("extract: an empty name and a NUL byte are refused", async () => {
  await sandbox(async (s) => {
    await refused(s.extractor(), [entry("")], "unsafe-archive", /has an empty name/);
    await refused(s.extractor(), [entry("a\0b")], "unsafe-archive", /NUL byte/);
  });
});

Deno.test("extract: only a directory may stand for the root, whose mode comes last", async () => {
  await sandbox(async (s) => {
    await refused(s.extractor(), [entry("./")], "unsafe-archive", /would replace the image root/);
    await refused(
      s.extractor(),
      [symlink(".", "/")],
      "unsafe-archive",
      /would replace the image root/,
    );
    const x = s.extractor();
    await x.apply(dir("./", { mode: 0o700, mtime: 1_000_000_000 }));
    await x.apply(entry("f", { body: "x" }));
    await x.finish();
    const info = Deno.statSync(s.dest);
    assert.equal(info.mode! & 0o7777, 0o700);
    assert.equal(info.mtime!.getTime(), 1_000_000_000_000);
  });
});

Deno.test("extract: nothing is written under a symlink the archive planted", async () => {
  await sandbox(async (s) => {
    await refused(
      s.extractor(),
      [symlink("link", s.outside), entry("link/canary", { body: "pwned" })],
      "unsafe-archive",
      /^entry "link\/canary" has a parent "link" that is a symlink$/,
    );
    await refused(
      s.extractor(),
      [dir("d"), symlink("d/up", "../../outside"), dir("d/up/sub")],
      "unsafe-archive",
      /parent "d\/up" that is a symlink/,
    );
  });
});

Deno.test("extract: a parent that is a file is refused", async () => {
  await sandbox(async (s) => {
    await refused(
      s.extractor(),
      [entry("f"), entry("f/g")],
      "unsafe-archive",
      /^entry "f\/g" has a parent "f" that is not a directory$/,
    );
  });
});

Deno.test("extract: a hardlink must name an earlier file inside the archive", async () => {
  await sandbox(async (s) => {
    await refused(s.extractor(), [hardlink("h", "/etc/passwd")], "unsafe-archive", /absolute/);
    await refused(s.extractor(), [hardlink("h", "../../etc/passwd")], "unsafe-archive", /escapes/);
    await refused(
      s.extractor(),
      [hardlink("h", "nope")],
      "unsafe-archive",
      /^entry "h" is a hardlink to "nope", which is not in the archive$/,
    );
    await refused(
      s.extractor(),
      [dir("d"), hardlink("h", "d")],
      "unsafe-archive",
      /is a hardlink to a directory \("d"\)/,
    );
    await refused(
      s.extractor(),
      [symlink("s", s.outside), hardlink("h2", "s/canary")],
      "unsafe-archive",
      /^entry "h2" has a parent "s" that is a symlink$/,
    );
  });
});

Deno.test("extract: a hardlink shares the inode and is counted once", async () => {
  await sandbox(async (s) => {
    const x = s.extractor();
    await x.apply(entry("a", { body: "hello" }));
    await x.apply(hardlink("b", "a"));
    await x.apply(hardlink("a", "a")); // to itself: nothing to do
    const stats = await x.finish();
    assert.deepEqual(stats, { size: 5, entries: 3 });
    assert.equal(Deno.statSync(join(s.dest, "a")).ino, Deno.statSync(join(s.dest, "b")).ino);
  });
});

Deno.test("extract: a symlink needs a target, and is never written through", async () => {
  await sandbox(async (s) => {
    await refused(s.extractor(), [symlink("l", "")], "unsafe-archive", /empty target/);
    // A file entry at a symlink's name replaces the symlink: the outside canary stays.
    const x = s.extractor();
    await x.apply(symlink("c", join(s.outside, "canary")));
    await x.apply(entry("c", { body: "pwned" }));
    await x.finish();
    assert.equal(Deno.lstatSync(join(s.dest, "c")).isFile, true);
    assert.equal(Deno.readTextFileSync(join(s.dest, "c")), "pwned");
  });
});

Deno.test("extract: a later entry replaces a directory and everything under it", async () => {
  await sandbox(async (s) => {
    const x = s.extractor();
    await x.apply(dir("d", { mode: 0o500 }));
    await x.apply(entry("d/inner", { body: "x" }));
    await x.apply(entry("d", { body: "now a file" }));
    await x.apply(dir("e"));
    await x.finish();
    assert.deepEqual(names(s.dest), ["d", "e"]);
    assert.equal(Deno.readTextFileSync(join(s.dest, "d")), "now a file");
  });
});

Deno.test("extract: directory modes and times are applied last", async () => {
  await sandbox(async (s) => {
    const x = s.extractor();
    await x.apply(dir("ro", { mode: 0o555, mtime: 1_000_000_000 }));
    await x.apply(entry("ro/late", { body: "written after its read-only parent" }));
    await x.apply(dir("ro/sub", { mode: 0o500, mtime: 1_100_000_000 }));
    await x.apply(entry("ro/sub/f", { body: "x" }));
    await x.finish();
    const ro = Deno.statSync(join(s.dest, "ro"));
    assert.equal(ro.mode! & 0o7777, 0o555);
    assert.equal(ro.mtime!.getTime(), 1_000_000_000_000);
    const sub = Deno.statSync(join(s.dest, "ro/sub"));
    assert.equal(sub.mode! & 0o7777, 0o500);
    assert.equal(sub.mtime!.getTime(), 1_100_000_000_000);
    Deno.chmodSync(join(s.dest, "ro/sub"), 0o755);
    Deno.chmodSync(join(s.dest, "ro"), 0o755);
  });
});

Deno.test("extract: whiteouts are checked: malformed, or not a regular file", async () => {
  await sandbox(async (s) => {
    await refused(s.extractor(), [entry("etc/.wh..wh.evil")], "unsafe-archive", /malformed/);
    await refused(s.extractor(), [entry("etc/.wh...")], "unsafe-archive", /malformed/);
    await refused(
      s.extractor(),
      [dir("etc/.wh.passwd")],
      "unsafe-archive",
      /is a whiteout but not a regular file/,
    );
  });
});

Deno.test("extract: without overlay whiteouts, a whiteout is kept as its .wh. file", async () => {
  await sandbox(async (s) => {
    const platform: Platform = { ...linuxPlatform(), overlayWhiteouts: false };
    const x = s.extractor({ platform });
    await x.apply(entry("etc/.wh.passwd"));
    await x.apply(entry("etc/.wh..wh..opq"));
    await x.finish();
    assert.deepEqual(names(join(s.dest, "etc")), [".wh..wh..opq", ".wh.passwd"]);
  });
});

rootSandboxTest("extract: as root, a whiteout becomes a 0:0 device", async (s) => {
  const x = s.extractor();
  await x.apply(entry("etc/.wh.passwd"));
  await x.finish();
  const info = Deno.lstatSync(join(s.dest, "etc/passwd"));
  assert.equal(info.isCharDevice, true);
  assert.equal(info.rdev, 0);
  assert.deepEqual(names(join(s.dest, "etc")), ["passwd"]);
});

Deno.test("extract: devices and FIFOs are skipped with a warning where they cannot be made", async () => {
  await sandbox(async (s) => {
    // A platform that can make neither (Windows, macOS): mknod throws `unsupported`.
    const nowhere = stubPlatform("nowhere", "Nowhere", () => s.dest);
    let x = s.extractor({ platform: nowhere });
    await x.apply(entry("dev/null", { type: "char", devmajor: 1, devminor: 3 }));
    await x.apply(entry("fifo", { type: "fifo" }));
    await x.finish();
    assert.deepEqual(names(s.dest), ["dev"]);
    assert.deepEqual(names(join(s.dest, "dev")), []);
    assert.ok(s.warnings.some((w) => w.includes("not running as root")), String(s.warnings));
    assert.ok(s.warnings.some((w) => w.includes("FIFOs from archives are skipped on nowhere")));
    // Linux without root: no devices, but FIFOs are made.
    s.warnings.length = 0;
    x = s.extractor({ platform: { ...linuxPlatform(), canChown: false, canMknod: false } });
    await x.apply(entry("zero", { type: "char", devmajor: 1, devminor: 5 }));
    await x.apply(entry("fifo", { type: "fifo", mode: 0o600 }));
    await x.finish();
    assert.deepEqual(names(s.dest), ["fifo"]);
    assert.equal(Deno.lstatSync(join(s.dest, "fifo")).isFifo, true);
    assert.deepEqual(s.warnings, ["device nodes from archives are skipped: not running as root"]);
  });
});

rootSandboxTest(
  "extract: as root, devices are made and ownership is applied before special modes",
  async (s) => {
    const x = s.extractor();
    await x.apply(entry("zero", { type: "char", devmajor: 1, devminor: 5, mode: 0o640 }));
    await x.apply(entry("fifo", { type: "fifo", mode: 0o600 }));
    await x.apply(entry("suid", { body: "x", mode: 0o4755, uid: 1234, gid: 4321 }));
    await x.apply(entry("big", { body: new Uint8Array(2 * 1024 * 1024 + 3), mode: 0o2750 }));
    const stats = await x.finish();
    assert.equal(stats.size, 2 * 1024 * 1024 + 4);
    const zero = Deno.lstatSync(join(s.dest, "zero"));
    assert.equal(zero.isCharDevice, true);
    assert.equal(zero.rdev, (1 << 8) | 5);
    assert.equal(Deno.lstatSync(join(s.dest, "fifo")).isFifo, true);
    const suid = Deno.lstatSync(join(s.dest, "suid"));
    assert.equal(suid.mode! & 0o7777, 0o4755, "chown after chmod would have cleared setuid");
    assert.deepEqual([suid.uid, suid.gid], [1234, 4321]);
    assert.equal(Deno.lstatSync(join(s.dest, "big")).mode! & 0o7777, 0o2750);
  },
);

Deno.test("extract: the entry limit is enforced when given", async () => {
  await sandbox(async (s) => {
    await refused(
      s.extractor({ limits: { maxEntries: 2 } }),
      [entry("a"), entry("b"), entry("c")],
      "limit-exceeded",
      /^the archive has more than 2 entries$/,
    );
  });
});

Deno.test("extract: a finished extractor takes no more entries", async () => {
  await sandbox(async (s) => {
    const x = s.extractor();
    await x.finish();
    await assert.rejects(() => x.apply(entry("late")), /already finished/);
  });
});

Deno.test("extract: unpack is the extractor over a stream of entries", async () => {
  await sandbox(async (s) => {
    s.extractor(); // only for its fresh target directory
    const stats = await unpack(
      ReadableStream.from([dir("a"), entry("a/b", { body: "xy" }), symlink("a/c", "b")]),
      s.dest,
      { platform: linuxPlatform(), warn: () => {} },
    );
    assert.deepEqual(stats, { size: 2, entries: 3 });
    assert.equal(Deno.readTextFileSync(join(s.dest, "a/c")), "xy");
  });
});

// ------------------------------------------------------------ layer idioms
// Each idiom is applied over a lower layer in both whiteout forms (`.wh.`
// files, and as root overlayfs's 0:0 devices and opaque xattr) and checked in
// the merged view, which is what a container and `image export` see.

/** The whiteout forms this host can write. */
const FORMS = isRoot ? [false, true] : [false];

/** The merged view of `layers` (lowest first): `dir/`, `link->target`, `file=content`. */
function view(layers: string[]): string[] {
  return [...mergedTree(layers, linuxPlatform().getxattr)].filter((e) => e.rel !== "").map((e) =>
    e.info.isDirectory
      ? `${e.rel}/`
      : e.info.isSymlink
      ? `${e.rel}->${Deno.readLinkSync(e.source)}`
      : `${e.rel}=${Deno.readTextFileSync(e.source)}`
  );
}

/** Extracts `lower`, then `upper()` in each whiteout form; returns the merged views. */
async function layered(
  s: Sandbox,
  lower: () => TarEntry[],
  upper: () => TarEntry[],
): Promise<string[][]> {
  const views: string[][] = [];
  for (const overlayWhiteouts of FORMS) {
    const platform: Platform = { ...linuxPlatform(), overlayWhiteouts };
    const layers: string[] = [];
    for (const entries of [lower(), upper()]) {
      await unpack(ReadableStream.from(entries), s.extractor({ platform }) && s.dest, {
        platform,
        warn: () => {},
      });
      layers.push(s.dest);
    }
    views.push(view(layers));
  }
  return views;
}

Deno.test("extract: a whiteout under a name this layer made a symlink or a file does nothing", async () => {
  await sandbox(async (s) => {
    // umoci and containerd's differ: `todir -> /data`, then whiteouts of the old children.
    const views = await layered(
      s,
      () => [dir("todir"), entry("todir/inner", { body: "old" }), dir("data")],
      () => [
        symlink("todir", "/data"),
        entry("todir/.wh.inner"),
        entry("todir/.wh..wh..opq"),
        symlink("out", s.outside),
        entry("out/.wh.canary"), // nothing is removed through it
        entry("f", { body: "f" }),
        entry("f/.wh.x"),
        entry(".wh.gone"),
        entry("gone/.wh.x"), // under a name this layer whited out
      ],
    );
    for (const v of views) {
      assert.deepEqual(v, ["data/", "f=f", `out->${s.outside}`, "todir->/data"]);
    }
    // An ordinary entry there is still refused.
    await refused(
      s.extractor(),
      [symlink("todir", "/data"), entry("todir/.wh.inner"), entry("todir/inner")],
      "unsafe-archive",
      /parent "todir" that is a symlink/,
    );
  });
});

Deno.test("extract: an opaque marker after the directory's new entries keeps them", async () => {
  await sandbox(async (s) => {
    const views = await layered(
      s,
      () => [dir("a"), entry("a/old", { body: "old" })],
      () => [dir("a"), entry("a/new", { body: "new" }), entry("a/.wh..wh..opq")],
    );
    for (const v of views) assert.deepEqual(v, ["a/", "a/new=new"]);
  });
});

Deno.test("extract: a whiteout before its directory entry makes the new directory opaque", async () => {
  await sandbox(async (s) => {
    const views = await layered(
      s,
      () => [dir("d"), entry("d/old", { body: "old" }), dir("e"), entry("e/old", { body: "old" })],
      // `e` is made only as the parent of its new file.
      () => [entry(".wh.d"), dir("d"), entry("d/new", { body: "n" }), entry(".wh.e"), entry("e/n")],
    );
    for (const v of views) assert.deepEqual(v, ["d/", "d/new=n", "e/", "e/n="]);
  });
});

Deno.test("extract: a whiteout after this layer's own entry deletes only the layers below", async () => {
  await sandbox(async (s) => {
    const views = await layered(
      s,
      () => [entry("f", { body: "lower" }), dir("g"), entry("g/old", { body: "old" })],
      () => [
        entry("f", { body: "upper" }),
        entry(".wh.f"),
        dir("g"),
        entry("g/new", { body: "new" }),
        entry(".wh.g"),
      ],
    );
    for (const v of views) assert.deepEqual(v, ["f=upper", "g/", "g/new=new"]);
  });
});

Deno.test("extract: a repeated directory entry: the later one's metadata wins", async () => {
  await sandbox(async (s) => {
    const x = s.extractor();
    const first = {
      mode: 0o700,
      mtime: 1_000_000_000,
      ...(isRoot ? { uid: 1234, gid: 4321 } : {}),
    };
    await x.apply(dir("d", { ...first, xattrs: { "user.first": enc.encode("1") } }));
    await x.apply(entry("d/f", { body: "x" }));
    await x.apply(
      dir("d", { mode: 0o751, mtime: 1_100_000_000, xattrs: { "user.second": enc.encode("2") } }),
    );
    await x.finish();
    const info = Deno.lstatSync(join(s.dest, "d"));
    assert.equal(info.mode! & 0o7777, 0o751);
    assert.equal(info.mtime!.getTime(), 1_100_000_000_000);
    assert.deepEqual([info.uid, info.gid], [Deno.uid(), Deno.gid()]);
    assert.deepEqual(Object.keys(linuxPlatform().listxattr(join(s.dest, "d"))), ["user.second"]);
    assert.deepEqual(names(join(s.dest, "d")), ["f"]);
  });
});

Deno.test("extract: a hardlink to a file of a layer below is refused", async () => {
  await sandbox(async (s) => {
    // Layers are stored apart and shared: the target must be in the same layer.
    await refused(
      s.extractor(),
      [dir("bin"), hardlink("bin/sh2", "bin/sh")],
      "unsafe-archive",
      /^entry "bin\/sh2" is a hardlink to "bin\/sh", which is not in the archive$/,
    );
    await refused(
      s.extractor(),
      [entry("a", { body: "a" }), entry(".wh.b"), hardlink("c", "b")],
      "unsafe-archive",
      /which is not in the archive/,
    );
  });
});

Deno.test("extract: a whiteout of a name no layer has is accepted and hides nothing", async () => {
  await sandbox(async (s) => {
    const views = await layered(
      s,
      () => [entry("x", { body: "x" })],
      () => [entry(".wh.nothing"), entry(".wh.nothing"), entry("a/b/.wh.c")],
    );
    for (const v of views) assert.deepEqual(v, ["a/", "a/b/", "x=x"]);
  });
});

// ------------------------------------------------------------ extended attributes

/** A platform whose setxattr fails as a filesystem without xattrs does. */
function noXattrs(errno: number): Platform {
  return {
    ...linuxPlatform(),
    setxattr: () => {
      throw Object.assign(new Error("setxattr: Operation not supported"), { errno });
    },
  };
}

Deno.test("extract: xattrs: user.* always, others as root, the host's never", async () => {
  await sandbox(async (s) => {
    const cap = new Uint8Array([1, 0, 0, 2, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const xattrs = {
      "user.test": enc.encode("hello"),
      "security.capability": cap,
      "trusted.overlay.opaque": enc.encode("y"),
    };
    const apply = async (platform: Platform) => {
      const x = s.extractor({ platform });
      await x.apply(entry("f", { body: "x", xattrs, mode: 0o755 }));
      await x.apply(dir("d", { xattrs: { "user.dir": enc.encode("d") } }));
      await x.finish();
      return linuxPlatform().listxattr(join(s.dest, "f"));
    };
    if (isRoot) {
      const got = await apply(linuxPlatform());
      assert.deepEqual(got, { "security.capability": cap, "user.test": enc.encode("hello") });
      assert.deepEqual(linuxPlatform().listxattr(join(s.dest, "d")), {
        "user.dir": enc.encode("d"),
      });
      assert.deepEqual(s.warnings, [
        "host attributes (trusted.overlay.*, security.selinux) from archives are not kept",
      ]);
    }
    s.warnings.length = 0;
    const rootless = await apply({ ...linuxPlatform(), canChown: false });
    assert.deepEqual(rootless, { "user.test": enc.encode("hello") });
    assert.ok(
      s.warnings.includes(
        "extended attributes other than user.* from archives are not kept: not running as root",
      ),
      String(s.warnings),
    );
    // A filesystem without xattrs: warned, never fatal.
    s.warnings.length = 0;
    await apply({ ...noXattrs(95), canChown: false });
    assert.ok(
      s.warnings.includes(
        "extended attributes from archives are not all kept: setxattr: Operation not supported",
      ),
      String(s.warnings),
    );
  });
});

rootSandboxTest(
  "extract: as root, a privileged xattr the filesystem refuses fails the entry",
  async (s) => {
    // Small files are written in the background: the failure comes by `finish`.
    const x = s.extractor({ platform: noXattrs(22) });
    await x.apply(entry("f", { xattrs: { "security.capability": new Uint8Array([9]) } }));
    await assert.rejects(() => x.finish(), (err: unknown) => {
      assert.ok(err instanceof ServinError, String(err));
      assert.equal(err.code, "invalid-archive");
      assert.match(err.message, /^entry "f" could not be written: setxattr/);
      return true;
    });
  },
);
