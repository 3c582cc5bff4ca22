/**
 * A command plugin: `servin hello [NAME] [--shout]` greets and counts the
 * images in the store.
 *
 * Run: `servin --plugin examples/plugins/hello.ts hello world`
 *
 * @module
 */

import type { Plugin } from "../../plugin.ts";

export default {
  name: "hello",
  setup(api) {
    api.provide("command", {
      name: "hello",
      summary: "Say hello and count the images",
      usage: "[--shout] [NAME]",
      args: { max: 1 },
      flags: { shout: { type: "boolean", description: "Shout it" } },
      async run(ctx) {
        const servin = await ctx.servin();
        const count = (await servin.listImages()).length;
        const text = `Hello, ${ctx.args[0] ?? "world"}! This store holds ${count} image${
          count === 1 ? "" : "s"
        }.`;
        ctx.out(ctx.flags.shout ? text.toUpperCase() : text);
      },
    });
  },
} satisfies Plugin;
