/**
 * What the registration modules of the built-in services (images, trust,
 * ingest) share: the plugin named after the one service it provides, and
 * methods that import their work when first called, so that registering
 * costs no import of the code that does the work.
 *
 * @module
 */

import type { Kind, KindMap } from "../core/api.ts";
import { definePlugin, type Plugin, type PluginApi } from "../core/registry.ts";

/**
 * The plugin named `kind` that provides `implementation` as that kind; its
 * `setup` then runs `more`, for what else the plugin registers (hooks,
 * further kinds).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Ingester } from "../core/api.ts";
 * import { servicePlugin } from "./_lazy.ts";
 * const ingestPlugin = (pipeline: Ingester) => servicePlugin("ingest", pipeline);
 * assert(ingestPlugin({} as Ingester).name === "ingest");
 * ```
 */
export function servicePlugin<K extends Kind>(
  kind: K,
  implementation: KindMap[K],
  more?: (api: PluginApi) => void,
): Plugin {
  return definePlugin({
    name: kind,
    setup(api) {
      api.provide(kind, implementation);
      more?.(api);
    },
  });
}

type Method = (...args: never[]) => Promise<unknown>;

/**
 * The methods `names` of what `load` resolves to (a work module imported
 * with `import()`), each loading it on its first call and then calling the
 * method of that name with the same arguments.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lazyMethods } from "./_lazy.ts";
 * const work = () => Promise.resolve({ twice: (n: number) => Promise.resolve(2 * n) });
 * const { twice } = lazyMethods(work, ["twice"]);
 * assert(await twice(21) === 42);
 * ```
 */
export function lazyMethods<K extends string, M extends { [P in K]: Method }>(
  load: () => Promise<M>,
  names: readonly K[],
): Pick<M, K> {
  const methods = {} as Record<K, Method>;
  for (const name of names) {
    methods[name] = async (...args: never[]) => {
      const target = await load();
      return await target[name].apply(target, args);
    };
  }
  return methods as unknown as Pick<M, K>;
}
