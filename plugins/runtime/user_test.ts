import assert from "node:assert/strict";
import { join } from "node:path";
import { ServinError } from "../../core/errors.ts";
import { resolveInRoot } from "../formats/confine.ts";
import { MAX_ACCOUNT_FILE, resolveUser } from "./user.ts";

async function image(files: Record<string, string>, links: Record<string, string> = {}) {
  const root = await Deno.makeTempDir();
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(join(root, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(root, path), text);
  }
  for (const [path, target] of Object.entries(links)) {
    await Deno.mkdir(join(root, path, ".."), { recursive: true });
    await Deno.symlink(target, join(root, path));
  }
  return root;
}

Deno.test("users resolve by name or id, with groups from /etc/group", async () => {
  const root = await image({
    "etc/passwd": "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
    "etc/group": "root:x:0:\nalice:x:1000:\nstaff:x:50:alice,bob\nwheel:x:10:alice\n",
  });
  try {
    assert.deepEqual(await resolveUser("alice", [root]), {
      uid: 1000,
      gid: 1000,
      additional_gids: [50, 10],
    });
    assert.deepEqual(await resolveUser("1000", [root]), {
      uid: 1000,
      gid: 1000,
      additional_gids: [50, 10],
    });
    assert.deepEqual(await resolveUser("alice:staff", [root]), {
      uid: 1000,
      gid: 50,
      additional_gids: [],
    });
    assert.deepEqual(await resolveUser("4242:4343", [root]), {
      uid: 4242,
      gid: 4343,
      additional_gids: [],
    });
    assert.deepEqual(await resolveUser("", [root]), { uid: 0, gid: 0, additional_gids: [] });
    await assert.rejects(() => resolveUser("mallory", [root]), /Cannot find user "mallory"/);
    await assert.rejects(() => resolveUser("alice:nogroup", [root]), /Cannot find group "nogroup"/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the image's /etc/passwd is read inside the image root, even through symlinks", async () => {
  const outside = await Deno.makeTempDir();
  await Deno.writeTextFile(join(outside, "passwd"), "alice:x:666:666::/:/bin/sh\n");
  const root = await image(
    { "data/passwd": "alice:x:7:7::/:/bin/sh\n" },
    { "etc/passwd": `../../../../../../${outside}/passwd`, "etc/group": "/data/../../../group" },
  );
  try {
    // `..` cannot climb above the image root, so the link lands inside it, or nowhere.
    assert.equal(await resolveInRoot(root, "/etc/passwd"), undefined);
    await Deno.remove(join(root, "etc/passwd"));
    await Deno.symlink(`/../../data/passwd`, join(root, "etc/passwd"));
    assert.equal(await resolveInRoot(root, "/etc/passwd"), join(root, "data/passwd"));
    assert.deepEqual(await resolveUser("alice", [root]), { uid: 7, gid: 7, additional_gids: [] });
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

const isRoot = Deno.uid() === 0;

/** A test skipped unless run as root: making a character device (mknod) needs root. */
function rootTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore: !isRoot, fn });
}

/** Runs `mknod` or `mkfifo` with `args` to make a special file; it must succeed. */
function makeNode(tool: "mknod" | "mkfifo", ...args: string[]): void {
  const made = new Deno.Command(tool, { args }).outputSync();
  assert.ok(made.success, new TextDecoder().decode(made.stderr));
}

function refusal(code: string, message: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ServinError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  };
}

Deno.test("a symlink out of the image root never reads the host's file", async () => {
  const outside = await Deno.makeTempDir();
  await Deno.writeTextFile(join(outside, "passwd"), "alice:x:666:666::/:/bin/sh\n");
  // The lower layer has no alice either: only the host file has.
  const lower = await image({ "etc/passwd": "root:x:0:0::/root:/bin/sh\n" });
  const upper = await image({}, {
    "etc/passwd": join(outside, "passwd"),
    "etc/group": `../../../../../../../../${outside}/passwd`,
  });
  try {
    await assert.rejects(() => resolveUser("alice", [upper, lower]), /Cannot find user "alice"/);
    assert.deepEqual(await resolveUser("root", [upper, lower]), {
      uid: 0,
      gid: 0,
      additional_gids: [],
    });
  } finally {
    for (const dir of [outside, lower, upper]) await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a FIFO at /etc/passwd is refused without hanging", async () => {
  const root = await image({ "etc/group": "root:x:0:\n" });
  try {
    makeNode("mkfifo", join(root, "etc/passwd"));
    await assert.rejects(
      () => resolveUser("root", [root]),
      refusal("invalid-argument", /^the image's \/etc\/passwd is a FIFO, not a regular file$/),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

rootTest("a character device like /dev/zero at /etc/group is refused, not read", async () => {
  const root = await image({ "etc/passwd": "root:x:0:0::/root:/bin/sh\n" });
  try {
    makeNode("mknod", join(root, "etc/group"), "c", "1", "5");
    await assert.rejects(
      () => resolveUser("root", [root]),
      refusal("invalid-argument", /^the image's \/etc\/group is a character device/),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

rootTest("a whiteout (0:0 device) in an upper layer deletes the lower /etc/passwd", async () => {
  const lower = await image({ "etc/passwd": "alice:x:7:7::/:/bin/sh\n" });
  const upper = await image({ "etc/group": "" });
  try {
    makeNode("mknod", join(upper, "etc/passwd"), "c", "0", "0");
    await assert.rejects(() => resolveUser("alice", [upper, lower]), /Cannot find user/);
    assert.equal((await resolveUser("alice", [lower])).uid, 7);
  } finally {
    for (const dir of [lower, upper]) await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an /etc/passwd over 1 MiB is refused, naming the limit", async () => {
  const line = "u:x:1:1::/:/bin/sh\n";
  const root = await image({
    "etc/passwd": line.repeat(Math.ceil((MAX_ACCOUNT_FILE + 1) / line.length)),
  });
  try {
    await assert.rejects(
      () => resolveUser("root", [root]),
      refusal(
        "limit-exceeded",
        /^the image's \/etc\/passwd is larger than the limit of 1048576 bytes$/,
      ),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a .wh. whiteout or an opaque /etc in an upper layer hides the lower /etc/passwd", async () => {
  const lower = await image({ "etc/passwd": "alice:x:7:7::/:/bin/sh\n" });
  const whiteout = await image({ "etc/.wh.passwd": "" });
  const opaque = await image({ "etc/.wh..wh..opq": "" });
  const unrelated = await image({ "etc/.wh.group": "" });
  try {
    for (const upper of [whiteout, opaque]) {
      await assert.rejects(() => resolveUser("alice", [upper, lower]), /Cannot find user/);
    }
    assert.equal((await resolveUser("alice", [unrelated, lower])).uid, 7);
  } finally {
    for (const dir of [lower, whiteout, opaque, unrelated]) {
      await Deno.remove(dir, { recursive: true });
    }
  }
});
