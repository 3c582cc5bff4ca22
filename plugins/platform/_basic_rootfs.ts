/**
 * The fallback root filesystem, for when `run`/`create` name an image that
 * is not in the store. It holds the standard directories, `/etc/passwd`
 * (root, nobody), `/etc/group`, `/etc/hosts`, and a working shell: the
 * host's busybox with a link per applet when there is one, else the host's
 * `/bin/sh` with the shared libraries `ldd` says it needs.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { ServinError } from "../../core/errors.ts";
import { which } from "./_common.ts";

const DIRS = ["bin", "dev", "etc", "home", "proc", "root", "run", "sbin", "sys", "usr/bin", "var"];

/** Copies a host file into `root` at the same path (symlinks resolved), keeping its mode. */
async function copyIn(root: string, hostPath: string, as = hostPath): Promise<void> {
  const real = await Deno.realPath(hostPath);
  const target = join(root, as);
  await Deno.mkdir(dirname(target), { recursive: true });
  await Deno.copyFile(real, target);
  await Deno.chmod(target, (await Deno.stat(real)).mode! & 0o7777);
}

/** The shared libraries (and loader) a dynamic executable needs, by `ldd`; none for a static one. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const out = await new Deno.Command("ldd", { args: [binary], stdout: "piped", stderr: "null" })
    .output().catch(() => undefined);
  if (!out || out.code !== 0) return [];
  const libs: string[] = [];
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const m = line.match(/=>\s*(\/\S+)/) ?? line.match(/^\s*(\/\S+)\s+\(/);
    if (m?.[1]) libs.push(m[1]);
  }
  return libs;
}

/** Copies `binary` into `root` with every shared library it needs. */
async function copyWithLibraries(root: string, binary: string, as: string): Promise<void> {
  await copyIn(root, binary, as);
  for (const lib of await sharedLibraries(binary)) await copyIn(root, lib);
}

/** Builds the fallback rootfs into `dir`. */
export async function basicRootfs(dir: string): Promise<void> {
  for (const d of DIRS) await Deno.mkdir(join(dir, d), { recursive: true, mode: 0o755 });
  await Deno.mkdir(join(dir, "tmp"), { mode: 0o1777 });
  await Deno.chmod(join(dir, "tmp"), 0o1777);
  await Deno.chmod(join(dir, "root"), 0o700);
  const files: Record<string, string> = {
    "etc/passwd":
      "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    "etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
  };
  for (const [path, text] of Object.entries(files)) await Deno.writeTextFile(join(dir, path), text);

  const busybox = which("busybox");
  if (busybox) {
    await copyWithLibraries(dir, busybox, "/bin/busybox");
    const list = await new Deno.Command(busybox, { args: ["--list"], stdout: "piped" }).output();
    for (const applet of new TextDecoder().decode(list.stdout).split("\n")) {
      if (!/^[\w.[-]+$/.test(applet) || applet === "busybox") continue;
      await Deno.symlink("busybox", join(dir, "bin", applet)).catch(() => {});
    }
    return;
  }
  if (!which("sh") && !(await Deno.stat("/bin/sh").catch(() => undefined))) {
    throw new ServinError(
      "unsupported",
      "Cannot build a basic rootfs: the host has no busybox and no /bin/sh",
    );
  }
  await copyWithLibraries(dir, "/bin/sh", "/bin/sh");
}
