/**
 * The plugin registry: plugins are set up in dependency order and register
 * hook handlers and capabilities of each kind (platforms, storage, sources,
 * sinks, snapshotters, runtimes, commands, …) through one {@link PluginApi}.
 * Built-in features use the same API as third-party plugins; a kind's
 * implementation is chosen with one `get(kind, name)`.
 *
 * @module
 */

import type { Kind, KindLookup, KindMap } from "./api.ts";
import { type ErrorCode, isServinError, messageOf, ServinError } from "./errors.ts";
import type { HookMap, HookName, HookOrder, HookRunner, ParallelResult } from "./hooks.ts";

/** A plugin: a named object whose `setup` registers what it provides. */
export interface Plugin {
  /** Unique name, used in errors and by `dependencies`. */
  name: string;
  /** Names of plugins that must be set up first. */
  dependencies?: string[];
  /** Where the plugin came from (`builtin`, a path or URL); set by the loader. */
  source?: string;
  /** Registers hook handlers and capabilities. */
  setup(api: PluginApi): void | Promise<void>;
}

/** Options of {@link PluginApi.on}. */
export interface HookOptions {
  /** `pre` handlers run before `normal`, `post` after; ties keep registration order. */
  order?: HookOrder;
}

/** What a plugin's `setup` receives. */
export interface PluginApi {
  /** Name of the plugin being set up. */
  readonly plugin: string;
  /** Registers a handler for a hook. */
  on<K extends HookName>(hook: K, handler: HookMap[K], options?: HookOptions): void;
  /**
   * Registers an implementation of a kind under its name (a command under
   * each of its names); a name already taken in that kind is refused. The
   * first registered of a kind is its default.
   */
  provide<K extends Kind>(kind: K, implementation: KindMap[K]): void;
  /** Registers a function run when the registry is disposed (reverse order). */
  onDispose(fn: () => void | Promise<void>): void;
  /** Makes a typed error, for plugins that import Servin only with `import type`. */
  error(code: ErrorCode, message: string): ServinError;
}

/**
 * Declares a plugin with its types checked; returns it unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { definePlugin } from "./registry.ts";
 * const audit = definePlugin({
 *   name: "audit",
 *   setup(api) {
 *     api.on("image:commit:after", ({ image }) => console.log("stored", image.id));
 *   },
 * });
 * assert(audit.name === "audit");
 * ```
 */
export function definePlugin(plugin: Plugin): Plugin {
  return plugin;
}

interface Handler {
  plugin: string;
  rank: number;
  seq: number;
  fn: (payload: never) => unknown;
}

const RANK: Record<HookOrder, number> = { pre: 0, normal: 1, post: 2 };

/** What `servin plugin ls` shows of a plugin. */
export interface PluginDescription {
  /** Plugin name. */
  name: string;
  /** `builtin`, or the path or URL it was loaded from. */
  source: string;
  /** What it registered (`command image ls`, `hook image:commit:before`, …). */
  provides: string[];
}

/** The set of loaded plugins and everything they registered. */
export class Registry implements KindLookup, HookRunner {
  #handlers = new Map<HookName, Handler[]>();
  #disposers: { plugin: string; fn: () => void | Promise<void> }[] = [];
  #seq = 0;
  #provides = new Map<string, string[]>();
  #sources = new Map<string, string>();
  #kinds = new Map<Kind, { name: string; value: unknown }[]>();
  /** Names of the plugins, in setup order. */
  readonly plugins: string[] = [];

  /** Sorts `plugins` by dependency and sets each one up. */
  static async create(plugins: readonly Plugin[]): Promise<Registry> {
    const registry = new Registry();
    for (const plugin of sortPlugins(plugins)) {
      registry.#provides.set(plugin.name, []);
      registry.#sources.set(plugin.name, plugin.source ?? "builtin");
      try {
        await plugin.setup(registry.#api(plugin.name));
      } catch (err) {
        throw wrap(err, plugin.name, "while setting up");
      }
      registry.plugins.push(plugin.name);
    }
    return registry;
  }

  /** Each plugin, in setup order, with where it came from and what it registered. */
  describe(): PluginDescription[] {
    return this.plugins.map((name) => ({
      name,
      source: this.#sources.get(name) ?? "builtin",
      provides: [...(this.#provides.get(name) ?? [])],
    }));
  }

  #api(plugin: string): PluginApi {
    const note = (what: string) => this.#provides.get(plugin)?.push(what);
    const add = <K extends HookName>(hook: K, fn: HookMap[K], order: HookOrder = "normal") => {
      if (!(order in RANK)) {
        throw new ServinError("plugin", `unknown hook order "${order}"`);
      }
      const list = this.#handlers.get(hook) ?? [];
      list.push({ plugin, rank: RANK[order], seq: this.#seq++, fn: fn as Handler["fn"] });
      list.sort((a, b) => a.rank - b.rank || a.seq - b.seq);
      this.#handlers.set(hook, list);
    };
    return {
      plugin,
      on: (hook, handler, options) => {
        note(`hook ${hook}`);
        add(hook, handler, options?.order);
      },
      provide: (kind, implementation) => {
        const list = this.#kinds.get(kind) ?? [];
        const names = kind === "command"
          ? commandNames(implementation as KindMap["command"])
          : [(implementation as { name: string }).name];
        const taken = names.find((n) => list.some((e) => e.name === n));
        if (taken) throw new ServinError("plugin", `${kind} "${taken}" is already registered`);
        for (const name of names) list.push({ name, value: implementation });
        this.#kinds.set(kind, list);
        note(`${kind} ${names[0]}`);
      },
      onDispose: (fn) => {
        this.#disposers.push({ plugin, fn });
      },
      error: (code, message) => new ServinError(code, message),
    };
  }

  /** The implementation of `kind` named `name`, else the kind's default (the first registered). */
  get<K extends Kind>(kind: K, name?: string): KindMap[K] {
    const list = this.#kinds.get(kind) ?? [];
    const found = name === undefined ? list[0] : list.find((e) => e.name === name);
    if (found) return found.value as KindMap[K];
    if (name === undefined) throw new ServinError("unsupported", `No ${kind} plugin is loaded`);
    const known = [...new Set(list.map((e) => e.name))].join(", ") || "none";
    throw new ServinError("not-found", `Unknown ${kind} "${name}" (known: ${known})`);
  }

  /** Every implementation of `kind`, in registration order. */
  all<K extends Kind>(kind: K): KindMap[K][] {
    return [...new Set((this.#kinds.get(kind) ?? []).map((e) => e.value as KindMap[K]))];
  }

  /** Runs the handlers one after the other; the first error aborts, wrapped with the plugin's name. */
  async series<K extends HookName>(hook: K, payload: Parameters<HookMap[K]>[0]): Promise<void> {
    for (const h of this.#handlers.get(hook) ?? []) {
      try {
        await h.fn(payload as never);
      } catch (err) {
        throw wrap(err, h.plugin, `in ${hook}`);
      }
    }
  }

  /** Runs all handlers concurrently and collects their results and errors; never throws. */
  async parallel<K extends HookName>(
    hook: K,
    payload: Parameters<HookMap[K]>[0],
  ): Promise<ParallelResult<Awaited<ReturnType<HookMap[K]>>>> {
    const handlers = this.#handlers.get(hook) ?? [];
    const settled = await Promise.allSettled(
      handlers.map(async (h) => await h.fn(payload as never)),
    );
    const out: ParallelResult<Awaited<ReturnType<HookMap[K]>>> = { results: [], errors: [] };
    settled.forEach((s, i) => {
      if (s.status === "fulfilled") {
        out.results.push(s.value as Awaited<ReturnType<HookMap[K]>>);
      } else {
        out.errors.push(wrap(s.reason, handlers[i]?.plugin ?? "?", `in ${hook}`));
      }
    });
    return out;
  }

  /** Runs the disposers in reverse registration order; reports the first failure after running all. */
  async dispose(): Promise<void> {
    let first: ServinError | undefined;
    for (const d of this.#disposers.splice(0).reverse()) {
      try {
        await d.fn();
      } catch (err) {
        first ??= wrap(err, d.plugin, "while cleaning up");
      }
    }
    if (first) throw first;
  }
}

function commandNames(def: KindMap["command"]): string[] {
  return [def.name, ...(def.aliases ?? [])];
}

/** A plugin's failure as the user sees it: `plugin "NAME": message (where)`. */
function wrap(err: unknown, plugin: string, where: string): ServinError {
  const code = isServinError(err) ? err.code : "plugin";
  return new ServinError(code, `plugin "${plugin}": ${messageOf(err)} (${where})`, { cause: err });
}

/**
 * Orders plugins so that each comes after its dependencies, otherwise keeping
 * the given order. Duplicates, missing dependencies and cycles are errors
 * naming the plugin.
 */
export function sortPlugins(plugins: readonly Plugin[]): Plugin[] {
  const byName = new Map<string, Plugin>();
  for (const p of plugins) {
    if (!p || typeof p.name !== "string" || p.name === "" || typeof p.setup !== "function") {
      throw new ServinError(
        "plugin",
        "A plugin needs a name and a setup function (use definePlugin)",
      );
    }
    if (byName.has(p.name)) {
      throw new ServinError("plugin", `plugin "${p.name}": registered twice`);
    }
    byName.set(p.name, p);
  }
  for (const p of plugins) {
    for (const dep of p.dependencies ?? []) {
      if (!byName.has(dep)) {
        throw new ServinError(
          "plugin",
          `plugin "${p.name}": depends on "${dep}", which is not registered`,
        );
      }
    }
  }
  const placed = new Set<string>();
  const out: Plugin[] = [];
  while (out.length < plugins.length) {
    const next = plugins.find((p) =>
      !placed.has(p.name) && (p.dependencies ?? []).every((d) => placed.has(d))
    );
    if (!next) {
      const stuck = plugins.filter((p) => !placed.has(p.name));
      throw new ServinError("plugin", `Plugin dependency cycle: ${describeCycle(stuck)}`);
    }
    placed.add(next.name);
    out.push(next);
  }
  return out;
}

function describeCycle(stuck: Plugin[]): string {
  const byName = new Map(stuck.map((p) => [p.name, p]));
  const path: string[] = [];
  let current: Plugin | undefined = stuck[0];
  while (current && !path.includes(current.name)) {
    path.push(current.name);
    current = (current.dependencies ?? []).map((d) => byName.get(d)).find((p) => p);
  }
  if (current) path.push(current.name);
  return path.slice(path.indexOf(current?.name ?? "")).join(" -> ");
}
