/**
 * A RUN step: a container of the current image on the OCI runtime, with the
 * stage's environment, user, working directory and the build's network; its
 * output streamed line by line from its log while it runs; on success its
 * change against the image (the container's diff) becomes the step's layer.
 * The container is removed whatever happens.
 *
 * @module
 */

import type { Servin } from "../../core/api.ts";
import { parseLog } from "../runtime/_log.ts";

/** What {@link runStep} runs. */
export interface RunStepOptions {
  /** Image ID to run. */
  image: string;
  /** Command and arguments (the shell already applied). */
  argv: string[];
  /** Environment, `KEY=value`. */
  env: string[];
  /** Working directory. */
  workdir: string;
  /** User. */
  user: string;
  /** Network. */
  network?: string;
  /** Receives each output line, with the seconds since the step started. */
  output(line: string, at: number): void;
  /** Stores the step: called with the layer on success, before the container goes. */
  commit(layer: ReadableStream<Uint8Array>): Promise<void>;
  /** Latest file time of the layer, seconds. */
  clampMtime?: number;
  /** Kills the step's process (SIGKILL, as Docker cancels a step) when aborted. */
  signal?: AbortSignal;
}

/** Polls `path` for new log entries until `done` resolves, then reads the rest. */
async function follow(
  path: string,
  done: Promise<unknown>,
  emit: (line: string) => void,
): Promise<void> {
  let offset = 0;
  let pending = "";
  let partial = "";
  let finished = false;
  done.finally(() => finished = true).catch(() => {});
  const decoder = new TextDecoder();
  for (;;) {
    const last = finished;
    try {
      const f = await Deno.open(path);
      try {
        await f.seek(offset, Deno.SeekMode.Start);
        const buf = new Uint8Array(64 * 1024);
        for (;;) {
          const n = await f.read(buf);
          if (n === null || n === 0) break;
          offset += n;
          pending += decoder.decode(buf.subarray(0, n), { stream: true });
        }
      } finally {
        f.close();
      }
    } catch {
      // Not written yet.
    }
    const cut = pending.lastIndexOf("\n");
    if (cut >= 0) {
      for (const e of parseLog(pending.slice(0, cut + 1))) {
        partial += e.text;
        if (!e.partial) {
          emit(partial);
          partial = "";
        }
      }
      pending = pending.slice(cut + 1);
    }
    if (last) break;
    await Promise.race([done.catch(() => {}), new Promise((r) => setTimeout(r, 100))]);
  }
  if (partial) emit(partial);
}

/** Runs the step; resolves with the process's exit code (its layer committed when 0). */
export async function runStep(servin: Servin, options: RunStepOptions): Promise<number> {
  const started = performance.now();
  const container = await servin.containers.create(options.image, {
    command: options.argv,
    entrypoint: [],
    env: options.env,
    workdir: options.workdir,
    user: options.user,
    network: options.network,
    noFallback: true,
    labels: { "io.servin.build": "run" },
  });
  try {
    const log = await servin.containers.logPath(container.id);
    const done = servin.containers.start(container.id, { tee: false });
    const kill = () => servin.containers.kill(container.id, "SIGKILL").catch(() => {});
    options.signal?.addEventListener("abort", kill, { once: true });
    done.finally(() => options.signal?.removeEventListener("abort", kill)).catch(() => {});
    await follow(log, done, (line) => options.output(line, (performance.now() - started) / 1000));
    const code = await done;
    if (code !== 0) return code;
    await options.commit(
      await servin.containers.diff(container.id, { clampMtime: options.clampMtime }),
    );
    return 0;
  } finally {
    await servin.containers.remove(container.id, { force: true }).catch(() => {});
  }
}
