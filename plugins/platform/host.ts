/**
 * The platform plugin of the host Servin runs on (`Deno.build.os`): Linux's
 * (also for any other OS but Windows and macOS, whose default it was when
 * all three were registered), else Windows' or macOS's, imported when the
 * plugin is set up: a host has no use for another's.
 *
 * @module
 */

import { definePlugin, type Plugin } from "../../core/registry.ts";
import { linux } from "./linux.ts";

/** The built-in platform plugin of this host (`platform-linux`, `-windows` or `-darwin`). */
export function hostPlatform(): Plugin {
  const os = Deno.build.os;
  if (os !== "windows" && os !== "darwin") return linux();
  return definePlugin({
    name: `platform-${os}`,
    async setup(api) {
      const plugin = os === "windows"
        ? (await import("./windows.ts")).windows()
        : (await import("./darwin.ts")).darwin();
      await plugin.setup(api);
    },
  });
}
