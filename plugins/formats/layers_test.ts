import assert from "node:assert/strict";
import { join } from "node:path";
import { mergedTree } from "./layers.ts";
import { getxattr, mknod, setxattr } from "../platform/_libc.ts";

async function layer(root: string, name: string, files: string[]): Promise<string> {
  const dir = join(root, name);
  await Deno.mkdir(dir);
  for (const f of files) {
    if (f.endsWith("/")) await Deno.mkdir(join(dir, f), { recursive: true });
    else {
      await Deno.mkdir(join(dir, f, ".."), { recursive: true });
      await Deno.writeTextFile(join(dir, f), `${name}:${f}`);
    }
  }
  return dir;
}

const view = (layers: string[], xattr?: typeof getxattr) =>
  [...mergedTree(layers, xattr)].map((e) =>
    e.info.isDirectory ? `${e.rel}/` : `${e.rel}=${Deno.readTextFileSync(e.source)}`
  );

Deno.test("the merged view applies OCI whiteouts, opaque directories and replacements", async () => {
  const root = await Deno.makeTempDir();
  try {
    const l1 = await layer(root, "l1", ["a/x", "a/y", "b/z", "c", "d/keep", "e/deep/f"]);
    const l2 = await layer(root, "l2", [
      "a/.wh.x",
      ".wh.c",
      "d/.wh..wh..opq",
      "d/new",
      "b",
      "e/deep/g",
      ".wh.nothing-below",
    ]);
    assert.deepEqual(view([l1, l2]), [
      "/",
      "a/",
      "a/y=l1:a/y",
      "b=l2:b",
      "d/",
      "d/new=l2:d/new",
      "e/",
      "e/deep/",
      "e/deep/f=l1:e/deep/f",
      "e/deep/g=l2:e/deep/g",
    ]);
    const l3 = await layer(root, "l3", [".wh.e", "a/x"]);
    assert.deepEqual(view([l1, l2, l3]), [
      "/",
      "a/",
      "a/x=l3:a/x",
      "a/y=l1:a/y",
      "b=l2:b",
      "d/",
      "d/new=l2:d/new",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name: "the merged view reads overlayfs whiteouts (0:0 devices, opaque xattr)",
  ignore: Deno.uid() !== 0,
  async fn() {
    const root = await Deno.makeTempDir();
    try {
      const l1 = await layer(root, "l1", ["a/x", "a/y", "d/keep"]);
      const l2 = await layer(root, "l2", ["a/", "d/new"]);
      mknod(join(l2, "a/x"), 0o020000, 0, 0);
      setxattr(join(l2, "d"), "trusted.overlay.opaque", "y");
      assert.deepEqual(view([l1, l2], getxattr), ["/", "a/", "a/y=l1:a/y", "d/", "d/new=l2:d/new"]);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
