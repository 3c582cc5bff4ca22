/**
 * Registry credentials: `<root>/auth.json` (mode 0600, Docker's `auths`
 * format), falling back to `~/.docker/config.json`. Passwords are never
 * printed.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { join } from "node:path";
import { ServinError } from "../../core/errors.ts";
import type { Credentials } from "./client.ts";

interface AuthFile {
  auths?: Record<string, { auth?: unknown }>;
}

/**
 * The credentials file at `path`, or an empty one when there is none. A file
 * that cannot be read or is not the expected JSON is an error naming it:
 * ignoring it would pull anonymously, or let `login` overwrite it.
 */
async function readAuthFile(path: string): Promise<AuthFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return {};
    throw new ServinError(
      "invalid-argument",
      `Cannot read credentials from "${path}": ${(err as Error).message}`,
    );
  }
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch (err) {
    throw new ServinError(
      "invalid-argument",
      `Cannot read credentials from "${path}": not valid JSON (${(err as Error).message})`,
    );
  }
  const auths = (file as AuthFile | null)?.auths;
  if (
    typeof file !== "object" || file === null || Array.isArray(file) ||
    (auths !== undefined && (typeof auths !== "object" || auths === null || Array.isArray(auths)))
  ) {
    throw new ServinError(
      "invalid-argument",
      `Cannot read credentials from "${path}": expected an object with an "auths" object`,
    );
  }
  return file as AuthFile;
}

function decode(entry: { auth?: unknown } | undefined): Credentials | undefined {
  if (typeof entry?.auth !== "string" || !entry.auth) return undefined;
  const text = Buffer.from(entry.auth, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon < 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

function keysFor(registry: string): string[] {
  return registry === "docker.io"
    ? ["docker.io", "https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io"]
    : [registry, `https://${registry}`, `http://${registry}`];
}

/** Credentials for `registry` from Servin's file, then Docker's. */
export async function credentialsFor(
  root: string,
  registry: string,
): Promise<Credentials | undefined> {
  const files = [join(root, "auth.json")];
  const home = Deno.env.get("HOME");
  if (home) files.push(join(home, ".docker", "config.json"));
  for (const file of files) {
    const auths = (await readAuthFile(file)).auths ?? {};
    for (const key of keysFor(registry)) {
      const creds = decode(auths[key]);
      if (creds) return creds;
    }
  }
  return undefined;
}

/** Stores credentials for `registry` in `<root>/auth.json` (or removes them when `creds` is undefined); true when something changed. */
export async function storeCredentials(
  root: string,
  registry: string,
  creds: Credentials | undefined,
): Promise<boolean> {
  const path = join(root, "auth.json");
  const file = await readAuthFile(path);
  const auths = file.auths ?? {};
  const had = registry in auths;
  if (creds) {
    auths[registry] = {
      auth: Buffer.from(`${creds.username}:${creds.password}`).toString("base64"),
    };
  } else delete auths[registry];
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.mkdir(root, { recursive: true });
  await Deno.writeTextFile(tmp, JSON.stringify({ ...file, auths }, null, 2) + "\n", {
    mode: 0o600,
  });
  await Deno.chmod(tmp, 0o600);
  await Deno.rename(tmp, path);
  return creds !== undefined || had;
}
