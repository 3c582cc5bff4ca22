import assert from "node:assert/strict";
import { ServinError } from "../../core/errors.ts";
import { findSources, hashItems, ignoreRules, NO_IGNORE, planCopy } from "./_context.ts";

async function tree(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir();
  for (const [rel, body] of Object.entries(files)) {
    const path = `${dir}/${rel}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    if (body.startsWith("->")) await Deno.symlink(body.slice(2), path);
    else await Deno.writeTextFile(path, body);
  }
  return dir;
}

Deno.test("ignore rules follow Docker's matching, exceptions included", async () => {
  const rules = await ignoreRules("# c\n*.log\n!keep.log\nbuild/\n**/tmp\n/abs\n");
  assert.ok(rules.ignores("a.log"));
  assert.ok(!rules.ignores("keep.log"));
  assert.ok(!rules.ignores("sub/a.log")); // `*` matches one level, as in Docker
  assert.ok(rules.ignores("build"));
  assert.ok(rules.ignores("build/x"));
  assert.ok(rules.ignores("a/b/tmp"));
  assert.ok(rules.ignores("abs"));
  assert.ok(rules.exceptions);
});

Deno.test("sources: globs, directories, ignored files and escapes", async () => {
  const dir = await tree({
    "a.txt": "a",
    "b.txt": "b",
    "d/c.txt": "c",
    "d/skip.log": "x",
    "out": "->/etc",
    "up": "->../../../../..",
  });
  try {
    const ignore = await ignoreRules("**/*.log\n");
    assert.deepEqual(findSources(dir, "*.txt", ignore, "context").map((s) => s.rel), [
      "a.txt",
      "b.txt",
    ]);
    const items = planCopy(findSources(dir, "d", ignore, "context"), "/dst", { ignore });
    assert.deepEqual(items.map((i) => i.dest), ["dst", "dst/c.txt"]);
    assert.equal(items[1]!.uid, 0);
    const chmod = planCopy(findSources(dir, "a.txt", ignore, "context"), "/x/", {
      ignore,
      chmod: 0o640,
      owner: { uid: 5, gid: 6 },
    });
    assert.deepEqual(chmod.map((i) => [i.dest, i.mode, i.uid, i.gid]), [["x/a.txt", 0o640, 5, 6]]);
    // `..` is refused; a symlink resolves inside the context, so /etc is not reached.
    assert.throws(() => findSources(dir, "../etc/passwd", NO_IGNORE, "context"), ServinError);
    assert.throws(() => findSources(dir, "out/passwd", NO_IGNORE, "context"), /not found/);
    assert.equal(findSources(dir, "up/a.txt", NO_IGNORE, "context")[0]!.path, `${dir}/a.txt`);
    assert.throws(() => findSources(dir, "d/skip.log", ignore, "context"), /not found/);
    const h1 = await hashItems(items);
    await Deno.writeTextFile(`${dir}/d/c.txt`, "C");
    const h2 = await hashItems(
      planCopy(findSources(dir, "d", ignore, "context"), "/dst", { ignore }),
    );
    assert.notEqual(h1, h2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
