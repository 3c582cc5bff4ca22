/**
 * A hook plugin that enforces a policy on every image brought into the
 * store (import, load, pull): each is labelled with who imported it and when, and an image whose processes
 * would run as root is refused unless `SERVIN_ALLOW_ROOT=1`.
 *
 * Run: `servin --plugin examples/plugins/policy.ts image import --user 1000 rootfs.tar app`
 *
 * @module
 */

import type { Plugin } from "../../plugin.ts";

export default {
  name: "policy",
  setup(api) {
    // Whatever verb brings the image in (import, load, pull, build), before anything is stored.
    api.on("image:commit:before", ({ config }) => {
      const user = config.user || "root";
      if (/^(root|0)(:|$)/.test(user) && Deno.env.get("SERVIN_ALLOW_ROOT") !== "1") {
        throw api.error(
          "vetoed",
          "images must not run as root: give --user, or set SERVIN_ALLOW_ROOT=1",
        );
      }
      config.labels["org.servin.imported-by"] = Deno.env.get("USER") ?? `uid ${Deno.uid()}`;
    });
  },
} satisfies Plugin;
