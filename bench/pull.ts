/**
 * Benchmark: `servin image pull` against `podman pull` and `skopeo copy` from a
 * registry on loopback.
 *
 * 1. Reuses the docker-archive `bench/.cache/load.tar` of `bench/load.ts` (a Debian
 *    root filesystem of at least 150 MB in five layers); when it is missing, runs
 *    `bench/load.ts --rounds 1` once to build it. Starts Debian's `docker-registry`
 *    (the CNCF distribution registry) on 127.0.0.1 with a free port, its own config
 *    and its storage in a temporary directory, and pushes the archive to it once
 *    with `skopeo copy`, which gzip-compresses the layers as registries usually
 *    serve them. The registry is stopped at the end, also when something fails.
 *    Missing tools (docker-registry, skopeo, podman) are installed with apt-get.
 * 2. Times, interleaved over N rounds with a rotating order, each into a fresh empty
 *    store and after an untimed `sync`: `servin image pull -q` into a fresh
 *    `SERVIN_ROOT`, `podman pull` into a fresh `--root` and `--runroot` (overlay
 *    storage driver, vfs when overlay fails), and `skopeo copy` into a fresh OCI
 *    layout, which only downloads and so is the floor. The fresh directories are
 *    made untimed and removed (podman's after `podman system reset -f`), untimed,
 *    after the last round, for the reason `bench/load.ts` gives: on ext4 without a
 *    journal, recently freed inodes make the next writes slower and noisier.
 *    `--remove-each` removes each directory right after its pull instead.
 * 3. Prints median / min / max wall times, the servin/podman and servin/skopeo
 *    ratios, servin's peak RSS and the tool versions. The target is servin median
 *    <= 0.5x podman median; this is a report, so it exits 0 whether or not the
 *    target is met (but non-zero when a command fails, or when servin or podman
 *    does not report the pushed image's ID).
 * 4. Push: times, over the same N rounds with a rotating order, `servin image push`
 *    and `podman push --tls-verify=false` of the same image — the archive loaded
 *    (untimed) into a fresh store by each tool, its layers stored uncompressed —
 *    each to a registry of its own started (untimed) for that push on a fresh port
 *    and storage, so that neither finds a blob there or a location in its caches:
 *    both gzip every layer while uploading it (checked: the registry's manifest has
 *    gzip layers and the image's config). Prints the medians and servin/podman.
 *
 * Usage: `deno run -A bench/pull.ts [--rounds N] [--remove-each]` (N = 5 by default).
 * The servin pulls run with `DENO_NO_UPDATE_CHECK=1`, so that deno does not look up
 * dl.deno.land while timed (`runMain` sets it for this script too).
 *
 * @module
 */

import {
  CACHE,
  Cleanup,
  CommandFailed,
  ensureTools,
  exists,
  humanSize,
  mib,
  outputOf,
  parseOptions,
  peakRss,
  podmanStorage,
  podmanTool,
  printPeakRss,
  printResults,
  printServinStderr,
  printTarget,
  printVersions,
  type Ran,
  readJson,
  removeQuietly,
  rotated,
  run,
  runFresh,
  runMain,
  runSynced,
  timeRounds,
  type Tool,
  type TreeInfo,
} from "./_common.ts";

/** servin's median must be at most this multiple of podman's median. */
const TARGET_RATIO = 0.5;

/** The docker-archive that `bench/load.ts` builds and caches. */
const ARCHIVE = `${CACHE}/load.tar`;
const ARCHIVE_INFO = `${CACHE}/load.json`;
/** The repository and tag the archive is pushed to. */
const REPOSITORY = "bench/pull";
const TAG = "latest";
/**
 * For every spawned deno: its update check would otherwise look up dl.deno.land on each
 * run, in a background thread, and nothing but 127.0.0.1 should be contacted.
 */
const NO_UPDATE_CHECK = { DENO_NO_UPDATE_CHECK: "1" };
const MANIFEST_TYPES = [
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
];

/** What `bench/load.ts` records about its archive (the fields used here). */
interface ArchiveInfo extends TreeInfo {
  archiveLayers: number;
}

/** The pushed image as the registry serves it. */
interface Pushed {
  /** `host:port/repository:tag` */
  reference: string;
  /** The config digest, which is the image ID. */
  id: string;
  mediaType: string;
  layers: { mediaType: string; size: number }[];
  seconds: number;
}

/** A running registry. */
interface Registry {
  host: string;
  /** Everything the registry has written to stdout and stderr so far. */
  log(): string;
  /** How it exited, once it has. */
  exited(): Deno.CommandStatus | undefined;
  /** Stops it (SIGTERM, then SIGKILL after 5 s) and waits for it; safe to call twice. */
  stop(): Promise<void>;
}

/** Returns the description of `bench/load.ts`'s archive, running that benchmark once to build it. */
async function ensureArchive(): Promise<ArchiveInfo> {
  if (!exists(ARCHIVE) || !exists(ARCHIVE_INFO)) {
    console.log(`${ARCHIVE} is missing: running bench/load.ts --rounds 1 to build it ...`);
    const ran = await run(Deno.execPath(), ["run", "-A", "bench/load.ts", "--rounds", "1"], {
      env: NO_UPDATE_CHECK,
    });
    if (!exists(ARCHIVE) || !exists(ARCHIVE_INFO)) {
      throw new CommandFailed(`bench/load.ts did not build ${ARCHIVE}:\n${ran.stdout}`);
    }
  }
  return await readJson<ArchiveInfo>(ARCHIVE_INFO);
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The last `count` lines of `text`, indented. */
function tail(text: string, count = 20): string {
  const lines = text.trimEnd().split("\n");
  return lines.slice(-count).map((line) => `  ${line}`).join("\n");
}

/**
 * The registry's output without the 404s it logs, at level error, for the HEAD
 * requests with which skopeo checks for each blob before uploading it.
 */
function registryLog(registry: Registry, from = 0): string {
  return registry.log().slice(from).split("\n")
    .filter((line) => line.trim() && !line.includes('err.code="blob unknown"')).join("\n");
}

/**
 * Starts docker-registry on 127.0.0.1 with a free port, storage under `dir`, and
 * waits until it answers `/v2/`.
 */
async function startRegistry(dir: string): Promise<Registry> {
  const port = freePort();
  const config = `${dir}/config.yml`;
  await Deno.writeTextFile(
    config,
    `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${dir}/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
`,
  );
  const child = new Deno.Command("docker-registry", {
    args: ["serve", config],
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Read both pipes to the end: the registry dies of SIGPIPE when a pipe it writes to closes.
  let log = "";
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) log += chunk;
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exited: Deno.CommandStatus | undefined;
  const status = child.status.then((status) => {
    exited = status;
    return status;
  });
  let stopping: Promise<void> | undefined;
  const registry: Registry = {
    host: `127.0.0.1:${port}`,
    log: () => log,
    exited: () => exited,
    stop() {
      stopping ??= (async () => {
        if (!exited) {
          try {
            child.kill("SIGTERM");
          } catch {
            // already gone
          }
          const timer = setTimeout(() => {
            try {
              child.kill("SIGKILL");
            } catch {
              // already gone
            }
          }, 5_000);
          await status;
          clearTimeout(timer);
        }
        await drained.catch(() => {});
      })();
      return stopping;
    },
  };
  const deadline = performance.now() + 10_000;
  while (true) {
    try {
      const response = await fetch(`http://${registry.host}/v2/`);
      await response.body?.cancel();
      if (response.ok) return registry;
    } catch {
      // not listening yet
    }
    if (exited || performance.now() > deadline) {
      await registry.stop();
      const why = exited ? `exited with code ${(await status).code}` : "did not answer in 10 s";
      throw new CommandFailed(`docker-registry ${why}; its output:\n${tail(log)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Pushes the archive to the registry with skopeo and reads back the manifest it serves. */
async function push(registry: Registry): Promise<Pushed> {
  const reference = `${registry.host}/${REPOSITORY}:${TAG}`;
  const ran = await run("skopeo", [
    "copy",
    "--quiet",
    "--dest-tls-verify=false",
    `docker-archive:${ARCHIVE}`,
    `docker://${reference}`,
  ]);
  const response = await fetch(`http://${registry.host}/v2/${REPOSITORY}/manifests/${TAG}`, {
    headers: { accept: MANIFEST_TYPES.join(", ") },
  });
  if (!response.ok) {
    throw new CommandFailed(
      `GET ${reference}'s manifest answered ${response.status}: ${await response.text()}`,
    );
  }
  const manifest = await response.json() as {
    mediaType?: string;
    config: { digest: string };
    layers: { mediaType: string; size: number }[];
  };
  return {
    reference,
    id: manifest.config.digest,
    mediaType: manifest.mediaType ?? response.headers.get("content-type") ?? "unknown",
    layers: manifest.layers,
    seconds: ran.seconds,
  };
}

/** The servin tool. */
function servinTool(reference: string): Tool {
  return {
    name: "servin",
    command: (dir) => ({
      cmd: Deno.execPath(),
      args: ["run", "-A", "main.ts", "image", "pull", "-q", reference],
      env: { SERVIN_ROOT: dir, ...NO_UPDATE_CHECK },
    }),
  };
}

/** The skopeo tool: a download into a fresh OCI layout. */
function skopeoTool(reference: string): Tool {
  return {
    name: "skopeo",
    command: (dir) => ({
      cmd: "skopeo",
      args: [
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        `docker://${reference}`,
        `oci:${dir}/oci:x`,
      ],
    }),
  };
}

/** Checks that `tool` printed the pushed image's ID as the last line of its stdout. */
function checkId(tool: Tool, ran: Ran, id: string): void {
  const last = ran.stdout.trimEnd().split("\n").at(-1)?.trim() ?? "";
  if (last === id || `sha256:${last}` === id) return;
  throw new CommandFailed(
    `${tool.name} did not print the image ID ${id}\n${outputOf(ran)}`,
  );
}

/** A push tool: `prepare(dir)` (untimed) loads the archive into a store under `dir`. */
interface PushTool {
  name: string;
  prepare(dir: string): Promise<void>;
  push(
    dir: string,
    destination: string,
  ): { cmd: string; args: string[]; env?: Record<string, string> };
  cleanup?(dir: string): Promise<void>;
}

/** The image name the archive's `manifest.json` gives (`RepoTags[0]`), as both tools load it. */
const LOADED = "docker.io/bench/load:latest";

function servinPush(): PushTool {
  const env = (dir: string) => ({ SERVIN_ROOT: `${dir}/servin`, ...NO_UPDATE_CHECK });
  return {
    name: "servin",
    prepare: async (dir) => {
      await run(Deno.execPath(), ["run", "-A", "main.ts", "load", "-q", "-i", ARCHIVE], {
        env: env(dir),
      });
    },
    push: (dir, destination) => ({
      cmd: Deno.execPath(),
      args: ["run", "-A", "main.ts", "image", "push", "-q", LOADED, destination],
      env: env(dir),
    }),
  };
}

function podmanPush(driver: string): PushTool {
  const global = (dir: string) => podmanStorage(dir, driver);
  return {
    name: `podman (${driver})`,
    prepare: async (dir) => {
      await run("podman", [...global(dir), "load", "-q", "-i", ARCHIVE]);
    },
    push: (dir, destination) => ({
      cmd: "podman",
      args: [...global(dir), "push", "-q", "--tls-verify=false", LOADED, destination],
    }),
    cleanup: async (dir) => {
      if (exists(`${dir}/root`)) await run("podman", [...global(dir), "system", "reset", "-f"]);
    },
  };
}

/**
 * One timed push by `tool`: a fresh store with the archive loaded, a fresh
 * registry (both untimed); checks that the registry got gzip layers and the
 * image's config. Returns the wall time and the bytes of the pushed layers.
 */
async function timePush(tool: PushTool, id: string): Promise<{ seconds: number; bytes: number }> {
  const dir = await Deno.makeTempDir({ prefix: "servin-bench-push-" });
  let registry: Registry | undefined;
  try {
    await tool.prepare(dir);
    registry = await startRegistry(`${dir}`);
    const destination = `${registry.host}/${REPOSITORY}:push`;
    const { cmd, args, env } = tool.push(dir, destination);
    const ran = await runSynced(cmd, args, { env });
    const response = await fetch(`http://${registry.host}/v2/${REPOSITORY}/manifests/push`, {
      headers: { accept: MANIFEST_TYPES.join(", ") },
    });
    const manifest = await response.json() as {
      config: { digest: string };
      layers: { mediaType: string; size: number }[];
    };
    if (
      manifest.config?.digest !== id || !manifest.layers.every((l) => /gzip$/.test(l.mediaType))
    ) {
      throw new CommandFailed(
        `${tool.name} did not push ${id} with gzip layers: ${JSON.stringify(manifest)}`,
      );
    }
    return { seconds: ran.seconds, bytes: manifest.layers.reduce((n, l) => n + l.size, 0) };
  } finally {
    await registry?.stop();
    await tool.cleanup?.(dir).catch(() => {});
    await removeQuietly(dir);
  }
}

/** Times servin's and podman's gzip pushes of the loaded archive, and prints the results. */
async function benchPush(rounds: number, id: string): Promise<void> {
  console.log(`
Push: ${ARCHIVE} loaded into each tool, pushed to a fresh registry each time`);
  let podman = podmanPush("overlay");
  try {
    await timePush(podman, id); // probe, and warm up
  } catch (err) {
    if (!(err instanceof CommandFailed)) throw err;
    console.log(`Note: podman overlay failed; using vfs.\n${err.message}`);
    podman = podmanPush("vfs");
  }
  const servin = servinPush();
  await timePush(servin, id); // warm up deno's module cache
  const times = new Map<string, number[]>([[servin.name, []], [podman.name, []]]);
  const sizes = new Map<string, number>();
  for (let round = 0; round < rounds; round++) {
    const line: string[] = [];
    for (const tool of rotated([servin, podman], round)) {
      const { seconds, bytes } = await timePush(tool, id);
      times.get(tool.name)!.push(seconds);
      sizes.set(tool.name, bytes);
      line.push(`${tool.name} ${seconds.toFixed(2)}s`);
    }
    console.log(`Round ${round + 1}/${rounds}: ${line.join(", ")}`);
  }
  const medians = printResults(times, rounds, { podman: podman.name });
  for (const [name, bytes] of sizes) console.log(`  ${name} pushed ${mib(bytes)} of gzip layers`);
  const ratio = medians.get(servin.name)! / medians.get(podman.name)!;
  console.log(`\nservin/podman (gzip push): ${ratio.toFixed(2)}x`);
}

/** Pushes the image to `registry`, times the pulls from it and prints the results. */
async function bench(
  registry: Registry,
  rounds: number,
  removeEach: boolean,
): Promise<void> {
  console.log(`Pushing ${ARCHIVE} to ${registry.host} with skopeo ...`);
  const logBeforePush = registry.log().length;
  const pushed = await push(registry);
  const compressed = pushed.layers.reduce((sum, layer) => sum + layer.size, 0);
  console.log(`  pushed:  ${pushed.reference} in ${pushed.seconds.toFixed(1)} s`);
  console.log(`  image:   ${pushed.id}`);
  console.log(`  type:    ${pushed.mediaType}`);
  console.log(
    `  layers:  ${pushed.layers.length}, ${mib(compressed)} as served ` +
      `(${
        [...new Set(pushed.layers.map((layer) => layer.mediaType.split(".").at(-1)))]
          .join(", ")
      }):`,
  );
  for (const [i, layer] of pushed.layers.entries()) {
    console.log(`    ${i + 1}. ${humanSize(layer.size).padStart(10)}`);
  }
  const pushLog = registryLog(registry, logBeforePush);
  if (pushLog) console.log(`The registry logged during the push:\n${tail(pushLog)}`);
  const logBeforePulls = registry.log().length;

  // The fresh directories are removed right away with --remove-each, else after the last round.
  const cleanup = new Cleanup(removeEach);
  console.log(
    removeEach
      ? "\nRemoving each pull's directory right after timing it (--remove-each).\n"
      : "\nKeeping each pull's directory until after the last round (see --remove-each).\n",
  );
  const servin = servinTool(pushed.reference);
  const skopeo = skopeoTool(pushed.reference);
  let podman: Tool;
  let rss: string | undefined;
  let times: Map<string, number[]>;
  // servin's runs, for what it wrote to stderr.
  const servinRuns: Ran[] = [];
  try {
    podman = await podmanTool(["pull", "--tls-verify=false", pushed.reference], {
      cleanup,
      reset: true,
    });

    // Untimed warm-ups: deno's module cache, and the page cache for the registry's blobs
    // (podman was warmed up by its probe). servin's doubles as the peak-RSS measurement.
    const warmUp = await peakRss(servin, cleanup);
    rss = warmUp.rss;
    const checked: [Tool, Ran][] = [[servin, warmUp.ran]];
    await runFresh(skopeo, cleanup);

    times = await timeRounds([servin, podman, skopeo], rounds, cleanup, (tool, ran) => {
      if (tool !== skopeo) checked.push([tool, ran]);
    });
    for (const [tool, ran] of checked) {
      checkId(tool, ran, pushed.id);
      if (tool === servin) servinRuns.push(ran);
    }
  } finally {
    await cleanup.flush();
  }

  const medians = printResults(times, rounds, { podman: podman.name, skopeo: skopeo.name });

  const ratio = medians.get(servin.name)! / medians.get(podman.name)!;
  console.log(`\nservin/podman: ${ratio.toFixed(2)}x`);
  console.log(
    `servin/skopeo: ${(medians.get(servin.name)! / medians.get(skopeo.name)!).toFixed(2)}x`,
  );
  printPeakRss(rss);
  printServinStderr(servinRuns);
  const pullLog = registryLog(registry, logBeforePulls);
  if (pullLog) console.log(`The registry logged during the pulls:\n${tail(pullLog)}`);
  printTarget(ratio, TARGET_RATIO, "podman");
  await benchPush(rounds, pushed.id);
}

async function main(): Promise<void> {
  const { rounds, removeEach } = parseOptions();

  const info = await ensureArchive();
  await ensureTools(["docker-registry", "skopeo", "podman"]);
  const size = (await Deno.stat(ARCHIVE)).size;
  console.log(`\nArchive: ${ARCHIVE} (docker-archive, from bench/load.ts)`);
  console.log(`  source:  ${info.source}`);
  console.log(`  size:    ${mib(size)} (uncompressed layers)`);
  console.log(
    `  tree:    ${mib(info.bytes)} in ${info.files} files, ${info.symlinks} symlinks, ` +
      `${info.dirs} directories`,
  );
  console.log(`  layers:  ${info.archiveLayers}`);

  await printVersions(["podman", "skopeo", "docker-registry"]);
  console.log();

  const registryDir = await Deno.makeTempDir({ prefix: "servin-bench-registry-" });
  let registry: Registry | undefined;
  // On Ctrl-C or a TERM, stop the registry: the pull under way then fails, and the usual
  // clean-up runs (the fresh directories, the registry's storage). A second signal quits now.
  let signalled: Deno.Signal | undefined;
  const interrupted = (signal: Deno.Signal) => () => {
    if (signalled) Deno.exit(130);
    signalled = signal;
    console.error(`\n${signal}: stopping the registry and cleaning up (again to quit now) ...`);
    registry?.stop();
  };
  const handlers = (["SIGINT", "SIGTERM"] as const).map((signal) => {
    const handler = interrupted(signal);
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  try {
    registry = await startRegistry(registryDir);
    try {
      if (signalled) throw new CommandFailed(`interrupted by ${signalled}`);
      await bench(registry, rounds, removeEach);
    } catch (err) {
      if (err instanceof CommandFailed) {
        const exited = registry.exited();
        if (exited && !signalled) {
          err.message += `\ndocker-registry had exited with code ${exited.code}` +
            (exited.signal ? ` (${exited.signal})` : "");
        }
        if (registryLog(registry)) {
          err.message += `\n--- docker-registry's output ---\n${tail(registryLog(registry))}`;
        }
      }
      throw err;
    }
  } finally {
    await registry?.stop();
    await Deno.remove(registryDir, { recursive: true }).catch(() => {});
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
    if (signalled) {
      console.error(`Interrupted by ${signalled}; the registry is stopped.`);
      Deno.exit(130);
    }
  }
}

if (import.meta.main) await runMain(main);
