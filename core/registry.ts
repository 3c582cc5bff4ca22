/**
 * The plugin registry: plugins are set up in dependency order and register
 * hook handlers and capabilities (commands, storage backends, platforms,
 * image sources) through one {@link PluginApi}. Built-in features use the same
 * API as third-party plugins.
 *
 * @module
 */

import type { CommandDef } from "./cli.ts";
import { type ErrorCode, isServinError, messageOf, ServinError } from "./errors.ts";
import type { HookMap, HookName, HookOrder } from "./hooks.ts";
import type {
  ContainerRuntime,
  ImageSink,
  ImageSource,
  Platform,
  Snapshotter,
  StorageBackend,
} from "./kinds.ts";

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
  /** Registers a CLI command. */
  command(def: CommandDef): void;
  /** Registers a storage backend. */
  storage(backend: StorageBackend): void;
  /** Registers a platform; it is chosen when its name is the host's OS. */
  platform(platform: Platform): void;
  /** Registers an image source; it is asked, in order, whether it understands an input. */
  source(source: ImageSource): void;
  /** Registers an output format for `save` and `export`. */
  sink(sink: ImageSink): void;
  /** Registers a snapshotter; without a choice, the first available one is used. */
  snapshotter(snapshotter: Snapshotter): void;
  /** Registers an OCI runtime; without a choice, the first installed one is used. */
  runtime(runtime: ContainerRuntime): void;
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
 * import { definePlugin } from "./registry.ts";
 * const audit = definePlugin({
 *   name: "audit",
 *   setup(api) {
 *     api.on("image:import:after", ({ image }) => console.log("imported", image.id));
 *   },
 * });
 * console.assert(audit.name === "audit");
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
  /** What it registered (`command image ls`, `hook image:import:before`, …). */
  provides: string[];
}

/** Results of a parallel hook run: what each handler returned, and what failed. */
export interface ParallelResult<T> {
  /** Returned values of the handlers that succeeded. */
  results: T[];
  /** Errors of the handlers that failed, wrapped with the plugin's name. */
  errors: ServinError[];
}

/** The set of loaded plugins and everything they registered. */
export class Registry {
  #handlers = new Map<HookName, Handler[]>();
  #disposers: { plugin: string; fn: () => void | Promise<void> }[] = [];
  #seq = 0;
  #provides = new Map<string, string[]>();
  #sources = new Map<string, string>();
  /** Names of the plugins, in setup order. */
  readonly plugins: string[] = [];
  /** Registered commands. */
  readonly commands: CommandDef[] = [];
  /** Registered storage backends, by name. */
  readonly storages = new Map<string, StorageBackend>();
  /** Registered platforms. */
  readonly platforms: Platform[] = [];
  /** Registered image sources, in registration order. */
  readonly sources: ImageSource[] = [];
  /** Registered output formats, by name. */
  readonly sinks = new Map<string, ImageSink>();
  /** Registered snapshotters, in registration order. */
  readonly snapshotters: Snapshotter[] = [];
  /** Registered OCI runtimes, in registration order. */
  readonly runtimes: ContainerRuntime[] = [];

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
      command: (def) => {
        const taken = names(def).find((n) => this.commands.some((c) => names(c).includes(n)));
        if (taken) throw new ServinError("plugin", `command "${taken}" is already registered`);
        this.commands.push(def);
        note(`command ${def.name}`);
      },
      storage: (backend) => {
        this.storages.set(backend.name, backend);
        note(`storage ${backend.name}`);
      },
      platform: (platform) => {
        this.platforms.push(platform);
        note(`platform ${platform.name}`);
        add("platform:detect", ({ os }) => os === platform.name ? platform : undefined);
      },
      source: (source) => {
        this.sources.push(source);
        note(`source ${source.name}`);
        add("source:detect", (probe) => source.detect(probe) ? source : undefined);
      },
      sink: (sink) => {
        this.sinks.set(sink.name, sink);
        note(`format ${sink.name}`);
      },
      snapshotter: (snapshotter) => {
        this.snapshotters.push(snapshotter);
        note(`snapshotter ${snapshotter.name}`);
      },
      runtime: (runtime) => {
        this.runtimes.push(runtime);
        note(`runtime ${runtime.name}`);
      },
      onDispose: (fn) => {
        this.#disposers.push({ plugin, fn });
      },
      error: (code, message) => new ServinError(code, message),
    };
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

  /** Runs handlers in order until one returns something other than `undefined`. */
  async first<K extends HookName>(
    hook: K,
    payload: Parameters<HookMap[K]>[0],
  ): Promise<Awaited<ReturnType<HookMap[K]>> | undefined> {
    for (const h of this.#handlers.get(hook) ?? []) {
      let result: unknown;
      try {
        result = await h.fn(payload as never);
      } catch (err) {
        throw wrap(err, h.plugin, `in ${hook}`);
      }
      if (result !== undefined) return result as Awaited<ReturnType<HookMap[K]>>;
    }
    return undefined;
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

function names(def: CommandDef): string[] {
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
  let current = stuck[0];
  while (current && !path.includes(current.name)) {
    path.push(current.name);
    current = (current.dependencies ?? []).map((d) => byName.get(d)).find((p) => p);
  }
  if (current) path.push(current.name);
  return path.slice(path.indexOf(current?.name ?? "")).join(" -> ");
}
