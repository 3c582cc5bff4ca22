/**
 * Questions on the terminal, as Docker asks them: `[y/N]` before a prune
 * (one line read from stdin, terminal or not; end of input is no), and the
 * user name and password of `login` (the password without echo).
 *
 * @module
 */

import type { CommandContext } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";

/** Longest answer read: a line longer than this is not an answer anyone typed. */
const MAX_LINE = 4096;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Writes `text` to stdout without a newline (a prompt waits on its line). */
function prompt(text: string): void {
  const bytes = encoder.encode(text);
  let off = 0;
  while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
}

/** One line from stdin, without its line end; undefined at end of input before any byte. */
async function readLine(): Promise<string | undefined> {
  const buf = new Uint8Array(1);
  const bytes: number[] = [];
  // Byte by byte, so that nothing after the line is taken from a terminal.
  while (bytes.length < MAX_LINE) {
    const n = await Deno.stdin.read(buf);
    if (n === null) return bytes.length ? decoder.decode(new Uint8Array(bytes)) : undefined;
    if (buf[0] === 0x0a) break;
    bytes.push(buf[0]!);
  }
  return decoder.decode(new Uint8Array(bytes)).replace(/\r$/, "");
}

/**
 * Prints `warning` and asks `Are you sure you want to continue? [y/N]`;
 * true only for `y` or `yes`. Nothing is asked with `-f`.
 */
export async function confirm(ctx: CommandContext, warning: string): Promise<boolean> {
  if (ctx.flags.force) return true;
  ctx.out(warning);
  prompt("Are you sure you want to continue? [y/N] ");
  const answer = await readLine();
  // At end of input the terminal's cursor still stands after the question.
  if (answer === undefined) prompt("\n");
  return /^(y|yes)$/i.test(answer?.trim() ?? "");
}

/** Asks for a line with `question` (echoed as typed). */
export async function ask(question: string): Promise<string> {
  prompt(question);
  const line = await readLine();
  if (line === undefined) {
    prompt("\n");
    throw new ServinError("invalid-argument", "No answer: end of input");
  }
  return line.trim();
}

/**
 * Asks for a secret with `question`, the terminal in raw mode so that
 * nothing typed is echoed; Backspace edits, Enter ends, Ctrl-C and Ctrl-D
 * give up.
 */
export async function askSecret(question: string): Promise<string> {
  const bytes: number[] = [];
  const buf = new Uint8Array(64);
  // Echo goes off before the question shows, so that nothing typed after it is echoed.
  Deno.stdin.setRaw(true);
  try {
    prompt(question);
    for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null) throw new ServinError("invalid-argument", "No password: end of input");
      for (const b of buf.subarray(0, n)) {
        if (b === 0x0d || b === 0x0a) return decoder.decode(new Uint8Array(bytes));
        if (b === 0x03) throw new ServinError("invalid-argument", "Login cancelled");
        if (b === 0x04 && bytes.length === 0) {
          throw new ServinError("invalid-argument", "No password: end of input");
        }
        if (b === 0x7f || b === 0x08) bytes.pop();
        else if (bytes.length >= MAX_LINE) {
          throw new ServinError("invalid-argument", "The password is too long");
        } else bytes.push(b);
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    prompt("\n");
  }
}
