import assert from "node:assert/strict";
import { join } from "node:path";
import { linuxPlatform } from "../platform/mod.ts";
import { compareTrees } from "./compare.ts";
import { OPAQUE_XATTR } from "./whiteout.ts";

const ROOT = Deno.build.os === "linux" && Deno.uid() === 0;

/** Two equal trees (`a` expected, `b` actual): a directory, files, a hardlink, a symlink. */
function trees(): [string, string, () => void] {
  const top = Deno.makeTempDirSync({ prefix: "servin-compare-" });
  const [a, b] = [join(top, "a"), join(top, "b")];
  for (const t of [a, b]) {
    Deno.mkdirSync(join(t, "etc"), { recursive: true });
    Deno.writeTextFileSync(join(t, "etc", "motd"), "hello\n");
    Deno.linkSync(join(t, "etc", "motd"), join(t, "etc", "hard"));
    Deno.symlinkSync("motd", join(t, "etc", "link"));
    Deno.writeFileSync(join(t, "big"), new Uint8Array(3 * 1024 * 1024 + 7).fill(7));
    Deno.chmodSync(join(t, "big"), 0o755);
  }
  return [a, b, () => Deno.removeSync(top, { recursive: true })];
}

function compare(a: string, b: string): string | undefined {
  const { getxattr, listxattr } = linuxPlatform();
  return compareTrees(a, b, { owners: ROOT, getxattr, listxattr });
}

Deno.test("compareTrees: equal trees have no difference", () => {
  const [a, b, done] = trees();
  try {
    assert.equal(compare(a, b), undefined);
  } finally {
    done();
  }
});

Deno.test("compareTrees: names each kind of difference, the first in name order", () => {
  const cases: [string, (b: string) => void, string][] = [
    ["mode", (b) => Deno.chmodSync(join(b, "big"), 0o700), '"big" has mode 700, not 755'],
    ["size", (b) => Deno.truncateSync(join(b, "big"), 10), '"big" has 10 bytes, not 3145735'],
    [
      "content past the first chunk",
      (b) => {
        const f = Deno.openSync(join(b, "big"), { write: true });
        f.seekSync(3 * 1024 * 1024 + 1, Deno.SeekMode.Start);
        f.writeSync(new Uint8Array([8]));
        f.close();
      },
      '"big" has other content',
    ],
    [
      "symlink target",
      (b) => {
        Deno.removeSync(join(b, "etc", "link"));
        Deno.symlinkSync("/etc/passwd", join(b, "etc", "link"));
      },
      '"etc/link" points to "/etc/passwd", not "motd"',
    ],
    [
      "type",
      (b) => {
        Deno.removeSync(join(b, "etc", "link"));
        Deno.mkdirSync(join(b, "etc", "link"));
        Deno.writeTextFileSync(join(b, "etc", "link", "x"), "");
      },
      '"etc/link" is a dir, not a symlink',
    ],
    [
      "a hardlink made a copy",
      (b) => {
        Deno.removeSync(join(b, "etc", "hard"));
        Deno.writeTextFileSync(join(b, "etc", "hard"), "hello\n");
      },
      // Found at the second name of the group.
      '"etc/motd" is not hardlinked as in the layer',
    ],
    [
      "both names of a hardlink changed",
      (b) => Deno.writeTextFileSync(join(b, "etc", "motd"), "HELLO\n"),
      '"etc/hard" has other content (and 1 more difference)',
    ],
    [
      "a file added",
      (b) => Deno.writeTextFileSync(join(b, "new"), ""),
      '"new" was not in the layer',
    ],
    [
      "a directory removed",
      (b) => Deno.removeSync(join(b, "etc"), { recursive: true }),
      '"etc" is missing',
    ],
    [
      "several",
      (b) => {
        Deno.chmodSync(join(b, "etc"), 0o700);
        Deno.removeSync(join(b, "etc", "link"));
        Deno.writeTextFileSync(join(b, "zzz"), "");
      },
      '"etc" has mode 700, not 755 (and 2 more differences)',
    ],
  ];
  for (const [what, damage, expected] of cases) {
    const [a, b, done] = trees();
    try {
      damage(b);
      assert.equal(compare(a, b), expected, what);
    } finally {
      done();
    }
  }
});

Deno.test({
  name: "compareTrees: owners, device numbers and xattrs differ (root on Linux)",
  // Owners, device nodes and trusted.* xattrs need root.
  ignore: !ROOT,
  fn() {
    const platform = linuxPlatform();
    const cases: [string, (t: string, expected: boolean) => void, string][] = [
      [
        "owner",
        (t, e) => Deno.chownSync(join(t, "etc", "motd"), e ? 1 : 0, 2),
        '"etc/hard" is owned by 0:2, not 1:2 (and 1 more difference)',
      ],
      [
        "device",
        (t, e) => platform.mknod(join(t, "null"), "char", 0o666, 1, e ? 3 : 5),
        '"null" is device 1:5, not 1:3',
      ],
      [
        "opaque",
        (t, e) => e && platform.setxattr(join(t, "etc"), OPAQUE_XATTR, "y"),
        '"etc" is not an opaque directory',
      ],
      [
        "xattr missing",
        (t, e) => e && platform.setxattr(join(t, "big"), "user.servin", "1"),
        '"big" lacks xattr user.servin',
      ],
      [
        "xattr value",
        (t, e) => platform.setxattr(join(t, "big"), "trusted.servin", e ? "1" : "2"),
        '"big" has another value of xattr trusted.servin',
      ],
      [
        "xattr added",
        (t, e) => !e && platform.setxattr(join(t, "etc"), "user.servin", "1"),
        '"etc" has xattr user.servin, which the layer has not',
      ],
    ];
    for (const [what, make, expected] of cases) {
      const [a, b, done] = trees();
      try {
        make(a, true);
        make(b, false);
        assert.equal(compare(a, b), expected, what);
        assert.equal(
          compareTrees(a, b, { owners: false }),
          what === "device" ? expected : undefined,
        );
      } finally {
        done();
      }
    }
  },
});
