/**
 * Docker's `--change` instructions (CMD, ENTRYPOINT, ENV, EXPOSE, USER,
 * WORKDIR, LABEL, VOLUME, STOPSIGNAL) and command lines in JSON or shell
 * form, applied to a config Servin builds: shared by `import -c` and
 * `commit -c`.
 *
 * @module
 */

import { ServinError } from "../../core/errors.ts";
import { mergeEnv } from "../../core/image.ts";
import type { BuiltConfig } from "./config.ts";
/** Splits a command line into words: a JSON array, or words with shell-style quotes. */
export function parseCommandLine(text: string, flag: string): string[] {
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new ServinError("invalid-argument", `Invalid ${flag}: not a valid JSON array`);
    }
    if (!Array.isArray(parsed) || !parsed.every((w) => typeof w === "string")) {
      throw new ServinError(
        "invalid-argument",
        `Invalid ${flag}: expected a JSON array of strings`,
      );
    }
    return parsed;
  }
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < trimmed.length; i++) {
    const c = trimmed[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < trimmed.length) word += trimmed[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < trimmed.length) {
      word += trimmed[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new ServinError("invalid-argument", `Invalid ${flag}: unterminated quote`);
  if (inWord) words.push(word);
  return words;
}

/** `K=V` items as pairs; `K` alone is `[K, ""]`, or an error when `requireValue`. */
export function keyValues(list: string[], flag: string, requireValue: boolean): [string, string][] {
  return list.map((item) => {
    const eq = item.indexOf("=");
    if (eq === 0 || (requireValue && eq < 0)) {
      throw new ServinError("invalid-argument", `Invalid ${flag} "${item}": expected KEY=VALUE`);
    }
    return eq < 0 ? [item, ""] : [item.slice(0, eq), item.slice(eq + 1)];
  });
}

const CHANGES = [
  "CMD",
  "ENTRYPOINT",
  "ENV",
  "EXPOSE",
  "USER",
  "WORKDIR",
  "LABEL",
  "VOLUME",
  "STOPSIGNAL",
];

/** A command in Dockerfile syntax: the JSON (exec) form, or the shell form run by `/bin/sh -c`. */
function dockerfileCommand(text: string, what: string): string[] {
  if (text.startsWith("[")) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (Array.isArray(parsed) && parsed.every((w) => typeof w === "string")) return parsed;
    } catch {
      // Docker runs what is not a JSON array of strings with the shell, and so do we.
    }
  }
  if (!text) throw new ServinError("invalid-argument", `Invalid --change "${what}": no command`);
  return ["/bin/sh", "-c", text];
}

/** `K=V K2="v 2"` pairs, or the old one-pair form `K the value`. */
function pairs(text: string, what: string): [string, string][] {
  const words = parseCommandLine(text, `--change "${what}"`);
  if (words.length === 0) {
    throw new ServinError("invalid-argument", `Invalid --change "${what}": expected KEY=VALUE`);
  }
  if (!words[0]!.includes("=")) {
    const rest = text.trim().slice(text.trim().indexOf(words[0]!) + words[0]!.length).trim();
    return [[words[0]!, parseCommandLine(rest, `--change "${what}"`).join(" ")]];
  }
  return words.map((w) => {
    const eq = w.indexOf("=");
    if (eq <= 0) {
      throw new ServinError(
        "invalid-argument",
        `Invalid --change "${what}": "${w}" is not KEY=VALUE`,
      );
    }
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/**
 * Applies Docker's `import --change` instructions (Dockerfile syntax) to
 * `config`, in order: CMD, ENTRYPOINT, ENV, EXPOSE, USER, WORKDIR, LABEL,
 * VOLUME and STOPSIGNAL.
 */
export function applyChanges(config: Partial<BuiltConfig>, changes: readonly string[]): void {
  for (const change of changes) {
    const match = /^\s*([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(change);
    const instruction = match?.[1]?.toUpperCase() ?? "";
    const arg = (match?.[2] ?? "").trim();
    if (!CHANGES.includes(instruction)) {
      throw new ServinError(
        "invalid-argument",
        `Invalid --change "${change}": use one of ${CHANGES.join(", ")}`,
      );
    }
    const need = (ok: boolean, what: string) => {
      if (!ok) throw new ServinError("invalid-argument", `Invalid --change "${change}": ${what}`);
    };
    switch (instruction) {
      case "CMD":
        config.cmd = dockerfileCommand(arg, change);
        break;
      case "ENTRYPOINT":
        config.entrypoint = dockerfileCommand(arg, change);
        break;
      case "ENV":
        config.env = mergeEnv(config.env ?? [], pairs(arg, change).map(([k, v]) => `${k}=${v}`));
        break;
      case "LABEL":
        config.labels = { ...config.labels, ...Object.fromEntries(pairs(arg, change)) };
        break;
      case "EXPOSE": {
        const ports = parseCommandLine(arg, `--change "${change}"`);
        need(ports.length > 0, "no port");
        for (const port of ports) {
          const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp|sctp))?$/i.exec(port);
          need(!!m && Number(m[1]) > 0 && Number(m[1]) < 65536, `"${port}" is not a port`);
          const key = `${m![1]}${m![2] ? `-${m![2]}` : ""}/${(m![3] ?? "tcp").toLowerCase()}`;
          config.exposed_ports = { ...config.exposed_ports, [key]: {} };
        }
        break;
      }
      case "USER":
        need(arg.length > 0 && !/\s/.test(arg), "expected one user");
        config.user = arg;
        break;
      case "WORKDIR": {
        need(arg.length > 0, "no directory");
        // A relative WORKDIR is taken from the one before, as in a Dockerfile.
        const base = (config.working_dir ?? "/").replace(/\/+$/, "");
        config.working_dir = arg.startsWith("/") ? arg : `${base}/${arg}`;
        break;
      }
      case "VOLUME": {
        // parseCommandLine reads the JSON form as JSON and the other as words.
        const paths = parseCommandLine(arg, `--change "${change}"`);
        need(paths.length > 0 && paths.every((p) => p.startsWith("/")), "expected absolute paths");
        for (const path of paths) config.volumes = { ...config.volumes, [path]: {} };
        break;
      }
      case "STOPSIGNAL":
        need(/^(SIG)?[A-Z][A-Z0-9+-]*$|^\d+$/i.test(arg), "expected a signal (SIGTERM, 15)");
        config.stop_signal = arg;
        break;
    }
  }
}
