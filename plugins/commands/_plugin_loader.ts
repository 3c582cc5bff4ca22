/**
 * Loads third-party plugins: ES modules whose default export is a plugin
 * made with `definePlugin`, named by `--plugin`, `SERVIN_PLUGINS` or the
 * `plugins` list of `<root>/config.json`. Inside a compiled binary, where a
 * module that was not embedded cannot be imported from disk, a local file
 * is imported from its source through a `data:` URL, so such a plugin must
 * be one self-contained module.
 *
 * Nothing heavy is imported up front: every start reads `config.json`, few
 * load a plugin.
 *
 * @module
 */

import { messageOf, ServinError } from "../../core/errors.ts";
import type { Plugin } from "../../core/registry.ts";

const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*:/;

/**
 * Splits a `SERVIN_PLUGINS` value on the platform's path separator, keeping
 * URLs (`https://…`) whole.
 *
 * @example
 * ```ts
 * import { splitPluginList } from "./_plugin_loader.ts";
 * console.assert(splitPluginList("./a.ts:https://x/b.ts", ":").length === 2);
 * ```
 */
export function splitPluginList(value: string, separator: string): string[] {
  const parts = value.split(separator);
  const out: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const next = parts[i + 1];
    if (separator === ":" && /^[a-zA-Z][a-zA-Z0-9+.-]*$/.test(part) && next?.startsWith("//")) {
      out.push(`${part}:${next}`);
      i++;
    } else if (part !== "") out.push(part);
  }
  return out;
}

/** The plugins listed in `<root>/config.json` (`{"plugins": [...]}`), or none. */
export async function configuredPlugins(root: string): Promise<string[]> {
  const separator = Deno.build.os === "windows" ? "\\" : "/";
  const file = `${root.replace(/[\\/]+$/, "")}${separator}config.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch {
    throw new ServinError("invalid-argument", `${file} is not valid JSON`);
  }
  const list = (config as { plugins?: unknown })?.plugins ?? [];
  if (!Array.isArray(list) || !list.every((p) => typeof p === "string")) {
    throw new ServinError(
      "invalid-argument",
      `${file}: "plugins" must be a list of paths or URLs`,
    );
  }
  return list;
}

/** Imports the plugin module at `spec` (path relative to the current directory, or URL). */
export async function loadPlugin(spec: string): Promise<Plugin> {
  const isUrl = SCHEME.test(spec) && !/^[a-zA-Z]:[\\/]/.test(spec);
  let url = spec;
  if (!isUrl) {
    const [{ resolve }, { pathToFileURL }] = await Promise.all([
      import("node:path"),
      import("node:url"),
    ]);
    url = pathToFileURL(resolve(spec)).href;
  }
  let module: { default?: unknown };
  try {
    module = await import(url);
  } catch (err) {
    if (!Deno.build.standalone || !url.startsWith("file:")) {
      throw new ServinError("plugin", `plugin "${spec}": cannot load it: ${messageOf(err)}`);
    }
    // A compiled binary imports only what it embeds: give it the file's source instead.
    try {
      const source = await Deno.readFile(new URL(url));
      const data = `data:application/typescript;base64,${base64(source)}`;
      module = await import(data);
    } catch (inner) {
      throw new ServinError("plugin", `plugin "${spec}": cannot load it: ${messageOf(inner)}`);
    }
  }
  const plugin = module.default as Plugin | undefined;
  if (!plugin || typeof plugin.name !== "string" || typeof plugin.setup !== "function") {
    throw new ServinError(
      "plugin",
      `plugin "${spec}": its default export is not a plugin (make it with definePlugin)`,
    );
  }
  return { ...plugin, source: spec };
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
