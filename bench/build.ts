/**
 * Benchmark: `servin build` against `buildah bud --layers --runtime runc` on
 * the same Containerfile, base image (a static busybox, imported by servin,
 * saved as an OCI archive and pulled into a throwaway buildah root with
 * overlay storage, buildah's default) and context (400 small files and one of 8 MiB): a cold build
 * (`--no-cache`) and a cached rebuild (every step a cache hit), interleaved
 * over N rounds (3 by default) in a rotating order; prints medians and the
 * ratios. Goals: cached rebuild ≤ 0.5× buildah's, cold build ≤ 1.0×.
 *
 * Usage: `deno run -A bench/build.ts [--rounds N]` (as root, with runc,
 * busybox and buildah).
 *
 * @module
 */

import { join } from "node:path";
import {
  busyboxTarball,
  parseOptions,
  printResults,
  printVersions,
  REPO,
  requireTools,
  run,
  runLine,
  runMain,
  timeCases,
} from "./_common.ts";

const CONTAINERFILE = `ARG BASE
FROM \${BASE}
ENV APP=/app
WORKDIR /app
COPY src/ ./src/
RUN cat src/*.txt > all.txt && wc -c all.txt
COPY big.bin /data/big.bin
RUN mkdir -p /out && cp -r /app/src /out/ && echo built > /out/stamp
LABEL org.example.bench=build
USER root
CMD ["sh"]
`;

async function main(): Promise<void> {
  const { rounds } = parseOptions({ defaultRounds: 3, removeEach: false });
  requireTools(["runc", "busybox", "buildah"]);
  const dir = await Deno.makeTempDir({ prefix: "servin-bench-build-" });
  const servin = [Deno.execPath(), "run", "-A", join(REPO, "main.ts"), "--root", join(dir, "root")];
  const buildah = [
    "buildah",
    "--root",
    join(dir, "buildah"),
    "--runroot",
    join(dir, "buildah-run"),
    "--storage-driver",
    "overlay",
  ];
  try {
    const bb = await busyboxTarball(dir, ["sh", "cat", "wc", "mkdir", "cp", "echo"]);
    await runLine(servin, "import", bb, "bb:1");
    await runLine(servin, "save", "--format", "oci-archive", "-o", join(dir, "bb-oci.tar"), "bb:1");
    const pulled = (await runLine(buildah, "pull", "-q", `oci-archive:${join(dir, "bb-oci.tar")}`))
      .stdout.trim().split("\n").at(-1)!;
    await runLine(buildah, "tag", pulled, "localhost/bb:1");

    const ctx = join(dir, "ctx");
    await Deno.mkdir(join(ctx, "src"), { recursive: true });
    for (let i = 0; i < 400; i++) {
      await Deno.writeTextFile(join(ctx, "src", `f${i}.txt`), `file ${i}\n`.repeat(20));
    }
    const big = new Uint8Array(8 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
    await Deno.writeFile(join(ctx, "big.bin"), big);
    await Deno.writeTextFile(join(ctx, "Containerfile"), CONTAINERFILE);

    const servinBuild = (...flags: string[]) =>
      runLine(servin, "build", "-q", ...flags, "--build-arg", "BASE=bb:1", "-t", "out:1", ctx);
    const buildahBuild = (...flags: string[]) =>
      runLine(
        buildah,
        "bud",
        "-q",
        "--layers",
        "--runtime",
        "runc",
        "--ulimit",
        "nofile=1024:1024",
        ...flags,
        "--build-arg",
        "BASE=localhost/bb:1",
        "-t",
        "localhost/out:1",
        ctx,
      );
    const cases = [
      { name: "servin cold", go: () => servinBuild("--no-cache") },
      { name: "buildah cold", go: () => buildahBuild("--no-cache") },
      { name: "servin cached", go: () => servinBuild() },
      { name: "buildah cached", go: () => buildahBuild() },
    ];
    // Warm-up: fills both caches, so that "cached" rounds hit every step.
    await servinBuild();
    await buildahBuild();
    const times = await timeCases(cases, rounds);
    console.log("\n`build` of the same Containerfile and context:");
    const cold = new Map([...times].filter(([k]) => k.endsWith("cold")));
    const cached = new Map([...times].filter(([k]) => k.endsWith("cached")));
    printResults(cold, rounds, { buildah: "buildah cold" });
    printResults(cached, rounds, { buildah: "buildah cached" });
    const load = (await run("uptime", [])).stdout.trim();
    await printVersions(["runc", "buildah"], [`uptime: ${load}`]);
  } finally {
    await runLine(buildah, "rm", "--all").catch(() => {});
    await runLine(buildah, "rmi", "--all", "--force").catch(() => {});
    await run("rm", ["-rf", dir]).catch(() => {});
  }
}

if (import.meta.main) await runMain(main);
