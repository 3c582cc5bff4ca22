/**
 * What the platform plugins share: the OCI names of the host architecture
 * and the home directory lookup.
 *
 * @module
 */

import { join } from "node:path";
import { ServinError } from "../../core/errors.ts";

const ARCH: Record<string, string> = { x86_64: "amd64", aarch64: "arm64" };

/** OCI `architecture` of the host (`amd64`, `arm64`). */
export function ociArchitecture(): string {
  return ARCH[Deno.build.arch] ?? Deno.build.arch;
}

/** The user's home directory from `variable`, or a clear error. */
export function homeDir(variable: "HOME" | "USERPROFILE"): string {
  const home = Deno.env.get(variable);
  if (!home) {
    throw new ServinError(
      "invalid-argument",
      `Cannot find the home directory: ${variable} is not set (use --root or SERVIN_ROOT)`,
    );
  }
  return home;
}

/** `~/.servin`, the data root on Windows and macOS. */
export function dotServin(variable: "HOME" | "USERPROFILE"): string {
  return join(homeDir(variable), ".servin");
}

/** Finds the executable `name` on PATH (shared by the plugins that run host tools). */
export function which(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    const path = join(dir || ".", name);
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* not here */ }
  }
  return undefined;
}
