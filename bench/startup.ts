/**
 * Benchmark: start-up. `servin image ls` on an empty root against a bare
 * `deno eval 1`, the floor any Deno program starts from; `deno run` of an
 * empty module is shown too, for what loading a module graph adds.
 *
 * 1. Makes an empty root and runs `servin image ls` once, untimed, so that
 *    the store's directories exist and Deno's transpile cache is warm.
 * 2. Times, interleaved over N rounds (15 by default) in a rotating order,
 *    each command as a spawned process.
 * 3. Prints median / min / max wall times and the ratio of the medians. The
 *    target is servin median <= 1.3x `deno eval 1`; this is a report, so it
 *    exits 0 whether or not the target is met (but non-zero when a command
 *    fails, or when `image ls` prints anything but the header).
 *
 * Usage: `deno run -A bench/startup.ts [--rounds N]`.
 *
 * @module
 */

import * as common from "./_common.ts";

const TARGET = 1.3;

interface Case {
  name: string;
  args: string[];
}

async function main(): Promise<void> {
  const { rounds } = common.parseOptions({ defaultRounds: 15, removeEach: false });
  const root = await Deno.makeTempDir({ prefix: "servin-bench-startup-" });
  const empty = `${root}-empty.ts`;
  await Deno.writeTextFile(empty, "");
  const env = { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" };
  const servin: Case = {
    name: "servin image ls",
    args: ["run", "--cached-only", "-A", `${common.REPO}/main.ts`, "--root", root, "image", "ls"],
  };
  const cases: Case[] = [
    servin,
    { name: "deno eval 1", args: ["eval", "1"] },
    { name: "deno run (empty module)", args: ["run", "--cached-only", empty] },
  ];
  try {
    for (const c of cases) await common.run(Deno.execPath(), c.args, { env }); // warm-up, untimed
    const times = new Map(cases.map((c) => [c.name, [] as number[]]));
    for (let round = 0; round < rounds; round++) {
      for (const c of common.rotated(cases, round)) {
        const ran = await common.run(Deno.execPath(), c.args, { env });
        if (c === servin && ran.stdout.trim() !== "REPOSITORY   TAG   IMAGE ID   CREATED   SIZE") {
          throw new common.CommandFailed(
            `servin image ls printed more than the header:\n${ran.stdout}`,
          );
        }
        times.get(c.name)!.push(ran.ms);
      }
    }
    const medians = common.printResults(times, rounds, { "deno eval 1": "deno eval 1" }, {
      first: "command",
      unit: "ms",
      digits: 1,
    });
    common.printTarget(
      medians.get(servin.name)! / medians.get("deno eval 1")!,
      TARGET,
      "deno eval 1",
    );
    const load = Deno.loadavg().map((n) => n.toFixed(2)).join(", ");
    console.log(`Load average while measuring: ${load}`);
    await common.printVersions([]);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(empty);
  }
}

await common.runMain(main);
