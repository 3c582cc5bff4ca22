/**
 * Runs the real CLI (`main.ts`) in a subprocess against a throwaway root, and
 * the helpers end-to-end tests share (temporary directories, captured output).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import type { Output } from "../core/api.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** The sha256 of `data`, hex: computed by node:crypto, apart from the code under test. */
export function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** What a CLI run printed and returned. */
export interface RunResult {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** Options of {@link run}. */
export interface RunOptions {
  /** Bytes for standard input. */
  stdin?: Uint8Array;
  /** Extra environment. */
  env?: Record<string, string>;
  /** Run as this uid and gid (through `setpriv`; the caller must be root). */
  as?: number;
}

/** Starts `servin ARGS…` with `SERVIN_ROOT=root`; standard output and error are piped. */
export function spawn(root: string, args: string[], options: RunOptions = {}): Deno.ChildProcess {
  // SERVIN_BIN runs the same cases against a compiled binary (tests/compile_test.ts).
  const bin = Deno.env.get("SERVIN_BIN");
  const deno = bin ? [bin, ...args] : [Deno.execPath(), "run", "-A", MAIN, ...args];
  const as = options.as;
  const argv = as === undefined
    ? deno
    : ["setpriv", `--reuid=${as}`, `--regid=${as}`, "--clear-groups", ...deno];
  return new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    env: { SERVIN_ROOT: root, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...options.env },
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Runs `servin ARGS…` with `SERVIN_ROOT=root`. */
export async function run(
  root: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const child = spawn(root, args, options);
  if (options.stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(options.stdin);
    await writer.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs and fails the test when the exit code is not 0. */
export async function ok(root: string, args: string[], options: RunOptions = {}): Promise<string> {
  const r = await run(root, args, options);
  if (r.code !== 0) {
    throw new Error(`servin ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  }
  return r.stdout;
}

/** A fresh temporary directory, removed by the returned function. */
export async function tempDir(prefix = "servin-test-"): Promise<[string, () => Promise<void>]> {
  const dir = await Deno.makeTempDir({ prefix });
  return [dir, () => Deno.remove(dir, { recursive: true }).catch(() => {})];
}

/** The places {@link withTempDir} gives a test. */
export interface TempPlaces {
  /** A fresh temporary directory. */
  dir: string;
  /** `dir/root`, a store root that does not exist yet. */
  root: string;
  /** The test's context, for steps. */
  t: Deno.TestContext;
}

/**
 * A test function that runs `fn` in a fresh temporary directory and removes
 * the directory afterwards, whether `fn` passed or threw.
 */
export function withTempDir(
  fn: (places: TempPlaces) => Promise<void>,
): (t: Deno.TestContext) => Promise<void> {
  return async (t) => {
    const [dir, cleanup] = await tempDir();
    try {
      await fn({ dir, root: join(dir, "root"), t });
    } finally {
      await cleanup();
    }
  };
}

/**
 * A test that needs host tools or servers (a registry, skopeo, runc…):
 * skipped when `ignore` says what it needs is missing, run in a fresh
 * temporary directory as {@link withTempDir} does, and with Deno's resource
 * sanitizer off, since the servers and processes it starts are ended by its
 * own cleanup.
 */
export function toolTest(
  name: string,
  ignore: boolean,
  fn: (places: TempPlaces) => Promise<void>,
): void {
  Deno.test({ name, ignore, sanitizeResources: false, fn: withTempDir(fn) });
}

/** Writes `data` (text is written as UTF-8) to a file in `dir` and returns its path. */
export async function writeFixture(
  dir: string,
  name: string,
  data: Uint8Array | string,
): Promise<string> {
  const path = join(dir, name);
  if (typeof data === "string") await Deno.writeTextFile(path, data);
  else await Deno.writeFile(path, data);
  return path;
}

/**
 * Writes `files` (path → content; a `->target` value makes a symlink) under
 * `dir`, making the directories on the way, and returns `dir`.
 */
export async function writeFiles(dir: string, files: Record<string, string>): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  for (const [rel, body] of Object.entries(files)) {
    const path = join(dir, rel);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    if (body.startsWith("->")) await Deno.symlink(body.slice(2), path);
    else await Deno.writeTextFile(path, body);
  }
  return dir;
}

/** A snapshot of everything under a store root: each path with its type, for "nothing changed" checks. */
export async function listTree(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string, rel: string) {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(`${r}${e.isDirectory ? "/" : ""}`);
      if (e.isDirectory) await walk(join(dir, e.name), r);
    }
  }
  await walk(root, "");
  return out;
}

/** An {@link Output} for in-process `runCli` calls that keeps what was printed, line by line. */
export function capture(): Output & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (t) => void stdout.push(t),
    err: (t) => void stderr.push(t),
    errRaw: () => {},
    errIsTerminal: false,
  };
}
