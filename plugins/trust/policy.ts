/**
 * Trust policies in the `containers-policy.json(5)` format that skopeo and
 * podman read: a `default` list of requirements and, per transport, lists
 * per scope (the most specific scope that is present wins). Every
 * requirement of the chosen list must be met. This module only parses and
 * chooses; each requirement type is checked by the {@link PolicyRequirement}
 * registered under its name, so a plugin can add types.
 *
 * @module
 */

import { ServinError } from "../../core/errors.ts";
import type { PolicyImage, PolicyRequirement } from "../../core/kinds.ts";
import { parseRegistryReference } from "../../core/reference.ts";
import { readText } from "../storage/fs.ts";

/** One requirement as written: `{ "type": "…", …fields }`. */
export type Requirement = Readonly<Record<string, unknown>> & { type: string };

/** A parsed policy file. */
export class Policy {
  /** Where it was read from (for messages). */
  readonly path: string;
  /** The `default` requirements. */
  readonly defaults: Requirement[];
  /** Requirements per transport, then per scope (`""` is the transport's default). */
  readonly transports: Record<string, Record<string, Requirement[]>>;

  private constructor(
    path: string,
    defaults: Requirement[],
    transports: Record<string, Record<string, Requirement[]>>,
  ) {
    this.path = path;
    this.defaults = defaults;
    this.transports = transports;
  }

  /**
   * Parses policy JSON text; `path` names it in errors and anchors relative `keyPath`s.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Policy } from "./policy.ts";
   * const policy = Policy.parse('{"default": [{"type": "reject"}]}', "/etc/servin/policy.json");
   * assert(policy.requirementsFor("docker", ["example.com/app:1"]).scope === "default");
   * ```
   */
  static parse(text: string, path = "policy.json"): Policy {
    const fail = (why: string) =>
      new ServinError("invalid-argument", `Invalid policy ${path}: ${why}`);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw fail("not JSON");
    }
    if (!isObject(doc)) throw fail("not a JSON object");
    const list = (v: unknown, where: string): Requirement[] => {
      if (!Array.isArray(v) || v.length === 0) throw fail(`${where} is not a non-empty list`);
      return v.map((r, i) => {
        if (!isObject(r) || typeof r.type !== "string") {
          throw fail(`${where}[${i}] has no "type"`);
        }
        return r as Requirement;
      });
    };
    const transports: Record<string, Record<string, Requirement[]>> = {};
    if (doc.transports !== undefined) {
      if (!isObject(doc.transports)) throw fail('"transports" is not an object');
      for (const [transport, scopes] of Object.entries(doc.transports)) {
        if (!isObject(scopes)) throw fail(`transport "${transport}" is not an object`);
        transports[transport] = Object.fromEntries(
          Object.entries(scopes).map(([scope, reqs]) => [
            scope,
            list(reqs, `transports.${transport}["${scope}"]`),
          ]),
        );
      }
    }
    return new Policy(path, list(doc.default, '"default"'), transports);
  }

  /**
   * Reads and parses the policy file at `path`.
   *
   * @example
   * ```ts ignore
   * const policy = await Policy.load("/etc/containers/policy.json");
   * ```
   */
  static async load(path: string): Promise<Policy> {
    return Policy.parse(await readText(path, `policy ${path}`), path);
  }

  /** The requirements for an image of `transport` known by `scopes` (most specific first). */
  requirementsFor(
    transport: string,
    scopes: readonly string[],
  ): { scope: string; requirements: Requirement[] } {
    const byScope = this.transports[transport];
    if (byScope) {
      for (const scope of [...scopes, ""]) {
        const found = Object.hasOwn(byScope, scope) ? byScope[scope] : undefined;
        if (found) return { scope: `${transport}:${scope}`, requirements: found };
      }
    }
    return { scope: "default", requirements: this.defaults };
  }

  /**
   * Checks `image` against the requirements that apply to it, with the
   * requirement types `types` (by name); throws `vetoed` naming the
   * requirement that failed and why.
   */
  async check(image: PolicyImage, types: readonly PolicyRequirement[]): Promise<void> {
    const { scope, requirements } = this.requirementsFor(image.transport, image.scopes);
    const name = image.reference ?? image.scopes[0] ?? "the image";
    for (const [i, req] of requirements.entries()) {
      const type = types.find((t) => t.name === req.type);
      const what = `requirement ${i + 1} "${req.type}" of ${scope} in ${this.path}`;
      if (!type) {
        throw new ServinError(
          "vetoed",
          `${name} is refused: ${what} is a type Servin does not know`,
        );
      }
      try {
        await type.check(anchored(req, this.path), image);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new ServinError("vetoed", `${name} is refused: ${what}: ${why}`, { cause: err });
      }
    }
  }
}

/** `req` with relative `keyPath`s made absolute against the policy file's directory. */
function anchored(req: Requirement, policyPath: string): Requirement {
  const dir = policyPath.slice(0, policyPath.lastIndexOf("/") + 1) || "./";
  const abs = (p: unknown) => typeof p === "string" && !p.startsWith("/") ? dir + p : p;
  const out: Record<string, unknown> = { ...req };
  if (req.keyPath !== undefined) out.keyPath = abs(req.keyPath);
  if (Array.isArray(req.keyPaths)) out.keyPaths = req.keyPaths.map(abs);
  return out as Requirement;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The scopes a registry reference is looked up under, most specific first,
 * as containers/image's docker transport lists them: the reference itself,
 * its repository, each parent namespace, the registry, then wildcard
 * domains (`*.example.com`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dockerScopes } from "./policy.ts";
 * assert(dockerScopes("reg.example.com/team/app:1").join() ===
 *   "reg.example.com/team/app:1,reg.example.com/team/app,reg.example.com/team,reg.example.com,*.example.com,*.com");
 * ```
 */
export function dockerScopes(reference: string): string[] {
  const ref = parseRegistryReference(reference);
  const repo = `${ref.registry}/${ref.path}`;
  const scopes = [ref.digest ? `${repo}@${ref.digest}` : `${repo}:${ref.tag}`];
  const parts = repo.split("/");
  for (let n = parts.length; n >= 1; n--) scopes.push(parts.slice(0, n).join("/"));
  const host = ref.registry.replace(/:\d+$/, "").split(".");
  for (let i = 1; i < host.length; i++) scopes.push(`*.${host.slice(i).join(".")}`);
  return scopes;
}

/** The scopes of an archive: its absolute path, then each parent directory. */
export function pathScopes(path: string): string[] {
  const scopes: string[] = [];
  let p = path.replace(/\/+$/, "");
  // Bounded: each turn removes one path component.
  while (p.length > 0) {
    scopes.push(p);
    p = p.slice(0, p.lastIndexOf("/"));
  }
  scopes.push("/");
  return scopes;
}
