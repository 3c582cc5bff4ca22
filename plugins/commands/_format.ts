/**
 * Output helpers for people: Docker's humanized sizes and durations, and
 * aligned tables.
 *
 * @module
 */

import { DEFAULT_TAG } from "../../core/reference.ts";

const UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];

/**
 * Size in SI units with 3 significant digits, as `docker image ls` shows it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { humanSize } from "./_format.ts";
 * assert(humanSize(5_872_640) === "5.87MB");
 * ```
 */
export function humanSize(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  let text = trimPrecision(value);
  if (text === "1000" && unit < UNITS.length - 1) {
    text = "1";
    unit++;
  }
  return `${text}${UNITS[unit]}`;
}

function trimPrecision(value: number): string {
  const fixed = Number(value.toPrecision(3));
  return String(fixed);
}

/**
 * How long ago, as `docker image ls` says it ("2 hours", "About a minute").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { humanDuration } from "./_format.ts";
 * assert(humanDuration(90_000) === "About a minute");
 * ```
 */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

/** "2 hours ago" for an RFC 3339 time, relative to `now`. */
export function humanAgo(created: string, now: Date = new Date()): string {
  return `${humanDuration(now.getTime() - new Date(created).getTime())} ago`;
}

/** Lays out rows under a header with columns separated by at least three spaces. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3)).join("")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** Splits `repository:tag` for display. */
export function splitTag(tag: string): { repository: string; tag: string } {
  const slash = tag.lastIndexOf("/");
  const colon = tag.lastIndexOf(":");
  if (colon <= slash) return { repository: tag, tag: DEFAULT_TAG };
  return { repository: tag.slice(0, colon), tag: tag.slice(colon + 1) };
}

/**
 * Docker's PORTS words of a running container: `0.0.0.0:8080->80/tcp`, comma-separated.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { portsText } from "./_format.ts";
 * const ports = [{ host_ip: "", host_port: 8080, container_port: 80, protocol: "tcp" }];
 * assert(portsText({ endpoint: { ports } }) === "0.0.0.0:8080->80/tcp");
 * ```
 */
export function portsText(
  c: { endpoint?: { ports: PortLike[] } },
): string {
  return (c.endpoint?.ports ?? [])
    .map((p) => `${p.host_ip || "0.0.0.0"}:${p.host_port}->${p.container_port}/${p.protocol}`)
    .join(", ");
}

/** A published port as {@link portsText} reads it. */
export interface PortLike {
  /** Host address (empty: every address). */
  host_ip: string;
  /** Host port. */
  host_port: number;
  /** Container port. */
  container_port: number;
  /** `tcp`, `udp` or `sctp`. */
  protocol: string;
}
