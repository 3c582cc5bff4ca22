/**
 * OCI runtimes: `runc` and `crun`, found on PATH, driven through their CLI
 * (which they share). A foreground container runs under the calling
 * process, which forwards SIGTERM and SIGHUP to it; a detached one runs
 * under conmon. Set up on every start, so the work (`_oci.ts`, the spec
 * builder) is imported only when a container is written or run.
 *
 * @module
 */

import type { ContainerRuntime } from "../../core/kinds.ts";
import { definePlugin, type Plugin } from "../../core/registry.ts";
import { which } from "../platform/_common.ts";

const work = () => import("./_oci.ts");

/** A runtime driven through the `runc` command-line interface (which crun shares). */
export function ociRuntime(name: string): ContainerRuntime {
  const quiet = async (args: string[]) => {
    const path = which(name);
    if (path) {
      await new Deno.Command(path, { args, stdin: "null", stdout: "null", stderr: "null" })
        .output();
    }
  };
  return {
    name,
    find: () => which(name),
    writeBundle: async (c) => await (await work()).writeBundle(c),
    run: async (c, stdio) => await (await work()).run(name, c, stdio),
    kill: async (id, signal) => await quiet(["kill", id, signal]),
    delete: async (id) => {
      await quiet(["delete", "--force", id]);
      await (await work()).forgetSockets(id);
    },
    state: async (id) => await (await work()).state(name, id),
    supervise: async (c, options) => await (await work()).supervise(name, c, options),
    exitCode: async (c) => await (await work()).exitCode(c),
    supervised: async (c) => await (await work()).supervisorAlive(c),
    exec: async (c, process, stdio) =>
      await (await work()).exec(name, c.bundle, c.id, process, stdio),
    pause: async (id, paused) => {
      const doing = `${paused ? "pause" : "unpause"} container ${id.slice(0, 12)}`;
      await (await work()).command(name, [paused ? "pause" : "resume", id], doing);
    },
    top: async (id, psArgs) =>
      await (await work()).command(name, ["ps", id, ...psArgs], "list the container's processes"),
  };
}

/** The built-in runtimes plugin: runc, then crun. */
export function ociRuntimes(): Plugin {
  return definePlugin({
    name: "runtime-oci",
    setup(api) {
      api.provide("runtime", ociRuntime("runc"));
      api.provide("runtime", ociRuntime("crun"));
    },
  });
}
