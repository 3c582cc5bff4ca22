/**
 * The `servin` command line: the one place that reads Servin's environment
 * (`SERVIN_ROOT`, `SERVIN_PLUGINS`, `SERVIN_SNAPSHOTTER`, `SERVIN_RUNTIME`,
 * `SERVIN_TIMEOUT`, `SERVIN_LOCK_TIMEOUT`, `SERVIN_PASSPHRASE`); it loads the built-in plugins and those named by
 * `--plugin`, `SERVIN_PLUGINS` and `<root>/config.json`, then dispatches argv.
 *
 * @module
 */

import { runCli } from "./plugins/commands/cli.ts";
import { builtinPlugins } from "./plugins/mod.ts";

if (import.meta.main) {
  const env = (name: string) => Deno.env.get(name) || undefined;
  const timeout = env("SERVIN_TIMEOUT");
  const seconds = timeout === undefined ? undefined : Number(timeout);
  const lockTimeout = env("SERVIN_LOCK_TIMEOUT");
  const lockSeconds = lockTimeout === undefined ? undefined : Number(lockTimeout);
  if (lockSeconds !== undefined && !(lockSeconds > 0 && Number.isFinite(lockSeconds))) {
    console.error("servin: SERVIN_LOCK_TIMEOUT must be a positive number of seconds");
    Deno.exit(1);
  }
  Deno.exit(
    await runCli(Deno.args, {
      plugins: builtinPlugins({
        storage: { lockTimeoutMs: lockSeconds === undefined ? undefined : lockSeconds * 1000 },
        registry: {
          timeout: seconds && seconds > 0 && Number.isFinite(seconds) ? seconds : undefined,
        },
      }),
      // deno.json is read only for `--version`: a module less for every other command.
      version: async () =>
        (await import("./deno.json", { with: { type: "json" } })).default.version,
      thirdParty: true,
      pluginModules: await pluginList(env("SERVIN_PLUGINS")),
      root: env("SERVIN_ROOT"),
      defaults: { snapshotter: env("SERVIN_SNAPSHOTTER"), runtime: env("SERVIN_RUNTIME") },
      timeout: timeout === undefined ? undefined : Number(timeout),
      passphrase: Deno.env.get("SERVIN_PASSPHRASE"),
    }),
  );
}

/** The modules `SERVIN_PLUGINS` names (the loader is imported only when it names some). */
async function pluginList(value: string | undefined): Promise<string[]> {
  if (!value) return [];
  const { splitPluginList } = await import("./plugins/commands/_plugin_loader.ts");
  return splitPluginList(value, Deno.build.os === "windows" ? ";" : ":");
}
