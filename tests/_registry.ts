/**
 * Starts the real distribution registry (Debian's docker-registry) on
 * 127.0.0.1 for a test, with its storage under the test's directory.
 *
 * @module
 */

import { join } from "node:path";

/** A port on 127.0.0.1 that was free a moment ago. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A running docker-registry; `await using` stops it. */
export interface Registry extends AsyncDisposable {
  port: number;
  host: string;
  log: string;
  /** Stops it (again: nothing). */
  stop(): Promise<void>;
}

/** Starts docker-registry on 127.0.0.1 with `extra` config (YAML lines), waits until it answers. */
export async function startRegistry(
  dir: string,
  extra = "",
  scheme = "http",
  caFile?: string,
): Promise<Registry> {
  const port = freePort();
  const config = join(dir, `registry-${port}.yml`);
  await Deno.writeTextFile(
    config,
    `version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: ${join(dir, "registry-data")}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
${extra}`,
  );
  const log = join(dir, `registry-${port}.log`);
  const out = await Deno.open(log, { write: true, create: true });
  const child = new Deno.Command("docker-registry", {
    args: ["serve", config],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) await out.write(chunk);
  };
  // The access log goes to stdout: read both, or the registry dies of SIGPIPE.
  const copy = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const client = caFile
    ? Deno.createHttpClient({ caCerts: [await Deno.readTextFile(caFile)] })
    : undefined;
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`${scheme}://127.0.0.1:${port}/v2/`, client ? { client } : {});
      await r.body?.cancel();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  client?.close();
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
      await copy.catch(() => {});
      out.close();
    })();
  return {
    port,
    host: `127.0.0.1:${port}`,
    log,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
