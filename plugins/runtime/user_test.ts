import assert from "node:assert/strict";
import { join } from "node:path";
import { resolveInRoot, resolveUser } from "./user.ts";

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
