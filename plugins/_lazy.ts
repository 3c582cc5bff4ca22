/**
 * Methods that import their work when first called: what the registration
 * modules of the plugins (images, trust) hand to `api.provide`, so that
 * registering costs no import of the code that does the work.
 *
 * @module
 */

type Method = (...args: never[]) => Promise<unknown>;

/**
 * The methods `names` of what `load` resolves to (a work module imported
 * with `import()`), each loading it on its first call and then calling the
 * method of that name with the same arguments.
 *
 * @example
 * ```ts
 * import { lazyMethods } from "./_lazy.ts";
 * const work = () => Promise.resolve({ twice: (n: number) => Promise.resolve(2 * n) });
 * const { twice } = lazyMethods(work, ["twice"]);
 * console.assert(await twice(21) === 42);
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
