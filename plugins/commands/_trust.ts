/**
 * `key generate`, `image sign` and `image verify`: passphrases (a file, the
 * environment, or a prompt that does not echo), key files, and output.
 *
 * @module
 */

import type { CommandContext } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import { readText } from "../storage/fs.ts";
import { formatFlag } from "./_each.ts";
import { registryOptions } from "./_image_registry.ts";

/** A file the user named, such as a key: `Cannot read the private key FILE: …` when it fails. */
async function readFile(path: string, what: string): Promise<string> {
  return await readText(path, `${what} ${path}`);
}

/** Reads a line from the terminal without echoing it. */
async function prompt(ctx: CommandContext, question: string): Promise<string> {
  ctx.errRaw(question);
  Deno.stdin.setRaw(true);
  const bytes: number[] = [];
  const buf = new Uint8Array(1);
  try {
    // Bounded: a passphrase longer than 4 KiB is cut there.
    while (bytes.length < 4096) {
      const n = await Deno.stdin.read(buf);
      if (n === null || buf[0] === 0x0d || buf[0] === 0x0a) break;
      if (buf[0] === 0x03) throw new ServinError("invalid-argument", "Interrupted");
      if (buf[0] === 0x7f || buf[0] === 0x08) bytes.pop();
      else bytes.push(buf[0]!);
    }
  } finally {
    Deno.stdin.setRaw(false);
    ctx.errRaw("\n");
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** The passphrase: `--passphrase-file` (one trailing newline dropped), `SERVIN_PASSPHRASE`, or a prompt. */
async function passphrase(ctx: CommandContext, confirm: boolean): Promise<string> {
  const file = ctx.flags["passphrase-file"] as string | undefined;
  if (file !== undefined) {
    return (await readFile(file, "the passphrase file")).replace(/\r?\n$/, "");
  }
  if (ctx.passphrase !== undefined) return ctx.passphrase;
  if (!Deno.stdin.isTerminal()) {
    throw new ServinError(
      "invalid-argument",
      "No passphrase: use --passphrase-file FILE or SERVIN_PASSPHRASE (no terminal to ask on)",
    );
  }
  const first = await prompt(ctx, "Enter passphrase for the private key: ");
  if (confirm && await prompt(ctx, "Enter it again: ") !== first) {
    throw new ServinError("invalid-argument", "The passphrases do not match");
  }
  return first;
}

function needKey(ctx: CommandContext): string {
  const key = ctx.flags.key as string | undefined;
  if (!key) throw new ServinError("invalid-argument", "Give the key with --key FILE");
  return key;
}

/** `servin key generate [--output-key-prefix PREFIX]`: writes PREFIX.key (0600) and PREFIX.pub. */
export async function generateKeys(ctx: CommandContext): Promise<void> {
  const prefix = (ctx.flags["output-key-prefix"] as string | undefined) ?? "servin";
  const { generateKeyPair } = await import("../trust/mod.ts");
  const pair = await generateKeyPair(await passphrase(ctx, true));
  for (
    const [path, text, mode] of [
      [`${prefix}.key`, pair.privateKey, 0o600],
      [`${prefix}.pub`, pair.publicKey, 0o644],
    ] as const
  ) {
    try {
      // createNew: an existing key is never overwritten.
      await Deno.writeTextFile(path, text, { createNew: true, mode });
    } catch (err) {
      if (err instanceof Deno.errors.AlreadyExists) {
        throw new ServinError("already-exists", `Cannot write ${path}: it exists`);
      }
      throw err;
    }
  }
  ctx.out(`Private key written to ${prefix}.key`);
  ctx.out(`Public key written to ${prefix}.pub`);
}

/** `servin image sign --key PREFIX.key REF`: prints the digest signed. */
export async function signImage(ctx: CommandContext): Promise<void> {
  const key = await readFile(needKey(ctx), "the private key");
  const options = registryOptions(ctx);
  const secret = await passphrase(ctx, false);
  const servin = await ctx.servin();
  const digest = await servin.sign(ctx.args[0]!, {
    ...options,
    key,
    passphrase: secret,
    identity: ctx.flags["sign-identity"] as string | undefined,
  });
  ctx.out(`Signed ${ctx.args[0]} (${digest})`);
}

/** `servin image verify --key PREFIX.pub IMAGE`: exit 0 with a summary, or 1 naming why not. */
export async function verifyImage(ctx: CommandContext): Promise<void> {
  const format = formatFlag(ctx, ["text", "json"]);
  const key = await readFile(needKey(ctx), "the public key");
  const servin = await ctx.servin();
  const verified = await servin.verify(ctx.args[0]!, {
    ...registryOptions(ctx),
    key,
    identity: ctx.flags.identity as string | undefined,
  });
  if (format === "json") {
    ctx.out(JSON.stringify(verified.map((v) => v.payload), null, 2));
    return;
  }
  const ids = [...new Set(verified.map((v) => v.identity))].join(", ");
  ctx.out(
    `Verified ${ctx.args[0]} (${verified[0]!.digest}): ${verified.length} valid signature${
      verified.length === 1 ? "" : "s"
    } for ${ids}`,
  );
}
