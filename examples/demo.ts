/**
 * `deno task demo`: builds a tiny root filesystem tarball, imports it into a
 * throwaway Servin root, then lists, inspects, tags and removes it, printing
 * each command as a user would type it.
 *
 * @module
 */

import { join } from "node:path";
import { runCli } from "../plugins/commands/cli.ts";
import { builtinPlugins } from "../plugins/mod.ts";
import deno from "../deno.json" with { type: "json" };

const work = await Deno.makeTempDir({ prefix: "servin-demo-" });
try {
  const rootfs = join(work, "rootfs");
  await Deno.mkdir(join(rootfs, "bin"), { recursive: true });
  await Deno.mkdir(join(rootfs, "etc"), { recursive: true });
  await Deno.writeTextFile(join(rootfs, "etc", "os-release"), 'NAME="Servin demo"\n');
  await Deno.writeTextFile(join(rootfs, "bin", "hello"), "#!/bin/sh\necho hello from servin\n", {
    mode: 0o755,
  });
  const tarball = join(work, "demo-rootfs.tar.gz");
  const tar = await new Deno.Command("tar", { args: ["-C", rootfs, "-czf", tarball, "."] })
    .output();
  if (tar.code !== 0) throw new Error(`tar failed: ${new TextDecoder().decode(tar.stderr)}`);

  const root = join(work, "servin-root");
  const steps = [
    ["image", "import", "--label", "demo=yes", tarball, "demo:latest"],
    ["image", "ls"],
    ["image", "inspect", "demo"],
    ["image", "tag", "demo", "localhost:5000/demo:1.0"],
    ["image", "ls"],
    ["image", "rm", "demo:latest", "localhost:5000/demo:1.0"],
    ["image", "ls"],
  ];
  for (const args of steps) {
    console.log(`\n$ servin ${args.join(" ")}`);
    const code = await runCli(["--root", root, ...args], {
      plugins: builtinPlugins(),
      version: deno.version,
    });
    if (code !== 0) Deno.exit(code);
  }
  console.log(`\n(the demo used the throwaway root ${root}, now removed)`);
} finally {
  await Deno.remove(work, { recursive: true });
}
