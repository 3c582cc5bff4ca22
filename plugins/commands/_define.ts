/**
 * What the command groups share: the flags several commands take (so that
 * `-q` or `--format` reads and parses alike everywhere) and the plugin that
 * registers a group.
 *
 * @module
 */

import type { CommandDef, FlagSpec } from "../../core/api.ts";
import { definePlugin, type Plugin } from "../../core/registry.ts";

function flag(type: FlagSpec["type"], short: string | undefined, description: string): FlagSpec {
  return short === undefined ? { type, description } : { type, short, description };
}

/** `-q`, `--quiet`. */
export const quiet = (description: string): FlagSpec => flag("boolean", "q", description);

/** `-f`, `--force`. */
export const force = (description: string): FlagSpec => flag("boolean", "f", description);

/** `-a`, `--all`. */
export const all = (description: string): FlagSpec => flag("boolean", "a", description);

/** `--no-trunc`. */
export const noTrunc = (description: string): FlagSpec => flag("boolean", undefined, description);

/** `--tls-verify` and `--cert-dir`, of the commands that talk to a registry. */
export const registryFlags: Record<string, FlagSpec> = {
  "tls-verify": {
    type: "string",
    description: "Verify TLS (true); false also allows plain HTTP",
    value: "BOOL",
  },
  "cert-dir": { type: "string", description: "Extra CA certificates", value: "DIR" },
};

/** `--format FORMAT`, one of `formats` (as help words them: "table or json"). */
export const format = (formats: string): FlagSpec => ({
  ...flag("string", undefined, `Output format: ${formats}`),
  value: "FORMAT",
});

/** The inspect commands' `-f`, `--format TEMPLATE`. */
export const inspectFormat: FlagSpec = {
  ...flag("string", "f", "Format each object with a Go template (default: a JSON array)"),
  value: "TEMPLATE",
};

/** `-o`, `--output FILE`. */
export const output = (description: string): FlagSpec => ({
  ...flag("string", "o", description),
  value: "FILE",
});

/** `-u`, `--user USER`. */
export const user = (description: string): FlagSpec => ({
  ...flag("string", "u", description),
  value: "USER",
});

/** `-e`, `--env K=V`, repeatable. */
export const env: FlagSpec = {
  type: "string",
  short: "e",
  multiple: true,
  description: "Environment variable",
  value: "K=V",
};

/** `-w`, `--workdir DIR`. */
export const workdir: FlagSpec = {
  type: "string",
  short: "w",
  description: "Working directory",
  value: "DIR",
};

/** A plugin named `name` that registers `defs`, in order. */
export function commandGroup(name: string, defs: readonly CommandDef[]): Plugin {
  return definePlugin({
    name,
    setup(api) {
      for (const def of defs) api.provide("command", def);
    },
  });
}
