/**
 * Registries: `image pull`, `image push`, `login` and `logout`, with the
 * connection flags they share.
 *
 * @module
 */

import type { CommandContext } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import type { RegistryOptions } from "../../core/kinds.ts";
import { interruptible } from "./_interrupt.ts";
import { withProgress } from "./_progress.ts";

function registryOptions(ctx: CommandContext): RegistryOptions {
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
  const servin = await ctx.servin();
  const image = await interruptible(
    ctx,
    () =>
      withProgress(ctx, "Pulling", (onProgress) =>
        servin.pullImage(ctx.args[0]!, {
          ...options,
          platform: ctx.flags.platform as string | undefined,
          onProgress,
        })),
  );
  ctx.out(
    ctx.flags.quiet
      ? `sha256:${image.id}`
      : `Pulled ${image.repo_tags.at(-1) ?? ctx.args[0]}: sha256:${image.id}`,
  );
}

/** `servin image push IMAGE [DESTINATION]`: prints the manifest digest. */
export async function pushImage(ctx: CommandContext): Promise<void> {
  const options = registryOptions(ctx);
  const servin = await ctx.servin();
  const digest = await interruptible(ctx, () =>
    withProgress(
      ctx,
      "Pushing",
      (onProgress) => servin.pushImage(ctx.args[0]!, ctx.args[1], { ...options, onProgress }),
    ));
  ctx.out(`digest: ${digest}`);
}

/** `servin login -u USER --password-stdin REGISTRY`. */
export async function login(ctx: CommandContext): Promise<void> {
  const options = registryOptions(ctx);
  const username = ctx.flags.username as string | undefined;
  if (!username) throw new ServinError("invalid-argument", "Give the user name with -u USER");
  if (!ctx.flags["password-stdin"]) {
    throw new ServinError("invalid-argument", "Give the password on stdin with --password-stdin");
  }
  const password = (await new Response(Deno.stdin.readable).text()).replace(/\r?\n$/, "");
  if (!password) throw new ServinError("invalid-argument", "The password on stdin is empty");
  await (await ctx.servin()).login(ctx.args[0]!, { username, password }, options);
  ctx.out("Login Succeeded!");
}

/** `servin logout REGISTRY`. */
export async function logout(ctx: CommandContext): Promise<void> {
  const removed = await (await ctx.servin()).logout(ctx.args[0]!);
  ctx.out(
    removed ? `Removed login credentials for ${ctx.args[0]}` : `Not logged in to ${ctx.args[0]}`,
  );
}
