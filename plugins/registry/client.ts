/**
 * A client of the OCI distribution API: the `/v2/` ping, Bearer token and
 * Basic authentication (tokens reused per scope until they expire), TLS by
 * default with plain HTTP only for loopback hosts or when TLS verification
 * is off, and registry errors turned into one clear line.
 *
 * The rules that keep a hostile or broken registry from doing harm live
 * here, in one place:
 * - a token realm must be `https:`, or `http:` on a loopback host (or on the
 *   registry's own host when the user turned TLS verification off);
 * - credentials go only to the registry's own host: never to a redirect
 *   target or an upload location elsewhere, and to a token realm on another
 *   host only over https;
 * - a request that receives (or sends) no bytes for `timeoutMs` is aborted;
 * - one retry loop per request, with backoff, on network errors, stalls, 429
 *   (honouring `Retry-After` up to a cap) and 5xx, never on other 4xx, and
 *   bounded both in attempts and in time without progress;
 * - documents read whole are capped ({@link DOCUMENT_LIMIT}) and a blob never
 *   streams past its descriptor's size ({@link limitBytes}).
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
  /** Attempts for a request that fails on the network, stalls, or gets a 429 or 5xx. */
  attempts?: number;
  /** Milliseconds without a byte received (or sent) after which a request is aborted. */
  timeoutMs?: number;
}

/** Default of {@link ClientOptions.timeoutMs}: 30 s. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** Default of {@link ClientOptions.attempts}. */
export const DEFAULT_ATTEMPTS = 4;

/** Largest manifest, token or other JSON document read whole: 4 MiB. */
export const DOCUMENT_LIMIT = 4 * 1024 * 1024;

/** Longest `Retry-After` waited for; a registry asking for longer is given up on at once. */
const RETRY_AFTER_CAP_MS = 10_000;

/** Most of a registry's error body read to explain a failure. */
const ERROR_BODY_LIMIT = 64 * 1024;

const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

/** True for a host name (without port) that can only be this machine. */
function isLoopback(hostname: string): boolean {
  return LOOPBACK_HOST.test(hostname.toLowerCase());
}

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

/** Text from a registry made safe for a one-line message: no control characters, cut short. */
function sanitize(text: string, max: number): string {
  // deno-lint-ignore no-control-regex
  const clean = text.replace(/[\x00-\x1f\x7f]/g, " ");
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/** A value quoted for a message, cut short so a hostile registry cannot flood the terminal. */
function quoted(text: string): string {
  return JSON.stringify(sanitize(text, 80));
}

/** A failure worth another attempt: the network, a stall, a 429 or a 5xx. */
class Transient extends ServinError {
  /** Wait before the next attempt that the registry asked for (`Retry-After`). */
  readonly delayMs?: number;
  /** No attempt should follow (the registry asked to wait longer than we will). */
  readonly final: boolean;
  /** The registry answered (a 429 or 5xx): it is not silent. */
  readonly answered: boolean;

  constructor(
    message: string,
    options: { delayMs?: number; final?: boolean; answered?: boolean } = {},
  ) {
    super("unreachable", message);
    this.delayMs = options.delayMs;
    this.final = options.final ?? false;
    this.answered = options.answered ?? false;
  }
}

/** A request that went without a byte for the whole stall timeout. */
class Stall extends Transient {}

/**
 * `pending`, or the reason of `signal` as soon as it aborts. Deno's fetch does
 * not reliably end a pending read of a response body when the signal it was
 * given aborts: once the response object is garbage collected the abort no
 * longer reaches the body (the request's own signal, which the body listens
 * to, follows ours only weakly), and the read waits for bytes forever.
 */
function unlessAborted<T>(pending: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const stop = () => reject(signal.reason);
    signal.addEventListener("abort", stop, { once: true });
    pending.then(resolve, reject).finally(() => signal.removeEventListener("abort", stop));
  });
}

/**
 * True for a failure another attempt may cure (the network, a stall, a 429
 * or 5xx), for callers that start over themselves ({@link RequestOptions.once}).
 */
export function isTransient(err: unknown): boolean {
  return err instanceof Transient && !err.final;
}

/**
 * Passes `stream` through, failing with a `limit-exceeded` error (and
 * cancelling the source) as soon as more than `max` bytes have come: a
 * hostile server cannot make a reader take in more than `max + 1` chunks'
 * worth. `what` names the content in the message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { limitBytes } from "./client.ts";
 * const capped = limitBytes(ReadableStream.from([new Uint8Array(8)]), 4, "a blob");
 * await new Response(capped).arrayBuffer().catch((e) => assert(e.code === "limit-exceeded"));
 * ```
 */
export function limitBytes(
  stream: ReadableStream<Uint8Array>,
  max: number,
  what: string,
): ReadableStream<Uint8Array> {
  const reader = stream.getReader();
  let seen = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await reader.read();
      if (next.done) return controller.close();
      seen += next.value.length;
      if (seen > max) {
        await reader.cancel().catch(() => {});
        throw new ServinError("limit-exceeded", `${what} is larger than ${max} bytes`);
      }
      controller.enqueue(next.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

/** Reads a whole stream into one buffer (as ingest/streams.ts's `readAll` does); its error fails the read. */
async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The registry's `errors` (`MANIFEST_UNKNOWN: manifest unknown`), else the HTTP status. */
async function errorDetail(response: Response): Promise<string> {
  let detail = `HTTP ${response.status}`;
  if (!response.body) return detail;
  try {
    const text = new TextDecoder().decode(
      await readAll(limitBytes(response.body, ERROR_BODY_LIMIT, "the error")),
    );
    const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const errors = Array.isArray(body.errors) ? body.errors : [];
    if (errors.length) {
      detail = sanitize(errors.slice(0, 3).map((e) => `${e?.code}: ${e?.message}`).join("; "), 300);
    }
  } catch { /* not JSON, too long, or cut off: the status says enough */ }
  return detail;
}

/** A final (not retried) error for a non-2xx answer. */
async function registryError(response: Response, what: string): Promise<ServinError> {
  const detail = await errorDetail(response);
  const s = response.status;
  const code = s === 404
    ? "not-found"
    : s === 401 || s === 403
    ? "invalid-argument"
    : s === 405 || s === 501
    ? "unsupported"
    : s === 429 || s >= 500
    ? "unreachable"
    : "invalid-argument";
  return new ServinError(code, `${what}: ${detail}`);
}

/** `Retry-After` (seconds or an HTTP date) in milliseconds, if given. */
function retryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = /^\s*\d+\s*$/.test(header) ? Number(header) * 1000 : undefined;
  const ms = seconds ?? Date.parse(header) - Date.now();
  return Number.isFinite(ms) ? Math.max(0, ms) : undefined;
}

/** A 429 or 5xx turned into a retryable error. */
async function transientError(response: Response, what: string): Promise<Transient> {
  const detail = await errorDetail(response);
  const wait = response.status === 429
    ? retryAfter(response.headers.get("retry-after"))
    : undefined;
  if (wait !== undefined && wait > RETRY_AFTER_CAP_MS) {
    return new Transient(
      `${what}: ${detail} (the registry asks to retry after ${Math.ceil(wait / 1000)} s)`,
      {
        final: true,
      },
    );
  }
  return new Transient(`${what}: ${detail}`, { delayMs: wait, answered: true });
}

/**
 * The bound on one retry loop: at most `attempts` attempts, and none
 * started once twice the stall timeout has gone by without progress (bytes
 * of a blob, or any answer), so a registry that stays silent fails a
 * request in about twice the timeout.
 */
class Budget {
  #failures = 0;
  #since = Date.now();
  #attempts: number;
  #windowMs: number;

  constructor(attempts: number, timeoutMs: number) {
    this.#attempts = Math.max(1, attempts);
    this.#windowMs = 2 * timeoutMs;
  }

  /** Bytes arrived: the time without progress starts again. */
  progress(): void {
    this.#since = Date.now();
  }

  /** Waits before the next attempt; rethrows `err` when it is not retryable or the budget is spent. */
  async retry(err: unknown): Promise<void> {
    if (!(err instanceof Transient) || err.final) throw err;
    if (err.answered) this.progress();
    this.#failures++;
    const delay = err.delayMs ?? 100 * 2 ** this.#failures;
    if (this.#failures >= this.#attempts || Date.now() - this.#since + delay > this.#windowMs) {
      throw err;
    }
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** Options of {@link RegistryClient.request}. */
export interface RequestOptions {
  /** Extra headers. */
  headers?: Record<string, string>;
  /** Request body, or a function making a fresh one per attempt (streams can be sent once). */
  body?: BodyInit | (() => BodyInit);
  /** Statuses besides 2xx the caller handles. */
  ok?: number[];
  /**
   * One attempt only, for a body made while it is sent (a stream being
   * compressed) that cannot be replayed: a failure, or a credentials
   * challenge, is the caller's to start over from.
   */
  once?: boolean;
}

/** A connection to one registry. */
export class RegistryClient {
  /** The registry's name (`docker.io`, `127.0.0.1:5000`). */
  readonly registry: string;
  #options: ClientOptions;
  #timeoutMs: number;
  #scheme?: string;
  #client?: Deno.HttpClient;
  #tokens = new Map<string, { token: string; expires: number }>();
  #basic = false;

  /** A client of `registry`; nothing is sent until the first request. */
  constructor(registry: string, options: ClientOptions = {}) {
    this.registry = registry;
    this.#options = options;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Closes the HTTP client. */
  close(): void {
    this.#client?.close();
  }

  #budget(): Budget {
    return new Budget(this.#options.attempts ?? DEFAULT_ATTEMPTS, this.#timeoutMs);
  }

  /**
   * One HTTP exchange under the stall timeout: aborted when no byte of the
   * request body goes out and no byte of the answer comes in for
   * `timeoutMs`. Returns the answer with its body guarded the same way, and
   * the URL it came from after redirects. Network failures and stalls are
   * {@link Transient}.
   */
  async #send(
    method: string,
    url: string,
    headers: Record<string, string>,
    body?: BodyInit,
  ): Promise<{ response: Response; url: string }> {
    if (this.#client === undefined) {
      const certs = await caCerts(this.#options.certDir);
      if (certs.length) this.#client = Deno.createHttpClient({ caCerts: certs });
    }
    const label = `${this.registry}: ${method} ${new URL(url).pathname}`;
    const abort = new AbortController();
    const seconds = Math.round(this.#timeoutMs / 100) / 10;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let uploading = true;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(
        () => abort.abort(new Stall(`${label}: no data for ${seconds} s`)),
        this.#timeoutMs,
      );
    };
    const failure = (err: unknown) =>
      abort.signal.aborted
        ? abort.signal.reason
        : err instanceof ServinError
        ? err
        : new Transient(`${label} failed: ${causeOf(err)}`);
    if (body instanceof ReadableStream) {
      // An upload counts as progress too, or a large blob could not take longer than the timeout.
      const reader = (body as ReadableStream<Uint8Array>).getReader();
      body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const next = await reader.read();
          if (uploading) arm();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        },
        cancel: (reason) => reader.cancel(reason),
      });
    }
    arm();
    let response: Response;
    try {
      response = await unlessAborted(
        fetch(url, {
          method,
          headers,
          body,
          redirect: "follow",
          signal: abort.signal,
          ...(this.#client ? { client: this.#client } : {}),
        }),
        abort.signal,
      );
    } catch (err) {
      throw failure(err);
    } finally {
      uploading = false;
      clearTimeout(timer);
    }
    const final = response.url || url;
    if (!response.body || [101, 204, 205, 304].includes(response.status)) {
      return { response, url: final };
    }
    const reader = response.body.getReader();
    const guarded = new ReadableStream<Uint8Array>({
      async pull(controller) {
        arm();
        try {
          // The stall ends the read here, not through fetch (see `unlessAborted`).
          const next = await unlessAborted(reader.read(), abort.signal);
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        } catch (err) {
          // Closes the connection; the read it leaves pending settles then, unheard.
          if (abort.signal.aborted) reader.cancel(abort.signal.reason).catch(() => {});
          throw failure(err);
        } finally {
          clearTimeout(timer);
        }
      },
      cancel(reason) {
        clearTimeout(timer);
        return reader.cancel(reason);
      },
    });
    return {
      response: new Response(guarded, {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      }),
      url: final,
    };
  }

  /** Picks https, or http where allowed and https does not answer. */
  async #base(): Promise<string> {
    if (this.#scheme) return this.#scheme;
    const host = apiHost(this.registry);
    const plainAllowed = isLoopback(new URL(`http://${host}`).hostname) ||
      this.#options.tlsVerify === false;
    try {
      const { response } = await this.#send("GET", `https://${host}/v2/`, {});
      await response.body?.cancel();
      this.#scheme = `https://${host}`;
    } catch (err) {
      const why = err instanceof ServinError ? err.message : causeOf(err);
      // A server that speaks TLS with a certificate we do not trust is not one to talk HTTP to.
      if (/certificate|UnknownIssuer|NotValidForName|Expired/i.test(why)) {
        throw new ServinError(
          "unreachable",
          `The TLS certificate of ${this.registry} is not trusted (${
            why.replace(/^.*: /, "")
          }): give its CA with --cert-dir or SSL_CERT_FILE`,
        );
      }
      // Silence is not a sign of plain HTTP: the retry loop decides about it.
      if (err instanceof Stall) throw err;
      if (!plainAllowed) {
        throw new Transient(`Cannot reach ${this.registry} over TLS: ${why}`);
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

  /** The token realm of a challenge, if it is one we may fetch. */
  #realm(realm: string): URL {
    let url: URL | undefined;
    try {
      url = new URL(realm);
    } catch { /* refused below */ }
    const own = url !== undefined &&
      url.hostname === new URL(`http://${apiHost(this.registry)}`).hostname;
    const allowed = url?.protocol === "https:" ||
      (url?.protocol === "http:" &&
        (isLoopback(url.hostname) || (own && this.#options.tlsVerify === false)));
    if (!url || !allowed) {
      throw new ServinError(
        "unsupported",
        `${this.registry}: refusing the token realm ${
          quoted(realm)
        }: it must be an https URL (or http on a loopback host)`,
      );
    }
    return url;
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
    const url = this.#realm(params.realm);
    if (params.service) url.searchParams.set("service", params.service);
    if (scope) url.searchParams.set("scope", scope);
    const headers: Record<string, string> = {};
    // The password crosses to another host only encrypted; over plain HTTP it
    // stays on the registry's own host, and elsewhere the token is asked for anonymously.
    const own = url.hostname === new URL(`http://${apiHost(this.registry)}`).hostname;
    if (creds && (url.protocol === "https:" || own)) {
      headers.authorization = `Basic ${
        Buffer.from(`${creds.username}:${creds.password}`).toString("base64")
      }`;
    }
    const what = `${this.registry}: authentication failed`;
    const { response } = await this.#send("GET", url.href, headers);
    if (response.status === 429 || response.status >= 500) {
      throw await transientError(response, what);
    }
    if (!response.ok) throw await registryError(response, what);
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      const bytes = await readAll(limitBytes(response.body!, DOCUMENT_LIMIT, "the token"));
      body = JSON.parse(new TextDecoder().decode(bytes));
    } catch (err) {
      if (err instanceof ServinError) throw err;
      throw new ServinError("unsupported", `${what}: the token server sent no JSON`);
    }
    const token = body?.token ?? body?.access_token;
    if (typeof token !== "string" || !token || /[\r\n]/.test(token)) {
      throw new ServinError("unsupported", `${what}: the token server sent no token`);
    }
    const expiresIn = typeof body.expires_in === "number" ? body.expires_in : 60;
    const life = Math.max(60, expiresIn);
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

  /** One attempt of a request: authenticated only on the registry's own host. */
  async #attempt(
    method: string,
    path: string,
    scope: string,
    init: RequestOptions,
  ): Promise<Response> {
    const base = await this.#base();
    const url = /^https?:\/\//.test(path) ? path : `${base}${path}`;
    const host = new URL(base).host;
    // Docker's rule: credentials and tokens go to the host that asked for them, not to
    // an upload location or redirect elsewhere (fetch drops them on cross-origin redirects).
    const own = new URL(url).host === host;
    const label = `${this.registry}: ${method} ${new URL(url).pathname}`;
    const headers: Record<string, string> = { ...init.headers };
    const auth = own ? this.#cachedAuth(scope) : undefined;
    if (auth) headers.authorization = auth;
    const body = () => typeof init.body === "function" ? init.body() : init.body;
    let { response, url: final } = await this.#send(method, url, headers, body());
    if (response.status === 401) {
      const challenge = response.headers.get("www-authenticate");
      await response.body?.cancel();
      const fresh = own && new URL(final).host === host && challenge
        ? await this.#authorize(challenge, scope)
        : undefined;
      if (fresh && fresh !== auth && init.once) {
        throw new Transient(`${label}: the registry asked for credentials during an upload`);
      }
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
      ({ response } = await this.#send(method, url, { ...headers, authorization: fresh }, body()));
    }
    if (response.status === 429 || response.status >= 500) {
      throw await transientError(response, label);
    }
    if (!response.ok && !(init.ok ?? []).includes(response.status)) {
      throw await registryError(response, label);
    }
    return response;
  }

  /**
   * Sends a request to `path` (or an absolute URL the registry gave), with
   * authentication for `scope`, retrying network errors, stalls, 429 and
   * 5xx. Non-2xx answers other than those the caller accepts (`ok`) become
   * errors. The body of the answer is still under the stall timeout; a
   * failure while reading it is not retried here (see {@link document} and
   * {@link blob}, which are).
   */
  async request(
    method: string,
    path: string,
    scope: string,
    init: RequestOptions = {},
  ): Promise<Response> {
    if (init.once) return await this.#attempt(method, path, scope, init);
    const budget = this.#budget();
    // Bounded: budget.retry throws once the attempts or the time are spent.
    for (;;) {
      try {
        return await this.#attempt(method, path, scope, init);
      } catch (err) {
        await budget.retry(err);
      }
    }
  }

  /**
   * GETs a document read whole (a manifest, an index), at most `limit`
   * bytes (default {@link DOCUMENT_LIMIT}); a stall or a lost connection
   * while reading it is retried like one while asking for it.
   */
  async document(
    path: string,
    scope: string,
    options: { headers?: Record<string, string>; limit?: number; what?: string } = {},
  ): Promise<{ bytes: Uint8Array; headers: Headers }> {
    const limit = options.limit ?? DOCUMENT_LIMIT;
    const budget = this.#budget();
    for (;;) {
      try {
        const r = await this.#attempt("GET", path, scope, { headers: options.headers });
        const body = r.body ?? ReadableStream.from<Uint8Array>([]);
        const bytes = await readAll(
          limitBytes(body, limit, options.what ?? `the document ${path}`),
        );
        return { bytes, headers: r.headers };
      } catch (err) {
        await budget.retry(err);
      }
    }
  }

  /**
   * The blob `digest` of repository `repo` as a stream of exactly the
   * descriptor's `size` at most: it fails with `limit-exceeded` at byte
   * `size + 1`. A connection that drops or stalls mid-blob is resumed where
   * it stopped (with `Range`, or by skipping what arrived when the registry
   * ignores it) within the same retry budget as opening it.
   */
  blob(repo: string, digest: string, size: number, scope: string): ReadableStream<Uint8Array> {
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new ServinError("invalid-archive", `blob ${digest} has no valid size (${size})`);
    }
    const path = `/v2/${repo}/blobs/${digest}`;
    const budget = this.#budget();
    let received = 0;
    let skip = 0;
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    const resumable = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        // Bounded: budget.retry throws once the attempts or the time are spent.
        for (;;) {
          try {
            if (!reader) {
              const headers: Record<string, string> = received
                ? { range: `bytes=${received}-` }
                : {};
              const r = await this.#attempt("GET", path, scope, { headers });
              skip = r.status === 206 ? 0 : received;
              const from = r.status === 206
                ? /^bytes (\d+)-/.exec(r.headers.get("content-range") ?? "")?.[1]
                : undefined;
              if (r.status === 206 && Number(from) !== received) {
                await r.body?.cancel();
                throw new ServinError(
                  "invalid-archive",
                  `${this.registry}: blob ${digest} resumed at the wrong offset`,
                );
              }
              reader = (r.body ?? ReadableStream.from<Uint8Array>([])).getReader();
            }
            const next = await reader.read();
            if (next.done) {
              reader = undefined;
              if (received < size) {
                throw new Transient(
                  `${this.registry}: blob ${digest} ended after ${received} of ${size} bytes`,
                );
              }
              return controller.close();
            }
            let chunk = next.value;
            if (skip) {
              const drop = Math.min(skip, chunk.length);
              skip -= drop;
              chunk = chunk.subarray(drop);
              if (!chunk.length) continue;
            }
            received += chunk.length;
            budget.progress();
            return controller.enqueue(chunk);
          } catch (err) {
            await reader?.cancel().catch(() => {});
            reader = undefined;
            await budget.retry(err);
          }
        }
      },
      cancel: (reason) => reader?.cancel(reason),
    });
    return limitBytes(resumable, size, `blob ${digest}`);
  }
}
