/**
 * Benchmark: containers. `servin run --rm IMAGE true` end to end against
 * `podman run --rm --runtime runc` on the same image (a static busybox,
 * saved by servin and loaded into a throwaway podman root), and the memory a
 * detached container's supervisor keeps: the RSS of each container's conmon
 * under servin, against the Deno monitor process servin used before (run
 * from `SERVIN_BEFORE=DIR`, a checkout of the earlier Servin, when set).
 *
 * 1. Builds the image, imports it into a fresh servin root, saves it as a
 *    docker-archive and loads that into podman (its own root and runroot,
 *    vfs storage, so nothing of the host's podman is touched).
 * 2. Times, interleaved over N rounds (10 by default) in a rotating order,
 *    `servin run --rm` and `podman run --rm` of `true`; prints medians and
 *    the ratio.
 * 3. Starts 5 detached `sleep` containers and sums the RSS of their
 *    supervisors (VmRSS of each conmon); removes them.
 *
 * Usage: `[SERVIN_BEFORE=DIR] deno run -A bench/containers.ts [--rounds N]`
 * (as root, with runc, conmon, busybox and podman).
 *
 * @module
 */

import { join } from "node:path";
import {
  busyboxTarball,
  CommandFailed,
  parseOptions,
  printResults,
  printVersions,
  REPO,
  requireTools,
  runLine,
  runMain,
  timeCases,
} from "./_common.ts";

const DETACHED = 5;

function rssKiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
}

function pgrep(pattern: string): number[] {
  const out = new Deno.Command("pgrep", { args: ["-f", pattern], stdout: "piped" }).outputSync();
  return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean).map(Number);
}

/** RSS of the supervisors of `count` detached containers started by `servin` (a command line). */
async function supervisorRss(servin: string[], root: string, pattern: string): Promise<number> {
  const ids: string[] = [];
  try {
    for (let i = 0; i < DETACHED; i++) {
      const ran = await runLine(servin, "--root", root, "run", "-d", "bb:1", "sleep", "600");
      ids.push(ran.stdout.trim());
    }
    let total = 0;
    for (const id of ids) {
      const pids = pgrep(`${pattern}.*${id}`);
      if (pids.length === 0) throw new CommandFailed(`no supervisor found for ${id}`);
      for (const pid of pids) total += rssKiB(pid);
    }
    return total / DETACHED;
  } finally {
    for (const id of ids) {
      await runLine(servin, "--root", root, "rm", "-f", id).catch(() => {});
    }
  }
}

async function main(): Promise<void> {
  const { rounds } = parseOptions({ defaultRounds: 10, removeEach: false });
  const before = Deno.env.get("SERVIN_BEFORE") || undefined;
  requireTools(["runc", "conmon", "busybox", "podman"]);
  const dir = await Deno.makeTempDir({ prefix: "servin-bench-ctr-" });
  const servin = [Deno.execPath(), "run", "-A", join(REPO, "main.ts")];
  const root = join(dir, "root");
  const podman = [
    "podman",
    "--root",
    join(dir, "podman"),
    "--runroot",
    join(dir, "podman-run"),
    "--storage-driver",
    "vfs",
    "--cgroup-manager",
    "cgroupfs",
    "--events-backend",
    "none",
  ];
  try {
    await busyboxTarball(dir, ["sh", "true", "sleep"]);
    await runLine(servin, "--root", root, "import", join(dir, "bb.tar"), "bb:1");
    const archive = join(dir, "bb-archive.tar");
    await runLine(
      servin,
      "--root",
      root,
      "save",
      "--format",
      "docker-archive",
      "-o",
      archive,
      "bb:1",
    );
    await runLine(podman, "load", "-i", archive);
    // --ulimit: podman's default RLIMIT_NOFILE and RLIMIT_NPROC are above this host's hard limit.
    const podmanRun = [
      "run",
      "--rm",
      "--runtime",
      "runc",
      "--ulimit",
      "nofile=1024:1024",
      "--ulimit",
      "nproc=4096:4096",
    ];
    const cases = [
      { name: "servin", cmd: servin, args: ["--root", root, "run", "--rm", "bb:1", "true"] },
      { name: "podman", cmd: podman, args: [...podmanRun, "localhost/bb:1", "true"] },
    ];
    // Each with its default network (a bridge as root), then both without one.
    for (const c of [...cases]) {
      const none = [...c.args.slice(0, -2), "--network", "none", ...c.args.slice(-2)];
      cases.push({ name: `${c.name} (none)`, cmd: c.cmd, args: none });
    }
    for (const c of cases) await runLine(c.cmd, ...c.args); // warm-up
    const times = await timeCases(
      cases.map((c) => ({ name: c.name, go: () => runLine(c.cmd, ...c.args) })),
      rounds,
    );
    console.log("\n`run --rm IMAGE true`, end to end:");
    printResults(times, rounds, { podman: "podman", "podman (none)": "podman (none)" });

    const now = await supervisorRss(servin, root, "conmon .*-c");
    console.log(`\nSupervisor RSS per detached container (conmon): ${(now / 1024).toFixed(1)} MiB`);
    if (before) {
      const old = [Deno.execPath(), "run", "-A", join(before, "main.ts")];
      const oldRoot = join(dir, "before");
      await runLine(old, "--root", oldRoot, "import", join(dir, "bb.tar"), "bb:1");
      const was = await supervisorRss(old, oldRoot, "container monitor");
      console.log(`Before (a Deno monitor per container): ${(was / 1024).toFixed(1)} MiB`);
    }
    await printVersions(["runc", "conmon", "podman"]);
  } finally {
    await runLine(podman, "system", "reset", "-f").catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await runMain(main);
