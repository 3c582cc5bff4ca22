/**
 * Registries: `image pull`, `image push`, `login` and `logout`, with the
 * connection flags they share.
 *
 * @module
 */

import type { CommandContext, PushOptions } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import type { RegistryOptions } from "../../core/kinds.ts";
import { stagingWork } from "./_progress.ts";

/** The connection flags `--tls-verify` and `--cert-dir`. */
export function registryOptions(ctx: CommandContext): RegistryOptions {
  const verify = ctx.flags["tls-verify"] as string | undefined;
  if (verify !== undefined && verify !== "true" && verify !== "false") {
    throw new ServinError(
      "invalid-argument",
      `Invalid --tls-verify "${verify}": use true or false`,
    );
  }
  return {
    tlsVerify: verify === undefined ? undefined : verify === "true",
    certDir: ctx.flags["cert-dir"] as string | undefined,
  };
}

/** `servin image pull NAME`. */
export async function pullImage(ctx: CommandContext): Promise<void> {
  const options = registryOptions(ctx);
  const image = await stagingWork(
    ctx,
    "Pulling",
    (servin, onProgress) =>
      servin.pullImage(ctx.args[0]!, {
        ...options,
        platform: ctx.flags.platform as string | undefined,
        onProgress,
      }),
  );
  ctx.out(
    ctx.flags.quiet
      ? `sha256:${image.id}`
      : `Pulled ${image.repo_tags.at(-1) ?? ctx.args[0]}: sha256:${image.id}`,
  );
}

/** `--compression-format` and `--force-compression`, as podman reads them. */
function compressionOptions(ctx: CommandContext): PushOptions {
  const format = ctx.flags["compression-format"] as string | undefined;
  if (format !== undefined && format !== "gzip" && format !== "zstd" && format !== "none") {
    throw new ServinError(
      "invalid-argument",
      `Invalid --compression-format "${format}": use gzip, zstd or none`,
    );
  }
  const force = ctx.flags["force-compression"] as boolean | undefined;
  return { compressionFormat: format, forceCompression: force };
}

/** `servin image push IMAGE [DESTINATION]`: prints the manifest digest. */
export async function pushImage(ctx: CommandContext): Promise<void> {
  const options = { ...registryOptions(ctx), ...compressionOptions(ctx) };
  const digest = await stagingWork(
    ctx,
    "Pushing",
    (servin, onProgress) => servin.pushImage(ctx.args[0]!, ctx.args[1], { ...options, onProgress }),
  );
  ctx.out(`digest: ${digest}`);
}

/**
 * The credentials of `login`, as Docker takes them: `-u` and `-p` (with a
 * warning), `--password-stdin`, or on a terminal asked for what is missing
 * (the password without echo).
 */
async function credentials(ctx: CommandContext): Promise<{ username: string; password: string }> {
  const flag = ctx.flags.password as string | undefined;
  const fromStdin = Boolean(ctx.flags["password-stdin"]);
  let username = ctx.flags.username as string | undefined;
  if (flag !== undefined && fromStdin) {
    throw new ServinError(
      "invalid-argument",
      "--password and --password-stdin are mutually exclusive",
    );
  }
  if (flag !== undefined) {
    ctx.err("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
  }
  if (fromStdin) {
    if (!username) {
      throw new ServinError("invalid-argument", "Must provide --username with --password-stdin");
    }
    const password = (await new Response(Deno.stdin.readable).text()).replace(/\r?\n$/, "");
    if (!password) throw new ServinError("invalid-argument", "The password on stdin is empty");
    return { username, password };
  }
  const terminal = Deno.stdin.isTerminal();
  if ((!username || flag === undefined) && !terminal) {
    throw new ServinError(
      "invalid-argument",
      "Cannot ask for credentials without a terminal: give -u USER and --password-stdin",
    );
  }
  const { ask, askSecret } = await import("./_prompt.ts");
  username ||= await ask("Username: ");
  if (!username) throw new ServinError("invalid-argument", "The user name is empty");
  const password = flag ?? await askSecret("Password: ");
  if (!password) throw new ServinError("invalid-argument", "The password is empty");
  return { username, password };
}

/** `servin login [-u USER] [-p PASSWORD | --password-stdin] REGISTRY`. */
export async function login(ctx: CommandContext): Promise<void> {
  const options = registryOptions(ctx);
  const creds = await credentials(ctx);
  await (await ctx.servin()).login(ctx.args[0]!, creds, options);
  ctx.out("Login Succeeded!");
}

/** `servin logout REGISTRY`. */
export async function logout(ctx: CommandContext): Promise<void> {
  const removed = await (await ctx.servin()).logout(ctx.args[0]!);
  ctx.out(
    removed ? `Removed login credentials for ${ctx.args[0]}` : `Not logged in to ${ctx.args[0]}`,
  );
}
