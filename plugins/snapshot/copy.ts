/**
 * The `copy` snapshotter: materialises the image into `<bundle>/rootfs` by
 * copying the merged view of its layers (`_copy.ts`). Works everywhere;
 * mounting is a no-op. This module is set up on every start, so the copy
 * code is imported only when a container is created.
 *
 * @module
 */

import type { Snapshotter } from "../../core/kinds.ts";
import { definePlugin, type Plugin } from "../../core/registry.ts";

/** The copy snapshotter: a plain directory holding the merged layers; mounting is a no-op. */
export const copy: Snapshotter = {
  name: "copy",
  unavailable: () => undefined,
  async prepare(bundle, layers, platform) {
    const { copyLayers } = await import("./_copy.ts");
    const rootfs = `${bundle}/rootfs`;
    await Deno.mkdir(rootfs, { mode: 0o700 });
    await copyLayers(layers, rootfs, platform);
  },
  async diff(bundle, layers, platform, options) {
    const { diffLayer } = await import("./diff.ts");
    const dir = `${bundle}/rootfs`;
    return diffLayer({ kind: "copy", dir, bundle, layers, platform }, options);
  },
  mount: async () => {},
  unmount: async () => {},
};

/** The built-in copy snapshotter plugin. */
export function copySnapshotter(): Plugin {
  return definePlugin({
    name: "snapshot-copy",
    setup(api) {
      api.provide("snapshotter", copy);
    },
  });
}
