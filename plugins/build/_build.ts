/**
 * `servin build`: runs a Containerfile's stages. Each instruction makes one
 * image through `servin.append` (a layer for RUN, COPY and ADD, none for the
 * others), so every step is a cache entry: the parent image, the instruction
 * as expanded and what it reads name it. RUN steps are containers of the
 * current image on the OCI runtime; their change is the container's diff.
 *
 * @module
 */

import { basename, join } from "node:path";
import type { Servin } from "../../core/api.ts";
import { ServinError } from "../../core/errors.ts";
import { DEFAULT_LIMITS, type ImageRecord } from "../../core/image.ts";
import { sha256Hex } from "../formats/digest.ts";
import { readTar } from "../formats/tar.ts";
import { unpack } from "../formats/extract.ts";
import { BuildCache } from "./_cache.ts";
import {
  type CopyItem,
  findSources,
  hashItems,
  type IgnoreRules,
  loadIgnore,
  NO_IGNORE,
  openContext,
  planCopy,
  scratchDir,
} from "./_context.ts";
import {
  type Containerfile,
  type Instruction,
  lineError,
  parseContainerfile,
  parseLine,
} from "./_parse.ts";
import { expandWord, expandWords, nameValues } from "./_shell.ts";
import { Progress } from "./_progress.ts";
import { copyLayer, isImageDir } from "./_layer.ts";
import type { BuildOptions } from "../../core/api.ts";

export type { BuildOptions };

/** Build args Docker defines without an ARG (proxies), never kept in history. */
const PROXY_ARGS = [
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "FTP_PROXY",
  "NO_PROXY",
  "ALL_PROXY",
  "http_proxy",
  "https_proxy",
  "ftp_proxy",
  "no_proxy",
  "all_proxy",
];

type OciConfig = Record<string, unknown> & {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  User?: string;
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, Record<string, never>>;
  Volumes?: Record<string, Record<string, never>>;
  OnBuild?: string[];
  Shell?: string[];
  StopSignal?: string;
  Healthcheck?: Record<string, unknown>;
};

/** What a stage has become so far. */
interface State {
  /** Image ID of the last step; undefined while it is `scratch`. */
  image?: string;
  /** The image's `config`. */
  config: OciConfig;
  /** ARGs in scope, with values. */
  args: Map<string, string>;
}

/** Variables for expansion: ARGs, then ENV over them. */
function vars(state: State): Map<string, string> {
  const out = new Map(state.args);
  for (const e of state.config.Env ?? []) {
    const i = e.indexOf("=");
    if (i > 0) out.set(e.slice(0, i), e.slice(i + 1));
  }
  return out;
}

function setEnv(env: string[], key: string, value: string): string[] {
  const out = env.filter((e) => !e.startsWith(`${key}=`) && e !== key);
  out.push(`${key}=${value}`);
  const i = env.findIndex((e) => e.startsWith(`${key}=`));
  if (i >= 0) {
    out.pop();
    out.splice(i, 0, `${key}=${value}`);
  }
  return out;
}

function hostArch(): { os: string; arch: string } {
  const arch = Deno.build.arch === "x86_64" ? "amd64" : "arm64";
  return { os: "linux", arch };
}

/**
 * Builds the image a Containerfile describes and tags it; returns its record.
 */
export async function build(servin: Servin, options: BuildOptions): Promise<ImageRecord> {
  const log = options.log ?? (() => {});
  const progress = new Progress(log);
  const tmp = join(servin.root, "tmp");
  const stdin = options.stdin ?? Deno.stdin.readable;
  let fileText: string | undefined;
  if (options.file === "-") {
    if (options.context === "-") {
      throw new ServinError(
        "usage",
        "The Containerfile and the context cannot both come from stdin",
      );
    }
    fileText = await new Response(stdin).text();
  }
  const ctx = await openContext(options.context, { stdin, tmp, platform: servin.platform });
  const cleanups: (() => Promise<void>)[] = [ctx.close];
  try {
    let fileName = options.file ?? "";
    if (fileText === undefined) {
      const candidates = options.file
        ? [options.context === "-" ? join(ctx.dir, options.file) : options.file]
        : [join(ctx.dir, "Containerfile"), join(ctx.dir, "Dockerfile")];
      for (const c of candidates) {
        try {
          fileText = await Deno.readTextFile(c);
          fileName = options.file ?? basename(c);
          break;
        } catch (err) {
          if (!(err instanceof Deno.errors.NotFound)) throw err;
        }
      }
      if (fileText === undefined) {
        throw new ServinError(
          "not-found",
          options.file
            ? `Cannot read the Containerfile "${options.file}": not found`
            : `No Containerfile or Dockerfile in the context "${options.context}"`,
        );
      }
    }
    const file = await parseContainerfile(fileText, fileName || "Containerfile");
    await checkNetwork(servin, options.network, file);
    const ignore = await loadIgnore(ctx.dir);
    const cache = new BuildCache(servin.root);
    await cache.retain(new Set((await servin.listImages()).map((i) => i.id)));
    const run = new Run(servin, options, file, ctx.dir, ignore, cache, progress, cleanups);
    return await run.build();
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  }
}

/**
 * Fails before the first step when the RUN steps are to join a network that does not exist
 * (`host`, `none` and the default network always do), rather than at the first RUN.
 */
async function checkNetwork(
  servin: Servin,
  network: string | undefined,
  file: Containerfile,
): Promise<void> {
  if (network === undefined || ["host", "none", "bridge"].includes(network)) return;
  if (!file.stages.some((s) => s.steps.some((i) => i.keyword === "RUN"))) return;
  await servin.containers.networks?.get(network);
}

class Run {
  readonly #created: Date;
  readonly #globalArgs = new Map<string, string>();
  readonly #results = new Map<number, string | undefined>();
  readonly #roots = new Map<string, string>();
  readonly #platform = hostArch();

  constructor(
    readonly servin: Servin,
    readonly options: BuildOptions,
    readonly file: Containerfile,
    readonly context: string,
    readonly ignore: IgnoreRules,
    readonly cache: BuildCache,
    readonly progress: Progress,
    readonly cleanups: (() => Promise<void>)[],
  ) {
    const epoch = options.timestamp;
    this.#created = epoch === undefined ? new Date() : new Date(epoch * 1000);
  }

  get clamp(): number | undefined {
    return this.options.timestamp;
  }

  /** The automatic platform args, in global scope as BuildKit gives them. */
  #platformArgs(): Map<string, string> {
    const { os, arch } = this.#platform;
    return new Map([
      ["TARGETPLATFORM", `${os}/${arch}`],
      ["TARGETOS", os],
      ["TARGETARCH", arch],
      ["TARGETVARIANT", ""],
      ["BUILDPLATFORM", `${os}/${arch}`],
      ["BUILDOS", os],
      ["BUILDARCH", arch],
      ["BUILDVARIANT", ""],
    ]);
  }

  async build(): Promise<ImageRecord> {
    const { file, options } = this;
    const auto = this.#platformArgs();
    const globalScope = new Map(auto);
    for (const ins of file.globalArgs) {
      for (
        const [k, v] of nameValues(ins.args, globalScope, { escape: file.escape, keyOnly: true })
      ) {
        const value = options.buildArgs?.[k] ?? v ?? auto.get(k);
        if (value !== undefined) this.#globalArgs.set(k, value);
        if (value !== undefined) globalScope.set(k, value);
      }
    }
    const target = this.#stageIndex(options.target ?? String(file.stages.length - 1), true);
    const unknown = Object.keys(options.buildArgs ?? {}).filter((k) =>
      !PROXY_ARGS.includes(k) &&
      !file.globalArgs.some((a) => a.args.trim().split(/[=\s]/)[0] === k) &&
      !file.stages.some((s) => s.steps.some((x) => x.keyword === "ARG" && x.args.includes(k)))
    );
    if (unknown.length) {
      this.progress.note(`[Warning] build args not consumed: ${unknown.join(", ")}`);
    }
    // Each stage starts once the stages it reads are done; independent ones build at the
    // same time. Stages the target does not need are never started. A stage waits for all
    // its dependencies to settle, so no step is still running when the build fails.
    const started = new Map<number, Promise<void>>();
    const go = (i: number): Promise<void> => {
      let p = started.get(i);
      if (!p) {
        p = (async () => {
          const settled = await Promise.allSettled([...new Set(this.#deps(i))].map(go));
          const failed = settled.find((r) => r.status === "rejected");
          if (failed) throw failed.reason;
          this.#results.set(i, await this.#stage(i));
        })();
        started.set(i, p);
      }
      return p;
    };
    await go(target);
    let id = this.#results.get(target);
    if (options.labels && Object.keys(options.labels).length) {
      // `--label` is one more step, cached like the others.
      const state = await this.#stateOf(id);
      state.config.Labels = { ...state.config.Labels, ...options.labels };
      const text = `LABEL ${Object.entries(options.labels).map(([k, v]) => `${k}=${v}`).join(" ")}`;
      const { n, started, key, hit } = await this.#begin(state, text, this.#key(state, text));
      if (!hit) {
        state.image = await this.#commit(state, text, { key });
        this.progress.done(n, started);
      }
      id = state.image;
    }
    this.#checkAbort();
    if (!id) {
      throw new ServinError("invalid-argument", "The target stage is an empty scratch image");
    }
    const n = this.progress.start("exporting to image");
    this.progress.line(n, `writing image sha256:${id} done`);
    for (const tag of options.tags ?? []) {
      await this.servin.tagImage(id, tag);
      this.progress.line(n, `naming to ${tag} done`);
    }
    this.progress.done(n);
    return await this.servin.getImage(id);
  }

  #stageIndex(name: string, strict: boolean): number {
    const lower = name.toLowerCase();
    const byName = this.file.stages.find((s) => s.name === lower);
    if (byName) return byName.index;
    if (/^\d+$/.test(name) && Number(name) < this.file.stages.length) return Number(name);
    if (strict) throw new ServinError("not-found", `No build stage "${name}" in ${this.file.file}`);
    return -1;
  }

  /** Stages stage `i` reads: its FROM and its COPY --from. */
  #deps(i: number): number[] {
    const stage = this.file.stages[i]!;
    const out: number[] = [];
    const base = this.#baseName(stage.from);
    const fromStage = this.#stageIndex(base, false);
    if (
      fromStage >= 0 && fromStage < i && this.file.stages[fromStage]!.name === base.toLowerCase()
    ) {
      out.push(fromStage);
    }
    for (const step of stage.steps) {
      const from = step.flags.from?.at(-1);
      if ((step.keyword === "COPY" || step.keyword === "ADD") && from !== undefined) {
        const j = this.#stageIndex(
          expandWord(from, this.#globalArgs, { escape: this.file.escape }),
          false,
        );
        if (j >= 0 && j < i) out.push(j);
      }
    }
    return out;
  }

  #baseName(from: Instruction): string {
    const word = from.args.trim().split(/\s+/)[0]!;
    return expandWord(word, new Map([...this.#platformArgs(), ...this.#globalArgs]), {
      escape: this.file.escape,
    });
  }

  #checkAbort(): void {
    if (this.options.signal?.aborted) {
      throw new ServinError("conflict", "The build was interrupted");
    }
  }

  /** The image ID `name` is when built or pulled per `--pull`. */
  async #image(name: string): Promise<string> {
    const pull = this.options.pull ?? "missing";
    if (pull !== "always") {
      try {
        return (await this.servin.getImage(name)).id;
      } catch (err) {
        if (pull === "never" || !(err instanceof ServinError) || err.code !== "not-found") {
          throw err;
        }
      }
    }
    return (await this.servin.pullImage(name, {
      platform: `${this.#platform.os}/${this.#platform.arch}`,
      signal: this.options.signal,
    })).id;
  }

  async #stateOf(id: string | undefined, args = new Map<string, string>()): Promise<State> {
    if (!id) {
      return {
        config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] },
        args,
      };
    }
    const text = await new Response(await this.servin.store.content.read(id)).text();
    const raw = JSON.parse(text) as { config?: OciConfig };
    return { image: id, config: structuredClone(raw.config ?? {}), args };
  }

  async #stage(index: number): Promise<string | undefined> {
    const { file } = this;
    const stage = file.stages[index]!;
    const total = stage.steps.length + 1;
    const label = (k: number) =>
      file.stages.length > 1
        ? `[${stage.name ?? `stage-${index}`} ${k}/${total}]`
        : `[${k}/${total}]`;
    const base = this.#baseName(stage.from);
    const platform = stage.from.flags.platform?.at(-1);
    if (platform !== undefined) {
      const want = expandWord(platform, new Map([...this.#platformArgs(), ...this.#globalArgs]));
      const { os, arch } = this.#platform;
      if (want !== `${os}/${arch}`) {
        throw lineError(
          file.file,
          stage.from.line,
          `FROM --platform=${want}: only ${os}/${arch} can be built here`,
        );
      }
    }
    const n = this.progress.start(`${label(1)} FROM ${base}`);
    const started = performance.now();
    let id: string | undefined;
    const fromStage = this.#stageIndex(base, false);
    if (
      fromStage >= 0 && fromStage < index && file.stages[fromStage]!.name === base.toLowerCase()
    ) {
      id = this.#results.get(fromStage);
    } else if (base.toLowerCase() !== "scratch") {
      id = await this.#image(base);
    }
    const state = await this.#stateOf(id);
    this.progress.done(n, started);
    // The base's ONBUILD triggers run first, and are not inherited further.
    const triggers = state.config.OnBuild ?? [];
    delete state.config.OnBuild;
    const steps = [
      ...await Promise.all(
        triggers.map((t) => parseLine(t, `${file.file} (ONBUILD of ${base})`, stage.from.line)),
      ),
      ...stage.steps,
    ];
    let k = 1;
    for (const step of steps) {
      if (stage.steps.includes(step)) k++;
      await this.#step(step, state, label(k));
    }
    return state.image;
  }

  async #step(step: Instruction, state: State, label: string): Promise<void> {
    this.#checkAbort();
    const { file } = this;
    const esc = { escape: file.escape };
    const at = (why: string) => lineError(file.file, step.line, why);
    const c = state.config;
    const expand = (w: string) => expandWord(w, vars(state), esc);
    try {
      switch (step.keyword) {
        case "ARG": {
          for (const [k, v] of nameValues(step.args, vars(state), { ...esc, keyOnly: true })) {
            const value = this.options.buildArgs?.[k] ?? v ?? this.#globalArgs.get(k) ??
              this.#platformArgs().get(k);
            if (value !== undefined) state.args.set(k, value);
            else state.args.set(k, "");
          }
          // Docker records ARG without a layer, and without a history entry.
          return;
        }
        case "ENV": {
          let env = c.Env ?? [];
          for (const [k, v] of nameValues(step.args, vars(state), { ...esc, legacy: true })) {
            env = setEnv(env, k, v ?? "");
          }
          c.Env = env;
          break;
        }
        case "LABEL": {
          c.Labels = { ...c.Labels };
          for (const [k, v] of nameValues(step.args, vars(state), { ...esc, legacy: true })) {
            c.Labels[k] = v ?? "";
          }
          break;
        }
        case "MAINTAINER":
          break;
        case "WORKDIR": {
          const dir = expand(step.args.trim());
          c.WorkingDir = dir.startsWith("/") ? dir : join(c.WorkingDir || "/", dir);
          break;
        }
        case "USER":
          c.User = expand(step.args.trim());
          break;
        case "STOPSIGNAL":
          c.StopSignal = expand(step.args.trim());
          break;
        case "CMD":
        case "ENTRYPOINT": {
          const argv = step.json ?? [...(c.Shell ?? ["/bin/sh", "-c"]), step.args.trim()];
          if (step.keyword === "CMD") c.Cmd = argv;
          else {
            c.Entrypoint = argv;
            // A new entrypoint drops the base's default command, as in Docker.
            delete c.Cmd;
          }
          break;
        }
        case "SHELL": {
          if (!step.json || step.json.length === 0) throw at("SHELL needs a JSON array");
          c.Shell = step.json;
          break;
        }
        case "EXPOSE": {
          c.ExposedPorts = { ...c.ExposedPorts };
          for (const p of expandWords(step.args, vars(state), esc)) {
            // `80`, `53/udp`, or a range `8000-8002/tcp`, each port of which is exposed.
            const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
            const [first, last] = [Number(m?.[1]), Number(m?.[2] ?? m?.[1])];
            if (!m || first < 1 || last > 65535 || last < first) {
              throw at(`invalid port "${p}"`);
            }
            const proto = (m[3] ?? "tcp").toLowerCase();
            for (let port = first; port <= last; port++) c.ExposedPorts[`${port}/${proto}`] = {};
          }
          break;
        }
        case "VOLUME": {
          c.Volumes = { ...c.Volumes };
          for (const v of step.json ?? expandWords(step.args, vars(state), esc)) {
            if (!v.trim()) throw at("VOLUME needs a path");
            c.Volumes[v] = {};
          }
          break;
        }
        case "HEALTHCHECK": {
          c.Healthcheck = healthcheck(step, c.Shell, at);
          break;
        }
        case "ONBUILD": {
          const inner = step.args.trim().split(/\s+/)[0]?.toUpperCase() ?? "";
          if (["ONBUILD", "FROM", "MAINTAINER"].includes(inner)) {
            throw at(`ONBUILD ${inner} is not allowed`);
          }
          c.OnBuild = [...(c.OnBuild ?? []), step.args.trim()];
          break;
        }
        case "RUN":
          await this.#run(step, state, label);
          return;
        case "COPY":
        case "ADD":
          await this.#copy(step, state, label);
          return;
        default:
          throw at(`unknown instruction: ${step.keyword}`);
      }
    } catch (err) {
      if (err instanceof ServinError && !err.message.startsWith(`${file.file}:`)) {
        throw new ServinError(
          err.code,
          `${file.file}:${step.line}: ${step.keyword}: ${err.message}`,
        );
      }
      throw err;
    }
    const text = `${step.keyword} ${step.args.trim()}`;
    const { n, started, key, hit } = await this.#begin(
      state,
      `${label} ${text}`,
      this.#key(state, text),
    );
    if (hit) return;
    state.image = await this.#commit(
      state,
      createdBy(step.keyword, expandedText(step, vars(state), file.escape)),
      { key },
    );
    this.progress.done(n, started);
  }

  /**
   * Starts a step's vertex and looks its key up: on a hit the stage moves to
   * the cached image and the vertex is closed as CACHED.
   */
  async #begin(
    state: State,
    title: string,
    key: string,
  ): Promise<{ n: number; started: number; key: string; hit: boolean }> {
    const n = this.progress.start(title);
    const started = performance.now();
    const found = await this.#hit(key);
    if (found) {
      state.image = found;
      this.progress.cached(n);
    }
    return { n, started, key, hit: found !== undefined };
  }

  #key(state: State, text: string, extra = ""): string {
    return sha256Hex(
      JSON.stringify([state.image ?? "scratch", text, extra, state.config, [...state.args]]),
    );
  }

  async #hit(key: string): Promise<string | undefined> {
    if (this.options.noCache) return undefined;
    const id = await this.cache.get(key);
    if (!id) return undefined;
    try {
      return (await this.servin.getImage(id)).id;
    } catch {
      return undefined;
    }
  }

  async #commit(
    state: State,
    createdByText: string,
    opts: { layer?: ReadableStream<Uint8Array>; key?: string },
  ): Promise<string> {
    // Until the facade's `append` lands (issue 14's dependency), a build says so clearly.
    const append = (this.servin as unknown as { append?: (o: unknown) => Promise<ImageRecord> })
      .append?.bind(this.servin);
    if (!append) {
      throw new ServinError("unsupported", "This Servin cannot append images (no append)");
    }
    const made = await append({
      base: state.image,
      layer: opts.layer,
      config: state.config,
      history: { created_by: createdByText },
      created: this.#created,
      verb: "build",
    });
    if (opts.key) await this.cache.set(opts.key, made.id);
    return made.id;
  }

  async #run(step: Instruction, state: State, label: string): Promise<void> {
    const c = state.config;
    const argv = step.json ?? [...(c.Shell ?? ["/bin/sh", "-c"]), heredoc(step.args.trim())];
    const argsUsed = [...state.args].filter(([k]) => !PROXY_ARGS.includes(k));
    const prefix = argsUsed.length
      ? `|${argsUsed.length} ${argsUsed.map(([k, v]) => `${k}=${v}`).join(" ")} `
      : "";
    const text = `RUN ${prefix}${step.json ? JSON.stringify(argv) : argv.join(" ")}`;
    const { n, started, key, hit } = await this.#begin(
      state,
      `${label} RUN ${step.args.trim().split("\n")[0]}`,
      this.#key(state, text),
    );
    if (hit) return;
    if (!state.image) {
      throw lineError(
        this.file.file,
        step.line,
        "RUN needs a base image with a shell (the stage is FROM scratch)",
      );
    }
    const env = [...c.Env ?? []];
    // Proxy variables given with --build-arg reach RUN without an ARG, and stay out of history.
    const proxies = PROXY_ARGS.flatMap((k) => {
      const v = this.options.buildArgs?.[k];
      return v === undefined ? [] : [[k, v] as [string, string]];
    });
    for (const [k, v] of [...state.args, ...proxies]) {
      if (!env.some((e) => e.startsWith(`${k}=`))) env.push(`${k}=${v}`);
    }
    const { runStep } = await import("./_run.ts");
    const code = await runStep(this.servin, {
      image: state.image,
      argv,
      env,
      workdir: c.WorkingDir || "/",
      user: c.User || "root",
      network: this.options.network,
      output: (line, at) => this.progress.output(n, line, at),
      commit: async (layer) => {
        state.image = await this.#commit(state, text, { layer, key });
      },
      clampMtime: this.clamp,
      signal: this.options.signal,
    });
    if (code !== 0) {
      this.progress.error(
        n,
        `process "${argv.join(" ")}" did not complete successfully: exit code: ${code}`,
      );
      throw new ServinError(
        "invalid-argument",
        `${this.file.file}:${step.line}: RUN ${step.args.trim().split("\n")[0]}: exit code ${code}`,
      );
    }
    this.progress.done(n, started);
  }

  /** Directory holding the filesystem of image `id` (for COPY --from), exported once per build. */
  async #rootOf(id: string): Promise<string> {
    const known = this.#roots.get(id);
    if (known) return known;
    const { dir, remove } = await scratchDir(join(this.servin.root, "tmp"), "build-from-");
    this.cleanups.push(remove);
    const pipe = new TransformStream<Uint8Array, Uint8Array>();
    await Promise.all([
      this.servin.exportImage(id, pipe.writable),
      unpack(readTar(pipe.readable, DEFAULT_LIMITS), dir, {
        platform: this.servin.platform,
        warn: () => {},
      }),
    ]);
    this.#roots.set(id, dir);
    return dir;
  }

  async #copy(step: Instruction, state: State, label: string): Promise<void> {
    const { file } = this;
    const esc = { escape: file.escape };
    const v = vars(state);
    const words = step.json ?? expandWords(step.args, v, esc);
    if (words.length < 2) {
      throw lineError(file.file, step.line, `${step.keyword} needs a source and a destination`);
    }
    const flag = (name: string) => {
      const raw = step.flags[name]?.at(-1);
      return raw === undefined ? undefined : expandWord(raw, v, esc);
    };
    const known = step.keyword === "ADD"
      ? ["chown", "chmod", "link", "checksum", "keep-git-dir"]
      : ["from", "chown", "chmod", "link", "parents"];
    for (const f of Object.keys(step.flags)) {
      if (!known.includes(f)) {
        throw lineError(file.file, step.line, `${step.keyword} does not take --${f}`);
      }
    }
    const srcs = words.slice(0, -1);
    if (srcs.some((w) => w.startsWith("<<"))) {
      throw lineError(
        file.file,
        step.line,
        `${step.keyword} with a here-document is not supported`,
      );
    }
    let destWord = words.at(-1)!;
    if (!destWord.startsWith("/")) {
      destWord = join(state.config.WorkingDir || "/", destWord) +
        (destWord.endsWith("/") || destWord === "." ? "/" : "");
    }
    const chmodText = flag("chmod");
    const chmod = chmodText === undefined ? undefined : Number.parseInt(chmodText, 8);
    if (chmodText !== undefined && (!/^[0-7]{3,4}$/.test(chmodText))) {
      throw lineError(file.file, step.line, `invalid --chmod "${chmodText}" (octal expected)`);
    }
    const chown = flag("chown");
    const from = flag("from");
    let root = this.context;
    let ignore = this.ignore;
    let where = "build context";
    if (from !== undefined) {
      const j = this.#stageIndex(from, false);
      const id = j >= 0 && this.#results.has(j) ? this.#results.get(j) : await this.#image(from);
      if (!id) throw lineError(file.file, step.line, `--from=${from} is an empty scratch stage`);
      root = await this.#rootOf(id);
      ignore = NO_IGNORE;
      where = `image "${from}"`;
    }
    const owner = chown === undefined ? undefined : await this.#owner(state, chown);
    const items: CopyItem[] = [];
    const extra: string[] = [];
    const globbed = srcs.length > 1 || srcs.some((s) => /[*?[]/.test(s));
    const dest = globbed || await isImageDir(this.servin, state.image, destWord)
      ? destWord.replace(/\/?$/, "/")
      : destWord;
    if (step.keyword === "ADD") {
      const { addSources } = await import("./_add.ts");
      for (const s of srcs) {
        const got = await addSources(s, {
          root,
          ignore,
          tmp: join(this.servin.root, "tmp"),
          checksum: flag("checksum"),
          cleanups: this.cleanups,
          label: where,
          platform: this.servin.platform,
        });
        extra.push(got.digest);
        for (const g of got.groups) {
          items.push(...planCopy(g.sources, dest, {
            owner: g.keepOwners ? "keep" : owner,
            chmod,
            ignore: g.keepOwners ? NO_IGNORE : ignore,
          }));
        }
      }
    } else {
      const sources = srcs.flatMap((s) => findSources(root, s, ignore, where));
      items.push(...planCopy(sources, dest, { owner, chmod, ignore }));
    }
    const text = `${step.keyword} ${chown ? `--chown=${chown} ` : ""}${
      chmodText ? `--chmod=${chmodText} ` : ""
    }${from ? `--from=${from} ` : ""}${srcs.join(" ")} ${words.at(-1)}`;
    const { n, started, key, hit } = await this.#begin(
      state,
      `${label} ${step.keyword} ${step.args.trim()}`,
      this.#key(
        state,
        text,
        `${await hashItems(items)}:${extra.join(",")}:${
          from ? (this.#results.get(this.#stageIndex(from, false)) ?? from) : ""
        }`,
      ),
    );
    if (hit) return;
    const layer = await copyLayer(this.servin, state.image, items, {
      clampMtime: this.clamp,
      created: this.#created,
      owner,
    });
    state.image = await this.#commit(state, text, { layer, key });
    this.progress.done(n, started);
  }

  async #owner(state: State, chown: string): Promise<{ uid: number; gid: number }> {
    const [u = "", g] = chown.split(":", 2);
    const numeric = /^\d+$/.test(u) && (g === undefined || /^\d+$/.test(g));
    if (numeric) return { uid: Number(u), gid: Number(g ?? u) };
    if (!state.image) {
      throw new ServinError("not-found", `Cannot resolve --chown=${chown} in a scratch image`);
    }
    const { resolveUser } = await import("../runtime/user.ts");
    const image = await this.servin.getImage(state.image);
    const roots = [...await this.servin.store.layers.mounts(image.layers)].reverse();
    const r = await resolveUser(chown, roots);
    return { uid: r.uid, gid: r.gid };
  }
}

/**
 * The script of `RUN <<EOF` … `EOF` (a here-document that is the whole
 * command; `<<-` strips leading tabs), or `text` as it is: a command that
 * feeds a here-document to a program (`RUN python3 <<EOF`) is the shell's
 * to read, as in Docker.
 */
export function heredoc(text: string): string {
  const m = /^<<(-?)(["']?)([A-Za-z_]\w*)\2[ \t]*\n([\s\S]*?)\n?\3[ \t]*$/.exec(text);
  if (!m) return text;
  return m[1] ? m[4]!.replace(/^\t+/gm, "") : m[4]!;
}

function createdBy(keyword: string, text: string): string {
  return `${keyword} ${text}`;
}

function expandedText(step: Instruction, v: Map<string, string>, escape: string): string {
  if (step.json) return JSON.stringify(step.json);
  if (["CMD", "ENTRYPOINT", "HEALTHCHECK", "ONBUILD"].includes(step.keyword)) {
    return step.args.trim();
  }
  try {
    return expandWords(step.args, v, { escape }).join(" ");
  } catch {
    return step.args.trim();
  }
}

const DURATION = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/;
const UNIT: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

function duration(text: string, at: (why: string) => Error): number {
  let total = 0;
  let rest = text;
  while (rest) {
    const m = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/.exec(rest);
    if (!m) throw at(`invalid duration "${text}"`);
    total += Number(m[1]) * UNIT[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  void DURATION;
  return Math.round(total);
}

function healthcheck(
  step: Instruction,
  shell: string[] | undefined,
  at: (why: string) => Error,
): Record<string, unknown> {
  const rest = step.args.trim();
  const word = rest.split(/\s+/)[0]!.toUpperCase();
  if (word === "NONE") return { Test: ["NONE"] };
  if (word !== "CMD") throw at("HEALTHCHECK takes CMD or NONE");
  const cmdText = rest.slice(3).trim();
  const json = (() => {
    try {
      const v = JSON.parse(cmdText) as unknown;
      return Array.isArray(v) && v.every((s) => typeof s === "string") ? v as string[] : undefined;
    } catch {
      return undefined;
    }
  })();
  void shell;
  const out: Record<string, unknown> = { Test: json ? ["CMD", ...json] : ["CMD-SHELL", cmdText] };
  const names: Record<string, string> = {
    interval: "Interval",
    timeout: "Timeout",
    "start-period": "StartPeriod",
    "start-interval": "StartInterval",
  };
  for (const [flag, values] of Object.entries(step.flags)) {
    const v = values.at(-1)!;
    if (flag === "retries") {
      if (!/^\d+$/.test(v)) throw at(`invalid --retries "${v}"`);
      out.Retries = Number(v);
    } else if (names[flag]) out[names[flag]] = duration(v, at);
    else throw at(`HEALTHCHECK does not take --${flag}`);
  }
  return out;
}
