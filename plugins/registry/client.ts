/**
 * A client of the OCI distribution API: the `/v2/` ping, Bearer token and
 * Basic authentication (tokens reused per scope until they expire), TLS by
 * default with plain HTTP only for loopback hosts or when TLS verification
 * is off, retries with backoff on connection errors and 5xx (never on 4xx),
 * and registry errors turned into one clear line.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { join } from "node:path";
import { ServinError } from "../../core/errors.ts";

/** Credentials for a registry. */
export interface Credentials {
  /** User name. */
  username: string;
  /** Password or token. */
  password: string;
}

/** Options of a {@link RegistryClient}. */
export interface ClientOptions {
  /** Verify TLS; `false` allows plain HTTP to any host. */
  tlsVerify?: boolean;
  /** Directory of extra CA certificates (`*.crt`, `*.pem`); `SSL_CERT_FILE` is read too. */
  certDir?: string;
  /** Credentials, when the registry wants them. */
  credentials?: Credentials;
  /** Attempts for a request that fails on the network or with a 5xx. */
  attempts?: number;
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$/;

/** Docker Hub's API host. */
function apiHost(registry: string): string {
  return registry === "docker.io" ? "registry-1.docker.io" : registry;
}

function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const space = header.indexOf(" ");
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  for (const m of header.slice(space + 1).matchAll(/(\w+)="([^"]*)"/g)) params[m[1]!] = m[2]!;
  return { scheme, params };
}

async function caCerts(certDir?: string): Promise<string[]> {
  const certs: string[] = [];
  const file = Deno.env.get("SSL_CERT_FILE");
  if (file) certs.push(await Deno.readTextFile(file));
  if (certDir) {
    for await (const e of Deno.readDir(certDir)) {
      if (/\.(crt|pem|cert)$/.test(e.name)) {
        certs.push(await Deno.readTextFile(join(certDir, e.name)));
      }
    }
  }
  return certs;
}

/** The innermost message of a fetch failure ("fetch failed" says little). */
function causeOf(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  let message = e?.message ?? String(err);
  while (e?.cause) {
    e = e.cause as { message?: string; cause?: unknown };
    if (e?.message) message = e.message;
  }
  return message;
}

/** Turns a registry's JSON `errors` body into a message (`MANIFEST_UNKNOWN: manifest unknown`). */
async function registryError(response: Response, what: string): Promise<ServinError> {
  let detail = `HTTP ${response.status}`;
  try {
    const body = await response.json() as { errors?: { code?: string; message?: string }[] };
    const errors = body.errors ?? [];
    if (errors.length) detail = errors.map((e) => `${e.code}: ${e.message}`).join("; ");
  } catch { /* not JSON */ }
  const code = response.status === 404
    ? "not-found"
    : response.status === 401 || response.status === 403
    ? "invalid-argument"
    : "internal";
  return new ServinError(code, `${what}: ${detail}`);
}

/** A connection to one registry. */
export class RegistryClient {
  readonly registry: string;
  #options: ClientOptions;
  #scheme?: string;
  #client?: Deno.HttpClient;
  #tokens = new Map<string, { token: string; expires: number }>();
  #basic = false;

  constructor(registry: string, options: ClientOptions = {}) {
    this.registry = registry;
    this.#options = options;
  }

  /** Closes the HTTP client. */
  close(): void {
    this.#client?.close();
  }

  async #fetch(url: string, init: RequestInit): Promise<Response> {
    if (this.#client === undefined) {
      const certs = await caCerts(this.#options.certDir);
      if (certs.length) this.#client = Deno.createHttpClient({ caCerts: certs });
    }
    return await fetch(url, { ...init, ...(this.#client ? { client: this.#client } : {}) });
  }

  /** Picks https, or http where allowed and https does not answer. */
  async #base(): Promise<string> {
    if (this.#scheme) return this.#scheme;
    const host = apiHost(this.registry);
    const plainAllowed = LOOPBACK.test(host) || this.#options.tlsVerify === false;
    try {
      const r = await this.#fetch(`https://${host}/v2/`, { method: "GET" });
      await r.body?.cancel();
      this.#scheme = `https://${host}`;
    } catch (err) {
      const why = causeOf(err);
      // A server that speaks TLS with a certificate we do not trust is not one to talk HTTP to.
      if (/certificate|UnknownIssuer|NotValidForName|Expired/i.test(why)) {
        throw new ServinError(
          "unreachable",
          `The TLS certificate of ${this.registry} is not trusted (${
            why.replace(/^.*: /, "")
          }): give its CA with --cert-dir or SSL_CERT_FILE`,
        );
      }
      if (!plainAllowed) {
        throw new ServinError("unreachable", `Cannot reach ${this.registry} over TLS: ${why}`);
      }
      this.#scheme = `http://${host}`;
    }
    return this.#scheme;
  }

  /** Checks that the registry answers and that the credentials (if any) are accepted. */
  async ping(): Promise<void> {
    const r = await this.request("GET", "/v2/", "");
    await r.body?.cancel();
  }

  async #authorize(challenge: string, scope: string): Promise<string | undefined> {
    const { scheme, params } = parseChallenge(challenge);
    const creds = this.#options.credentials;
    if (scheme === "basic") {
      if (!creds) return undefined;
      this.#basic = true;
      return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
    }
    if (scheme !== "bearer" || !params.realm) return undefined;
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set("service", params.service);
    if (scope) url.searchParams.set("scope", scope);
    const headers: Record<string, string> = {};
    if (creds) {
      headers.authorization = `Basic ${
        Buffer.from(`${creds.username}:${creds.password}`).toString("base64")
      }`;
    }
    const r = await this.#fetch(url.href, { headers });
    if (!r.ok) throw await registryError(r, `${this.registry}: authentication failed`);
    const body = await r.json() as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (!token) {
      throw new ServinError("internal", `${this.registry}: the token server sent no token`);
    }
    const life = Math.max(60, body.expires_in ?? 60);
    this.#tokens.set(scope, { token, expires: Date.now() + (life - 10) * 1000 });
    return `Bearer ${token}`;
  }

  #cachedAuth(scope: string): string | undefined {
    const t = this.#tokens.get(scope);
    if (t && t.expires > Date.now()) return `Bearer ${t.token}`;
    const creds = this.#options.credentials;
    if (this.#basic && creds) {
      return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
    }
    return undefined;
  }

  /**
   * Sends a request to `path` (or an absolute URL the registry gave), with
   * authentication for `scope`, retrying network errors and 5xx. Non-2xx
   * answers other than those the caller accepts (`ok`) become errors.
   */
  async request(
    method: string,
    path: string,
    scope: string,
    init: { headers?: Record<string, string>; body?: BodyInit | (() => BodyInit); ok?: number[] } =
      {},
  ): Promise<Response> {
    const base = await this.#base();
    const url = /^https?:\/\//.test(path) ? path : `${base}${path}`;
    const attempts = this.#options.attempts ?? 4;
    let lastError: unknown;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      const headers: Record<string, string> = { ...init.headers };
      const auth = this.#cachedAuth(scope);
      if (auth) headers.authorization = auth;
      const body = typeof init.body === "function" ? init.body() : init.body;
      let response: Response;
      try {
        response = await this.#fetch(url, { method, headers, body, redirect: "follow" });
        if (response.status === 401) {
          const challenge = response.headers.get("www-authenticate");
          await response.body?.cancel();
          const fresh = challenge ? await this.#authorize(challenge, scope) : undefined;
          if (!fresh || fresh === auth) {
            throw new ServinError(
              "invalid-argument",
              `${this.registry}: unauthorized${
                this.#options.credentials
                  ? " (wrong user name or password?)"
                  : " (log in with servin login)"
              }`,
            );
          }
          const retryBody = typeof init.body === "function" ? init.body() : init.body;
          response = await this.#fetch(url, {
            method,
            headers: { ...headers, authorization: fresh },
            body: retryBody,
            redirect: "follow",
          });
        }
      } catch (err) {
        if (err instanceof ServinError) throw err;
        lastError = err;
        continue;
      }
      if (response.status >= 500) {
        lastError = await registryError(response, `${this.registry}: ${method} ${path}`);
        continue;
      }
      if (!response.ok && !(init.ok ?? []).includes(response.status)) {
        throw await registryError(response, `${this.registry}: ${method} ${path}`);
      }
      return response;
    }
    if (lastError instanceof ServinError) throw lastError;
    throw new ServinError(
      "unreachable",
      `${this.registry}: ${method} ${path} failed: ${causeOf(lastError)}`,
    );
  }
}
