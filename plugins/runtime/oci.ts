/**
 * OCI runtimes: `runc` and `crun`, found on PATH, driven through their CLI.
 * A container runs in the foreground of the calling process, which forwards
 * SIGTERM and SIGHUP to it and outlives Ctrl-C (the runtime, in the same
 * process group, passes that on itself). Set up on every start, so the spec
 * builder is imported only when a bundle is written.
 *
 * @module
 */

import { ServinError } from "../../core/errors.ts";
import type { ContainerRuntime, RunStdio, RuntimeContainer } from "../../core/kinds.ts";
import { definePlugin, type Plugin } from "../../core/registry.ts";
import { which } from "../platform/_common.ts";

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

async function quiet(bin: string, args: string[]): Promise<void> {
  await new Deno.Command(bin, { args, stdin: "null", stdout: "null", stderr: "null" }).output();
}

/** Copies `stream` into `log` chunk by chunk (`pipeTo` on a file's writable holds data back). */
async function appendTo(log: Deno.FsFile, stream: ReadableStream<Uint8Array>): Promise<void> {
  for await (const chunk of stream) {
    for (let off = 0; off < chunk.length;) off += await log.write(chunk.subarray(off));
  }
}

/** A runtime driven through the `runc` command-line interface (which crun shares). */
export function ociRuntime(name: string): ContainerRuntime {
  const bin = () => which(name);
  return {
    name,
    find: bin,
    async writeBundle(c) {
      const [{ CAPABILITIES, runtimeSpec }, { seccompFor }] = await Promise.all([
        import("./spec.ts"),
        import("./seccomp.ts"),
      ]);
      // Written once, at create: the filter is the profile as it was then, as in Docker.
      const seccomp = await seccompFor(c.security_opt ?? [], CAPABILITIES);
      const text = JSON.stringify(runtimeSpec(c, undefined, seccomp), null, 2);
      await Deno.writeTextFile(`${c.bundle}/config.json`, text);
    },
    async run(c: RuntimeContainer, stdio: RunStdio): Promise<number> {
      const path = bin();
      if (!path) throw new ServinError("unsupported", `${name} is not installed`);
      const toLog = stdio.output !== "inherit";
      const child = new Deno.Command(path, {
        args: ["run", "--bundle", c.bundle, c.id],
        stdin: stdio.stdin,
        stdout: toLog ? "piped" : "inherit",
        stderr: toLog ? "piped" : "inherit",
      }).spawn();
      const forward = (signal: Deno.Signal) => () => {
        try {
          child.kill(signal);
        } catch { /* already gone */ }
      };
      const handlers: [Deno.Signal, () => void][] = [
        ["SIGTERM", forward("SIGTERM")],
        ["SIGHUP", forward("SIGHUP")],
        ["SIGINT", () => {}],
      ];
      for (const [sig, fn] of handlers) Deno.addSignalListener(sig, fn);
      try {
        if (stdio.output !== "inherit") {
          const log = await Deno.open(stdio.output.log, {
            write: true,
            create: true,
            append: true,
          });
          try {
            await Promise.all([appendTo(log, child.stdout!), appendTo(log, child.stderr!)]);
          } finally {
            log.close();
          }
        }
        const status = await child.status;
        return status.signal ? 128 + (SIGNALS[status.signal] ?? 0) : status.code;
      } finally {
        for (const [sig, fn] of handlers) Deno.removeSignalListener(sig, fn);
      }
    },
    async kill(id, signal) {
      const path = bin();
      if (path) await quiet(path, ["kill", id, signal]);
    },
    async delete(id) {
      const path = bin();
      if (path) await quiet(path, ["delete", "--force", id]);
    },
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
