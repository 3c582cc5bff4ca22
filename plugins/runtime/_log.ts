/**
 * Container logs in conmon's `k8s-file` format, one line per output line:
 * `2024-05-01T10:00:00.123456789+00:00 stdout F text` (`P` for a partial
 * line, continued by the next entry). conmon writes it for detached
 * containers; foreground runs write the same here, so `logs` reads one
 * format whichever way the container ran.
 *
 * @module
 */

/** One log entry. */
export interface LogEntry {
  /** Time as written (RFC 3339 with nanoseconds). */
  time: string;
  /** Milliseconds since the epoch. */
  ms: number;
  /** `stdout` or `stderr`. */
  stream: "stdout" | "stderr";
  /** True when the line goes on in the next entry. */
  partial: boolean;
  /** The text, without its newline. */
  text: string;
}

/** An open log that output streams are copied into. */
export interface LogWriter {
  /** Copies `stream` into the log as `name` entries, and into `also` when given. */
  copy(
    name: "stdout" | "stderr",
    stream: ReadableStream<Uint8Array>,
    also?: { write(p: Uint8Array): Promise<number> },
  ): Promise<void>;
  /** Closes the file. */
  close(): void;
}

function timestamp(): string {
  const iso = new Date().toISOString(); // 2024-05-01T10:00:00.123Z
  return `${iso.slice(0, 23)}000000+00:00`;
}

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, bytes: Uint8Array) {
  for (let off = 0; off < bytes.length;) off += await w.write(bytes.subarray(off));
}

/** Opens `path` for appending entries. */
export async function openLog(path: string): Promise<LogWriter> {
  const file = await Deno.open(path, { write: true, create: true, append: true });
  const encoder = new TextEncoder();
  // Entries of the two streams are whole lines: one write each, never interleaved.
  let queue = Promise.resolve();
  const append = (text: string) => {
    queue = queue.then(() => writeAll(file, encoder.encode(text)));
    return queue;
  };
  return {
    async copy(name, stream, also) {
      const decoder = new TextDecoder();
      let pending = "";
      for await (const chunk of stream) {
        if (also) await writeAll(also, chunk);
        pending += decoder.decode(chunk, { stream: true });
        const lines = pending.split("\n");
        pending = lines.pop()!;
        let text = "";
        for (const line of lines) text += `${timestamp()} ${name} F ${line}\n`;
        if (text) await append(text);
      }
      pending += decoder.decode();
      if (pending) await append(`${timestamp()} ${name} P ${pending}\n`);
      await queue;
    },
    close() {
      file.close();
    },
  };
}

const ENTRY = /^(\S+) (stdout|stderr) ([FP]) ?(.*)$/;

/** Milliseconds of an RFC 3339 time with any number of fraction digits. */
export function timeMs(time: string): number {
  return Date.parse(time.replace(/(\.\d{3})\d+/, "$1"));
}

/**
 * The entries of log text (lines that are not entries are skipped).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseLog } from "./_log.ts";
 * const [e] = parseLog("2024-05-01T10:00:00.123456789+00:00 stderr F oops\n");
 * assert(e?.stream === "stderr" && e.text === "oops");
 * ```
 */
export function parseLog(text: string): LogEntry[] {
  const out: LogEntry[] = [];
  for (const line of text.split("\n")) {
    const m = ENTRY.exec(line);
    if (!m) continue;
    out.push({
      time: m[1]!,
      ms: timeMs(m[1]!),
      stream: m[2] as "stdout" | "stderr",
      partial: m[3] === "P",
      text: m[4]!,
    });
  }
  return out;
}
