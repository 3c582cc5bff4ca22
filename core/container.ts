/**
 * The container model: the record kept in `<root>/containers/index.json`,
 * how a name resolves to a container, and container names.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import { ServinError } from "./errors.ts";
import { MIN_PREFIX_LENGTH, shortId } from "./image.ts";

/**
 * A container's life: created, running, or exited with a code. `dead` is
 * never stored: it is how a container marked running shows when no process
 * runs it any more (the one that did was killed).
 */
export type ContainerStatus = "created" | "running" | "exited" | "dead";

/** How the container's process runs, resolved at create time. */
export interface ProcessSpec {
  /** Command and arguments (entrypoint + cmd, or the user's command). */
  args: string[];
  /** Environment, `KEY=value`. */
  env: string[];
  /** Working directory. */
  cwd: string;
  /** User as given (`-u` or the image's). */
  user: string;
  /** Resolved numeric ids. */
  uid: number;
  /** Resolved numeric ids. */
  gid: number;
  /** Supplementary groups from the image's `/etc/group`. */
  additional_gids: number[];
  /** Allocate a terminal (`-t`). */
  tty: boolean;
  /** Keep stdin open (`-i`). */
  interactive: boolean;
}

/** One container in `containers/index.json`. */
export interface ContainerRecord {
  /** Random 64-hex ID. */
  id: string;
  /** Unique name. */
  name: string;
  /** The image as the user named it. */
  image: string;
  /** The image's ID, or empty for a fallback rootfs. */
  image_id: string;
  /** Layer diff_ids the rootfs is made of, lowest first (kept from removal while the container lives). */
  layers: string[];
  /** Creation time, RFC 3339. */
  created: string;
  /** Status. */
  status: ContainerStatus;
  /** Exit code once exited. */
  exit_code?: number;
  /** When the process last started, RFC 3339. */
  started_at?: string;
  /** When the process last exited, RFC 3339. */
  finished_at?: string;
  /** Snapshotter that made the rootfs (`overlay`, `copy`). */
  snapshotter: string;
  /** OCI runtime that runs it (`runc`, `crun`). */
  runtime: string;
  /** OCI runtime bundle directory (holds `config.json` and `rootfs/`). */
  bundle: string;
  /** Process configuration. */
  process: ProcessSpec;
  /** Hostname. */
  hostname: string;
  /** `host` to share the host's network namespace, else `none`. */
  network: "none" | "host";
  /** Remove when the process exits (`--rm`). */
  auto_remove: boolean;
  /** Started detached; output goes to the log file. */
  detached: boolean;
  /** True when the image was not found and a basic rootfs was built instead. */
  fallback: boolean;
}

/** A fresh random container ID. */
export function newContainerId(): string {
  return randomBytes(32).toString("hex");
}

const ADJECTIVES = [
  "brave",
  "calm",
  "eager",
  "fond",
  "gentle",
  "happy",
  "keen",
  "lucid",
  "merry",
  "nimble",
  "proud",
  "quiet",
  "sharp",
  "tender",
  "vivid",
  "witty",
];
const NOUNS = [
  "babbage",
  "curie",
  "darwin",
  "euler",
  "fermat",
  "gauss",
  "hopper",
  "kepler",
  "lovelace",
  "noether",
  "pascal",
  "ritchie",
  "shannon",
  "thompson",
  "turing",
  "wozniak",
];

/** A Docker-style random name (`eager_turing`) not in `taken`. */
export function randomName(taken: ReadonlySet<string>): string {
  for (let i = 0; i < 1000; i++) {
    const [a, n] = randomBytes(2);
    const name = `${ADJECTIVES[a! % ADJECTIVES.length]}_${NOUNS[n! % NOUNS.length]}`;
    const candidate = i < 100 ? name : `${name}${i}`;
    if (!taken.has(candidate)) return candidate;
  }
  throw new ServinError("internal", "Cannot find a free container name");
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Checks a user-given container name (Docker's rule). */
export function checkContainerName(name: string): string {
  if (!NAME.test(name) || name.length > 128) {
    throw new ServinError(
      "invalid-argument",
      `Invalid container name "${name}": use letters, digits, "_", "." and "-", starting with a letter or digit`,
    );
  }
  return name;
}

/** Finds a container by name, full ID or unique ID prefix (≥ 4 characters). */
export function resolveContainer(
  containers: readonly ContainerRecord[],
  name: string,
): ContainerRecord {
  const byName = containers.find((c) => c.name === name);
  if (byName) return byName;
  if (name.length >= MIN_PREFIX_LENGTH && /^[0-9a-f]+$/.test(name)) {
    const matches = containers.filter((c) => c.id.startsWith(name));
    if (matches.length > 1) {
      throw new ServinError(
        "ambiguous",
        `Container ID prefix "${name}" is ambiguous: it matches ${
          matches.map((c) => shortId(c.id)).join(", ")
        }`,
      );
    }
    if (matches[0]) return matches[0];
  }
  throw new ServinError("not-found", `No such container: ${name}`);
}
