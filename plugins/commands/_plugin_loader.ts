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
 * import assert from "node:assert/strict";
 * import { splitPluginList } from "./_plugin_loader.ts";
 * assert(splitPluginList("./a.ts:https://x/b.ts", ":").length === 2);
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

/**
 * The plugins listed in `<root>/config.json` (`{"plugins": [...]}`), or
 * none. Like git's `safe.directory`, the file is used only when it, the root
 * and every plugin file it names (and that file's directory) are owned by
 * the caller or root and writable by no one else: whoever can change them
 * would run code as whoever runs `servin` — often root. `--plugin` and
 * `SERVIN_PLUGINS` are the caller's own choice and are not checked.
 */
export async function configuredPlugins(root: string): Promise<string[]> {
  const separator = Deno.build.os === "windows" ? "\\" : "/";
  const dir = root.replace(/[\\/]+$/, "") || separator;
  const file = `${dir}${separator}config.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
  await checkTrusted(file, file, "it");
  await checkTrusted(file, dir, `its directory "${dir}"`);
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
  for (const spec of list) {
    const path = await localPath(spec);
    if (path === undefined) continue;
    const { dirname } = await import("node:path");
    await checkTrusted(file, path, `the plugin "${spec}" it names`);
    await checkTrusted(file, dirname(path), `the directory of the plugin "${spec}"`);
  }
  return list;
}

/** The file a plugin spec names on this machine, or undefined for a remote URL. */
async function localPath(spec: string): Promise<string | undefined> {
  if (isUrl(spec) && !spec.startsWith("file:")) return undefined;
  const [{ resolve }, { fileURLToPath }] = await Promise.all([
    import("node:path"),
    import("node:url"),
  ]);
  return isUrl(spec) ? fileURLToPath(spec) : resolve(spec);
}

/** True for a URL (`https://…`, `file:…`), false for a path (`C:\\…` included). */
function isUrl(spec: string): boolean {
  return SCHEME.test(spec) && !/^[a-zA-Z]:[\\/]/.test(spec);
}

/**
 * Refuses `path` unless it is owned by the caller or root and writable by
 * neither its group nor others (a sticky directory, like `/tmp`, may be:
 * there only the owner can replace a file). No owners on Windows: nothing
 * to check.
 */
async function checkTrusted(file: string, path: string, subject: string): Promise<void> {
  const uid = Deno.uid();
  if (uid === null) return;
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(path);
  } catch (err) {
    // A missing plugin is reported when it is loaded.
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  const allow = "or name the plugins with --plugin or SERVIN_PLUGINS instead";
  if (stat.uid !== uid && stat.uid !== 0) {
    throw new ServinError(
      "plugin",
      `Refusing to load plugins from ${file}: ${subject} is owned by uid ${stat.uid}, not by you ` +
        `(uid ${uid}) or root; make it yours (chown ${uid} ${path}), ${allow}`,
    );
  }
  const mode = stat.mode ?? 0;
  const sticky = stat.isDirectory && (mode & 0o1000) !== 0;
  if ((mode & 0o022) !== 0 && !sticky) {
    const who = (mode & 0o002) !== 0 ? "others" : "its group";
    throw new ServinError(
      "plugin",
      `Refusing to load plugins from ${file}: ${subject} is writable by ${who} ` +
        `(mode ${
          (mode & 0o7777).toString(8).padStart(4, "0")
        }); run "chmod go-w ${path}", ${allow}`,
    );
  }
}

/** Imports the plugin module at `spec` (path relative to the current directory, or URL). */
export async function loadPlugin(spec: string): Promise<Plugin> {
  let url = spec;
  if (!isUrl(spec)) {
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
