/**
 * The busybox images container tests run: a static busybox with an applet
 * link per command, a user and groups, and one image with a configured
 * environment, working directory, user and command.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ok, run, type RunResult, withTempDir } from "./_cli.ts";
import { pathOf } from "./_layout.ts";

/** A busybox image: static busybox, an applet link per command, a user and groups. */
export async function busyboxImage(dir: string, root: string): Promise<void> {
  const tree = join(dir, "bb");
  for (const d of ["bin", "etc", "tmp", "srv", "home/alice"]) {
    await Deno.mkdir(join(tree, d), { recursive: true });
  }
  await Deno.copyFile(await Deno.realPath(pathOf("busybox")), join(tree, "bin", "busybox"));
  const applets = [
    "sh",
    "echo",
    "cat",
    "ls",
    "id",
    "pwd",
    "sleep",
    "hostname",
    "env",
    "test",
    "kill",
    "true",
  ];
  for (const applet of [...applets, "grep", "mkdir", "mount", "unshare"]) {
    await Deno.symlink("busybox", join(tree, "bin", applet));
  }
  await Deno.writeTextFile(
    join(tree, "etc", "passwd"),
    "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n",
  );
  await Deno.writeTextFile(
    join(tree, "etc", "group"),
    "root:x:0:\nalice:x:1000:\nstaff:x:50:alice\n",
  );
  await Deno.writeTextFile(join(tree, "etc", "image-file"), "from the image\n");
  const tarball = join(dir, "busybox.tar.gz");
  const tar = await new Deno.Command("tar", { args: ["-C", tree, "-czf", tarball, "."] }).output();
  assert.equal(tar.code, 0);
  await ok(root, ["image", "import", tarball, "busybox:test"]);
  await ok(root, [
    "image",
    "import",
    "--env",
    "GREETING=hello from the image",
    "--workdir",
    "/srv",
    "--user",
    "alice",
    "--cmd",
    '["sh", "-c", "echo $GREETING; pwd; id"]',
    tarball,
    "configured:test",
  ]);
}

/** `servin run --rm FLAGS IMAGE sh -c SCRIPT` in `root` (busybox:test by default): its result. */
export function runSh(
  root: string,
  flags: string[],
  script: string,
  image = "busybox:test",
): Promise<RunResult> {
  return run(root, ["run", "--rm", ...flags, image, "sh", "-c", script]);
}

export function mountsUnder(root: string): string[] {
  return Deno.readTextFileSync("/proc/self/mounts").split("\n").filter((l) => l.includes(root));
}

/** A test named `name` of {@linkcode withImage}'s `fn`; `ignore`: skipped (its file says why). */
export function imageTest(
  name: string,
  ignore: boolean,
  fn: (root: string, dir: string) => Promise<void>,
): void {
  Deno.test({ name, ignore, fn: withImage(fn) });
}

/** A test function: `fn` runs with the busybox images in a fresh root, whose containers go after. */
export function withImage(
  fn: (root: string, dir: string) => Promise<void>,
): (t: Deno.TestContext) => Promise<void> {
  return withTempDir(async ({ dir, root }) => {
    try {
      await busyboxImage(dir, root);
      await fn(root, dir);
    } finally {
      // Whatever a failed test left running goes too: no runc container outlives a test.
      const ids = (await run(root, ["ps", "-aq", "--no-trunc"])).stdout.trim().split("\n");
      for (const id of ids.filter(Boolean)) await run(root, ["rm", "-f", id]);
    }
  });
}
