/**
 * The `servin` command line: load the built-in plugins and those named by
 * `--plugin`, `SERVIN_PLUGINS` and `<root>/config.json`, then dispatch argv.
 *
 * @module
 */

import deno from "./deno.json" with { type: "json" };
import { runCli } from "./core/cli.ts";
import { builtinPlugins } from "./plugins/mod.ts";

if (import.meta.main) {
  Deno.exit(
    await runCli(Deno.args, { plugins: builtinPlugins(), version: deno.version, thirdParty: true }),
  );
}
