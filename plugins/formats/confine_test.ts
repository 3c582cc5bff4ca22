import assert from "node:assert/strict";
import { join } from "node:path";
import { ServinError } from "../../core/errors.ts";
import {
  cleanName,
  openConfined,
  type PathNode,
  readConfinedFile,
  resolveInRoot,
  resolveLexically,
} from "./confine.ts";

const isRoot = Deno.uid() === 0;

/** A root with a canary file beside it (outside), removed after `fn`. */
async function withRoot(fn: (root: string, outside: string) => Promise<void> | void) {
  const base = await Deno.makeTempDir();
  const root = join(base, "root");
  const outside = join(base, "outside");
  await Deno.mkdir(join(root, "etc"), { recursive: true });
  await Deno.mkdir(outside);
  await Deno.writeTextFile(join(outside, "secret"), "outside\n");
  await Deno.writeTextFile(join(root, "etc", "secret"), "inside\n");
  try {
    await fn(root, outside);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

function code(c: string, message?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ServinError, String(err));
    assert.equal(err.code, c, err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

const fail = (why: string) => new ServinError("unsafe-archive", `entry ${why}`);

Deno.test("cleanName normalises a safe member name", () => {
  assert.equal(cleanName("./a//b/./c/", fail), "a/b/c");
  assert.equal(cleanName("./", fail), "");
  assert.equal(cleanName(".", fail), "");
  assert.equal(cleanName("a..b/..c", fail), "a..b/..c");
});

Deno.test("cleanName refuses absolute, empty, NUL and .. names", () => {
  assert.throws(() => cleanName("", fail), /has an empty name/);
  assert.throws(() => cleanName("/etc/passwd", fail), /has an absolute path/);
  assert.throws(() => cleanName("a\0b", fail), /NUL byte/);
  assert.throws(() => cleanName("../x", fail), /escapes the image root \("\.\." component\)/);
  assert.throws(() => cleanName("a/b/../../../x", fail), /escapes/);
  assert.throws(() => cleanName("a/..", fail), /escapes/);
  assert.throws(
    () => cleanName("x/../y", fail, { root: "the archive" }),
    /escapes the archive/,
  );
});

Deno.test("resolveLexically never climbs above the root of an in-memory tree", () => {
  const tree: Record<string, PathNode> = {
    a: { type: "dir" },
    "a/up": { type: "symlink", target: "../../../../../.." },
    "a/abs": { type: "symlink", target: "/a" },
    "a/f": { type: "other" },
    loop1: { type: "symlink", target: "loop2" },
    loop2: { type: "symlink", target: "/loop1" },
  };
  const look = (rel: string) => tree[rel];
  assert.equal(resolveLexically("../../../a/f", look), "a/f");
  assert.equal(resolveLexically("a/up/a/up/a/f", look), "a/f");
  assert.equal(resolveLexically("a/abs/abs/abs/f", look), "a/f");
  assert.equal(resolveLexically("a/up", look), "");
  assert.equal(resolveLexically("a/f/x", look), undefined, "a file has no children");
  assert.equal(resolveLexically("a/nope", look), undefined);
  assert.throws(() => resolveLexically("loop1", look), /more than 40 levels of symlinks/);
  assert.throws(() => resolveLexically("a/abs/f", look, { maxSymlinks: 0 }), /more than 0/);
  assert.throws(
    () => resolveLexically("a/abs/f", look, { refuseSymlink: (rel) => new Error(`link ${rel}`) }),
    /link a\/abs/,
  );
});

Deno.test("resolveInRoot keeps symlinks to /, .. chains and absolute targets inside the root", async () => {
  await withRoot((root, outside) => {
    Deno.symlinkSync("/", join(root, "slash"));
    Deno.symlinkSync("../../../../../../../..", join(root, "etc", "up"));
    Deno.symlinkSync(join(outside, "secret"), join(root, "abs"));
    Deno.symlinkSync(`../../../../${outside}/secret`, join(root, "rel"));
    Deno.symlinkSync("/etc/secret", join(root, "good"));
    assert.equal(resolveInRoot(root, "/slash/etc/secret"), join(root, "etc", "secret"));
    assert.equal(resolveInRoot(root, "slash/slash/slash"), root);
    assert.equal(resolveInRoot(root, "etc/up/etc/secret"), join(root, "etc", "secret"));
    assert.equal(resolveInRoot(root, "../../../etc/secret"), join(root, "etc", "secret"));
    assert.equal(resolveInRoot(root, "good"), join(root, "etc", "secret"));
    // The outside targets, read inside the root, do not exist there.
    assert.equal(resolveInRoot(root, "abs"), undefined);
    assert.equal(resolveInRoot(root, "rel"), undefined);
  });
});

Deno.test("resolveInRoot refuses a symlink loop and, when asked, any symlink", async () => {
  await withRoot((root) => {
    Deno.symlinkSync("b", join(root, "a"));
    Deno.symlinkSync("/a", join(root, "b"));
    Deno.symlinkSync("/etc", join(root, "etclink"));
    assert.throws(() => resolveInRoot(root, "a/x"), code("invalid-argument", /levels of symlinks/));
    assert.throws(
      () => resolveInRoot(root, "etclink", { symlinks: "refuse" }),
      code("invalid-argument", /^"etclink" is a symlink$/),
    );
    assert.throws(
      () => resolveInRoot(root, "etclink/secret", { symlinks: "refuse", label: "the file" }),
      code("invalid-argument", /^the file is under the symlink "etclink"$/),
    );
  });
});

Deno.test("readConfinedFile reads a regular file inside the root, through inner symlinks", async () => {
  await withRoot(async (root) => {
    Deno.symlinkSync("../etc/secret", join(root, "etc", "link"));
    const bytes = await readConfinedFile(root, "etc/link", { maxBytes: 100 });
    assert.equal(new TextDecoder().decode(bytes), "inside\n");
  });
});

Deno.test("readConfinedFile never reads a file outside the root", async () => {
  await withRoot(async (root, outside) => {
    Deno.symlinkSync(join(outside, "secret"), join(root, "etc", "abs"));
    Deno.symlinkSync(`../../../../../../..${outside}/secret`, join(root, "etc", "rel"));
    for (const name of ["etc/abs", "etc/rel"]) {
      await assert.rejects(
        () => readConfinedFile(root, name, { maxBytes: 100 }),
        code("not-found", /does not exist/),
      );
    }
    await assert.rejects(
      () => readConfinedFile(root, "etc/abs", { maxBytes: 100, symlinks: "refuse" }),
      /"etc\/abs" is a symlink/,
    );
  });
});

Deno.test("readConfinedFile refuses a FIFO without hanging", async () => {
  await withRoot(async (root) => {
    const fifo = join(root, "etc", "fifo");
    const mk = new Deno.Command("mkfifo", { args: [fifo] }).outputSync();
    assert.ok(mk.success);
    await assert.rejects(
      () => readConfinedFile(root, "etc/fifo", { maxBytes: 100 }),
      code("invalid-argument", /^"etc\/fifo" is a FIFO, not a regular file$/),
    );
    // Even when asked to open anything, a FIFO without a writer does not block the open.
    const file = await openConfined(root, "etc/fifo", { regularOnly: false, maxBytes: 10 });
    await file.close();
  });
});

Deno.test({
  name: "readConfinedFile refuses a character device such as /dev/zero",
  ignore: !isRoot,
  fn: async () => {
    await withRoot(async (root) => {
      const dev = join(root, "etc", "zero");
      const mk = new Deno.Command("mknod", { args: [dev, "c", "1", "5"] }).outputSync();
      assert.ok(mk.success, new TextDecoder().decode(mk.stderr));
      await assert.rejects(
        () => readConfinedFile(root, "etc/zero", { maxBytes: 100 }),
        /"etc\/zero" is a character device, not a regular file/,
      );
      // Opened on purpose, an endless device is cut off at the limit.
      await assert.rejects(
        () => readConfinedFile(root, "etc/zero", { maxBytes: 100, regularOnly: false }),
        code("limit-exceeded", /^"etc\/zero" is larger than the limit of 100 bytes$/),
      );
    });
  },
});

Deno.test("the real /dev/zero is refused from a root of /", async () => {
  await assert.rejects(
    () => readConfinedFile("/", "/dev/zero", { maxBytes: 10 }),
    /is a character device, not a regular file/,
  );
});

Deno.test("readConfinedFile refuses a directory and an oversize file, naming the limit", async () => {
  await withRoot(async (root) => {
    await assert.rejects(
      () => readConfinedFile(root, "etc", { maxBytes: 100, label: "the image's /etc" }),
      code("invalid-argument", /^the image's \/etc is a directory, not a regular file$/),
    );
    await Deno.writeFile(join(root, "big"), new Uint8Array(101));
    await assert.rejects(
      () => readConfinedFile(root, "big", { maxBytes: 100 }),
      code("limit-exceeded", /^"big" is larger than the limit of 100 bytes$/),
    );
    assert.equal((await readConfinedFile(root, "big", { maxBytes: 101 })).length, 101);
  });
});

Deno.test("openConfined streams at most maxBytes of a file that grows after the check", async () => {
  await withRoot(async (root) => {
    const path = join(root, "grows");
    await Deno.writeFile(path, new Uint8Array(10));
    const file = await openConfined(root, "grows", { maxBytes: 20 });
    await Deno.writeFile(path, new Uint8Array(200_000), { append: true });
    await assert.rejects(async () => {
      for await (const _ of file.readable) { /* drain */ }
    }, code("limit-exceeded", /larger than the limit of 20 bytes/));
  });
});
