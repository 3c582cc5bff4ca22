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
 *
 * Usage: `deno run -A bench/pull.ts [--rounds N] [--remove-each]` (N = 5 by default).
 * The servin pulls run with `DENO_NO_UPDATE_CHECK=1`, so that deno does not look up
 * dl.deno.land while timed; set it for this script too to keep every run off the network.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** servin's median must be at most this multiple of podman's median. */
const TARGET_RATIO = 0.5;

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CACHE = `${REPO}/bench/.cache`;
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
interface ArchiveInfo {
  source: string;
  files: number;
  symlinks: number;
  dirs: number;
  bytes: number;
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

/** One benchmarked tool: `command(dir)` is a single pull into the fresh empty directory `dir`. */
interface Tool {
  name: string;
  command(dir: string): { cmd: string; args: string[]; env?: Record<string, string> };
  /** Untimed clean-up of `dir` before it is removed. */
  cleanup?(dir: string): Promise<void>;
}

/** The outcome of a spawned command. */
interface Ran {
  seconds: number;
  stdout: string;
  stderr: string;
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

/** A fresh directory still to be removed, with the tool that wrote it. */
interface Leftover {
  dir: string;
  tool?: Tool;
}

class CommandFailed extends Error {}

/** Runs a command to completion and times it; throws `CommandFailed` on a non-zero exit. */
async function run(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<Ran> {
  const command = new Deno.Command(cmd, {
    args,
    env: options.env,
    cwd: options.cwd ?? REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const start = performance.now();
  const output = await command.output();
  const seconds = (performance.now() - start) / 1000;
  const decoder = new TextDecoder();
  const ran = {
    seconds,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
  if (!output.success) {
    throw new CommandFailed(
      `\`${[cmd, ...args].join(" ")}\` exited with code ${output.code}\n` +
        `--- stderr ---\n${ran.stderr.trimEnd()}\n--- stdout ---\n${ran.stdout.trimEnd()}`,
    );
  }
  return ran;
}

/** True when `name` is an executable on PATH. */
function onPath(name: string): boolean {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      const info = Deno.statSync(`${dir || "."}/${name}`);
      if (info.isFile && (info.mode ?? 0) & 0o111) return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function humanSize(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : mib(bytes);
}

/** Installs the missing tools (each named as its Debian package) with apt-get. */
async function ensureTools(tools: string[]): Promise<void> {
  const missing = tools.filter((tool) => !onPath(tool));
  if (missing.length === 0) return;
  console.log(`Installing ${missing.join(", ")} with apt-get ...`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  await run("apt-get", ["update"], { env });
  await run("apt-get", ["install", "-y", ...missing], { env });
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
  return JSON.parse(await Deno.readTextFile(ARCHIVE_INFO)) as ArchiveInfo;
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

/** podman with the first storage driver that works (probing warms it up). */
async function podmanTool(reference: string, later?: Leftover[]): Promise<Tool> {
  const failures: string[] = [];
  for (const driver of ["overlay", "vfs"]) {
    const global = (dir: string) => [
      "--root",
      `${dir}/root`,
      "--runroot",
      `${dir}/runroot`,
      "--storage-driver",
      driver,
    ];
    const podman: Tool = {
      name: `podman (${driver})`,
      command: (dir) => ({
        cmd: "podman",
        args: [...global(dir), "pull", "--tls-verify=false", reference],
      }),
      async cleanup(dir) {
        if (exists(`${dir}/root`)) await run("podman", [...global(dir), "system", "reset", "-f"]);
      },
    };
    try {
      await inFreshDir(podman, (dir) => runTool(podman, dir), later); // probe, and warm up
      if (driver !== "overlay") console.log(`Note: podman overlay failed; using ${driver}.`);
      return podman;
    } catch (err) {
      if (!(err instanceof CommandFailed)) throw err;
      console.log(`Note: podman --storage-driver ${driver} failed:\n${err.message}`);
      failures.push(driver);
    }
  }
  throw new CommandFailed(`podman pull failed with the ${failures.join(" and ")} drivers`);
}

/** Removes `dir`, first unmounting whatever is mounted below it (podman's overlay may mount). */
async function removeDir(dir: string): Promise<void> {
  const mounts = (await Deno.readTextFile("/proc/self/mounts")).split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .filter((point) => point === dir || point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) await run("umount", [point]);
  await Deno.remove(dir, { recursive: true });
}

/** Cleans up (untimed) and removes a directory a tool pulled into. */
async function removeLeftover({ dir, tool }: Leftover): Promise<void> {
  try {
    await tool?.cleanup?.(dir);
  } finally {
    await removeDir(dir);
  }
}

/**
 * Calls `body` with a fresh empty temporary directory for `tool`, removed
 * afterwards: right away, or, when `later` is given, by the caller, who finds it
 * added to `later`.
 */
async function inFreshDir<T>(
  tool: Tool | undefined,
  body: (dir: string) => Promise<T>,
  later?: Leftover[],
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "servin-bench-" });
  try {
    return await body(dir);
  } finally {
    if (later) later.push({ dir, tool });
    else await removeLeftover({ dir, tool });
  }
}

/** Runs one pull of `tool` into `dir`, after an untimed `sync`. */
async function runTool(tool: Tool, dir: string): Promise<Ran> {
  const { cmd, args, env } = tool.command(dir);
  await run("sync", []);
  return await run(cmd, args, { env });
}

/** Peak RSS of one pull under `/usr/bin/time -v`, or undefined when unavailable. */
async function peakRss(tool: Tool, later?: Leftover[]): Promise<{ rss?: string; ran: Ran }> {
  return await inFreshDir(tool, async (dir) => {
    const { cmd, args, env } = tool.command(dir);
    if (!exists("/usr/bin/time")) return { ran: await run(cmd, args, { env }) };
    const ran = await run("/usr/bin/time", ["-v", cmd, ...args], { env });
    const kib = ran.stderr.match(/Maximum resident set size \(kbytes\): (\d+)/)?.[1];
    // Keep only the tool's own stderr, not time's report.
    ran.stderr = ran.stderr.replace(/\tCommand being timed:[^]*$/, "");
    return { rss: kib === undefined ? undefined : mib(Number(kib) * 1024), ran };
  }, later);
}

/** Checks that `tool` printed the pushed image's ID as the last line of its stdout. */
function checkId(tool: Tool, ran: Ran, id: string): void {
  const last = ran.stdout.trimEnd().split("\n").at(-1)?.trim() ?? "";
  if (last === id || `sha256:${last}` === id) return;
  throw new CommandFailed(
    `${tool.name} did not print the image ID ${id}\n` +
      `--- stderr ---\n${ran.stderr.trimEnd()}\n--- stdout ---\n${ran.stdout.trimEnd()}`,
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function firstLine(cmd: string, args: string[]): Promise<string> {
  try {
    return (await run(cmd, args)).stdout.split("\n")[0]!.trim();
  } catch (err) {
    return `unavailable (${err instanceof Error ? err.message.split("\n")[0] : err})`;
  }
}

function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd())
    .join("\n");
}

function parseOptions(): { rounds: number; removeEach: boolean } {
  const { values } = parseArgs({
    args: Deno.args,
    options: { rounds: { type: "string" }, "remove-each": { type: "boolean" } },
  });
  const rounds = Number(values.rounds ?? 5);
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new Error(`--rounds must be a positive integer, got ${values.rounds}`);
  }
  if (rounds < 5) console.log(`Note: ${rounds} rounds is fewer than the recommended 5.`);
  return { rounds, removeEach: values["remove-each"] ?? false };
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

  // Fresh directories still to be removed; none are kept with --remove-each.
  const later = removeEach ? undefined : [] as Leftover[];
  console.log(
    removeEach
      ? "\nRemoving each pull's directory right after timing it (--remove-each).\n"
      : "\nKeeping each pull's directory until after the last round (see --remove-each).\n",
  );
  const warnings = new Set<string>();
  let tools: Tool[];
  let rss: string | undefined;
  const times = new Map<string, number[]>();
  try {
    const servin = servinTool(pushed.reference);
    const skopeo = skopeoTool(pushed.reference);
    const podman = await podmanTool(pushed.reference, later);
    tools = [servin, podman, skopeo];

    // Untimed warm-ups: deno's module cache, and the page cache for the registry's blobs
    // (podman was warmed up by its probe). servin's doubles as the peak-RSS measurement.
    const warmUp = await peakRss(servin, later);
    rss = warmUp.rss;
    const checked: [Tool, Ran][] = [[servin, warmUp.ran]];
    await inFreshDir(skopeo, (dir) => runTool(skopeo, dir), later);

    for (const tool of tools) times.set(tool.name, []);
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round so no tool always runs right after another.
      const order = tools.map((_, i) => tools[(i + round) % tools.length]!);
      const line: string[] = [];
      for (const tool of order) {
        const ran = await inFreshDir(tool, (dir) => runTool(tool, dir), later);
        if (tool !== skopeo) checked.push([tool, ran]);
        times.get(tool.name)!.push(ran.seconds);
        line.push(`${tool.name} ${ran.seconds.toFixed(2)}s`);
      }
      console.log(`Round ${round + 1}/${rounds}: ${line.join(", ")}`);
    }
    for (const [tool, ran] of checked) {
      checkId(tool, ran, pushed.id);
      if (tool !== servin) continue;
      for (const warning of ran.stderr.split("\n")) if (warning.trim()) warnings.add(warning);
    }
  } finally {
    for (const leftover of later ?? []) await removeLeftover(leftover);
  }
  const [servin, podman, skopeo] = tools as [Tool, Tool, Tool];

  const medians = new Map([...times].map(([name, values]) => [name, median(values)]));
  const podmanMedian = medians.get(podman.name)!;
  const skopeoMedian = medians.get(skopeo.name)!;
  const rows = [["tool", "median s", "min s", "max s", "x podman", "x skopeo"]];
  for (const [name, values] of times) {
    rows.push([
      name,
      medians.get(name)!.toFixed(3),
      Math.min(...values).toFixed(3),
      Math.max(...values).toFixed(3),
      (medians.get(name)! / podmanMedian).toFixed(2),
      (medians.get(name)! / skopeoMedian).toFixed(2),
    ]);
  }
  console.log(`\nResults over ${rounds} rounds (wall time of the spawned process):\n`);
  console.log(formatTable(rows));

  const ratio = medians.get(servin.name)! / podmanMedian;
  console.log(`\nservin/podman: ${ratio.toFixed(2)}x`);
  console.log(`servin/skopeo: ${(medians.get(servin.name)! / skopeoMedian).toFixed(2)}x`);
  console.log(`servin peak RSS: ${rss ?? "unknown (/usr/bin/time not installed)"}`);
  if (warnings.size > 0) {
    console.log(`servin wrote to stderr:\n${[...warnings].map((w) => `  ${w}`).join("\n")}`);
  }
  const pullLog = registryLog(registry, logBeforePulls);
  if (pullLog) console.log(`The registry logged during the pulls:\n${tail(pullLog)}`);
  const met = ratio <= TARGET_RATIO;
  console.log(
    `\nTarget: servin median <= ${TARGET_RATIO.toFixed(1)}x podman median: ` +
      `${met ? "MET" : "NOT MET"} (${ratio.toFixed(2)}x)`,
  );
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

  console.log("\nVersions:");
  console.log(`  ${await firstLine(Deno.execPath(), ["--version"])}`);
  for (const tool of ["podman", "skopeo", "docker-registry"]) {
    console.log(`  ${await firstLine(tool, ["--version"])}`);
  }
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

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    if (!(err instanceof CommandFailed)) throw err;
    console.error(`\nBenchmark aborted: ${err.message}`);
    Deno.exit(1);
  }
}
