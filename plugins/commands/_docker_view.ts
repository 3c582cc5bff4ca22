/**
 * Docker's view of Servin's records, for scripts written for Docker: the
 * rows `--format` templates see in each listing (Docker's field names and
 * table headers) and the objects `inspect` prints (Docker's fields beside
 * the seed's). The library keeps returning seed records; only the command
 * layer speaks Docker.
 *
 * @module
 */

import type { CommandContext, ContainerRecord, HistoryEntry, Servin } from "../../core/api.ts";
import { type ImageRecord, shortId } from "../../core/image.ts";
import { humanAgo, humanSize, portsText, splitTag } from "./_format.ts";
import { NIL_MAP, NIL_SLICE, renderListing, struct } from "./_template.ts";

/** Go's zero time, which Docker prints for "never". */
const ZERO_TIME = "0001-01-01T00:00:00Z";

const pad2 = (n: number) => String(n).padStart(2, "0");

/** A time as Go's `time.Time.String()` prints it, in local time: `2024-05-01 10:00:00 +0000 UTC`. */
export function goTime(iso: string): string {
  const d = new Date(iso);
  const offset = -d.getTimezoneOffset();
  const sign = offset < 0 ? "-" : "+";
  const zone = offset === 0 ? "UTC" : new Intl.DateTimeFormat("en-US", { timeZoneName: "short" })
    .formatToParts(d).find((p) => p.type === "timeZoneName")?.value ?? "";
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${
    pad2(d.getMinutes())
  }:${pad2(d.getSeconds())} ${sign}${pad2(Math.floor(Math.abs(offset) / 60))}${
    pad2(Math.abs(offset) % 60)
  } ${zone}`.trimEnd();
}

/** Docker's `Ellipsis`: at most `max` characters, the last one `…` when cut. */
function ellipsis(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}

/** Prints `rows` through the `--format` template (Docker's formatter: per row, or `table`). */
export function printListing(ctx: CommandContext, rows: readonly unknown[], headers: object): void {
  const out = renderListing(ctx.flags.format as string, rows, headers);
  if (out) ctx.out(out.slice(0, -1));
}

// ---------------------------------------------------------------- listings

/** Headers of `image ls` fields. */
export const IMAGE_HEADERS = {
  Containers: "CONTAINERS",
  CreatedAt: "CREATED AT",
  CreatedSince: "CREATED",
  Digest: "DIGEST",
  ID: "IMAGE ID",
  Repository: "REPOSITORY",
  SharedSize: "SHARED SIZE",
  Size: "SIZE",
  Tag: "TAG",
  UniqueSize: "UNIQUE SIZE",
  VirtualSize: "SIZE",
};

/** The rows of `image ls`: one per tag (one `<none>` row for an untagged image), Docker's fields. */
export function imageRows(images: readonly ImageRecord[], noTrunc: boolean): object[] {
  const now = new Date();
  return images.flatMap((img) => {
    const digest = img.manifest ? `sha256:${img.manifest}` : "<none>";
    const size = humanSize(img.size);
    const row = (repository: string, tag: string) =>
      struct({
        Containers: "N/A",
        CreatedAt: goTime(img.created),
        CreatedSince: humanAgo(img.created, now),
        Digest: digest,
        ID: noTrunc ? `sha256:${img.id}` : shortId(img.id),
        Repository: repository,
        SharedSize: "N/A",
        Size: size,
        Tag: tag,
        UniqueSize: "N/A",
        VirtualSize: size,
      }, "imageContext");
    if (!img.repo_tags.length) return [row("<none>", "<none>")];
    return img.repo_tags.map((t) => {
      const { repository, tag } = splitTag(t);
      return row(repository, tag);
    });
  });
}

/** Headers of `ps` fields. */
export const CONTAINER_HEADERS = {
  Command: "COMMAND",
  CreatedAt: "CREATED AT",
  ID: "CONTAINER ID",
  Image: "IMAGE",
  Label: () => "LABEL",
  Labels: "LABELS",
  LocalVolumes: "LOCAL VOLUMES",
  Mounts: "MOUNTS",
  Names: "NAMES",
  Networks: "NETWORKS",
  Ports: "PORTS",
  RunningFor: "CREATED",
  Size: "SIZE",
  State: "STATE",
  Status: "STATUS",
};

/** What `ps` says of each container, in the words of its table. */
export interface ContainerWords {
  /** The command as the table shows it, before quoting and truncation. */
  command: string;
  /** `Up 2 hours`, `Exited (0) 3 minutes ago`, `Created`. */
  status: string;
  /** `0B (virtual 5.6MB)`, or `N/A` when not measured. */
  size: string;
}

/** The rows of `ps`, Docker's fields. */
export function containerRows(
  list: readonly ContainerRecord[],
  words: (c: ContainerRecord, i: number) => ContainerWords,
  noTrunc: boolean,
): object[] {
  const now = new Date();
  return list.map((c, i) => {
    const { command, status, size } = words(c, i);
    const labels: Record<string, string> = {};
    const mounts = c.host?.mounts ?? [];
    return struct({
      Command: JSON.stringify(noTrunc ? command : ellipsis(command, 20)),
      CreatedAt: goTime(c.created),
      ID: noTrunc ? c.id : shortId(c.id),
      Image: c.image,
      Label: (args: unknown[]) => labels[String(args[0])] ?? "",
      Labels: "",
      LocalVolumes: String(mounts.filter((m) => m.type === "volume").length),
      // Docker's: a volume's name, a bind's source, cut to 15 characters as its table cuts them.
      Mounts: mounts.filter((m) => m.type !== "tmpfs")
        .map((m) => noTrunc ? m.name ?? m.source : ellipsis(m.name ?? m.source, 15)).join(","),
      Names: c.name,
      Networks: c.network,
      Ports: portsText(c),
      RunningFor: humanAgo(c.created, now),
      Size: size,
      State: c.status,
      Status: status,
    }, "containerContext");
  });
}

/** Headers of `history` fields. */
export const HISTORY_HEADERS = {
  Comment: "COMMENT",
  CreatedAt: "CREATED AT",
  CreatedBy: "CREATED BY",
  CreatedSince: "CREATED",
  ID: "IMAGE",
  Size: "SIZE",
};

/** The rows of `history`, newest first, Docker's fields. */
export function historyRows(
  image: ImageRecord,
  steps: readonly HistoryEntry[],
  noTrunc: boolean,
): object[] {
  const now = new Date();
  return steps.map((h, i) => {
    const createdBy = h.created_by.replaceAll("\t", " ");
    return struct({
      Comment: h.comment,
      CreatedAt: h.created ? new Date(h.created).toISOString().replace(/\.\d+Z$/, "Z") : ZERO_TIME,
      CreatedBy: noTrunc ? createdBy : ellipsis(createdBy, 45),
      CreatedSince: h.created ? humanAgo(h.created, now) : "N/A",
      ID: i > 0 ? "<missing>" : noTrunc ? `sha256:${image.id}` : shortId(image.id),
      Size: humanSize(h.size),
    }, "historyContext");
  });
}

/** Headers of `system df` fields. */
export const DF_HEADERS = {
  Active: "ACTIVE",
  Reclaimable: "RECLAIMABLE",
  Size: "SIZE",
  TotalCount: "TOTAL",
  Type: "TYPE",
};

/** A `system df` row. */
export function dfRow(type: string, total: number, active: number, size: string, free: string) {
  return struct(
    { Active: `${active}`, Reclaimable: free, Size: size, TotalCount: `${total}`, Type: type },
    "diskUsageContext",
  );
}

/** Headers of `plugin ls` fields. */
export const PLUGIN_HEADERS = {
  Enabled: "ENABLED",
  Name: "NAME",
  Provides: "PROVIDES",
  Source: "SOURCE",
};

// ---------------------------------------------------------------- inspect

function stringList(v: unknown): unknown {
  return Array.isArray(v) ? v.filter((e) => typeof e === "string") : NIL_SLICE;
}

function stringMap(v: unknown): unknown {
  if (!v || typeof v !== "object" || Array.isArray(v) || !Object.keys(v).length) return NIL_MAP;
  return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, String(e)]));
}

/** `map[string]struct{}`, as ExposedPorts and Volumes are: each value prints `{}`. */
function setMap(v: unknown): unknown {
  if (!v || typeof v !== "object" || Array.isArray(v) || !Object.keys(v).length) return NIL_MAP;
  return Object.fromEntries(Object.keys(v).map((k) => [k, struct({})]));
}

function text(v: unknown): string {
  return typeof v === "string" ? v : "";
}

/** The OCI config blob of `image` (its ID is the blob's digest). */
async function ociConfig(servin: Servin, image: ImageRecord): Promise<Record<string, unknown>> {
  try {
    const parsed = JSON.parse(await new Response(await servin.store.content.read(image.id)).text());
    return parsed && typeof parsed === "object" ? parsed : {};
  } catch {
    // A config that is not JSON cannot have been committed; show what the index knows.
    return {};
  }
}

/**
 * An image as `docker image inspect` shows it — `Id`, `RepoTags`, `Config`
 * {`Env`, `Cmd`, …}, `RootFS`, … read from its stored OCI config — with the
 * seed's fields (`id`, `repo_tags`, `config`, …) unchanged beside them.
 */
export async function inspectImage(servin: Servin, image: ImageRecord): Promise<object> {
  const oci = await ociConfig(servin, image);
  const c = (oci.config && typeof oci.config === "object" ? oci.config : {}) as Record<
    string,
    unknown
  >;
  const rootfs = (oci.rootfs ?? {}) as { diff_ids?: unknown };
  const history = Array.isArray(oci.history) ? oci.history as { comment?: unknown }[] : [];
  const dirs = await servin.store.layers.mounts(image.layers).catch(() => [] as string[]);
  const data: Record<string, string> = {};
  if (dirs.length > 1) data.LowerDir = dirs.slice(0, -1).reverse().join(":");
  if (dirs.length) data.UpperDir = dirs[dirs.length - 1]!;
  const registry = image.metadata.source === "registry" && image.manifest;
  return struct({
    ...image,
    Id: `sha256:${image.id}`,
    RepoTags: [...image.repo_tags],
    RepoDigests: registry
      ? [...new Set(image.repo_tags.map((t) => splitTag(t).repository))].map((r) =>
        `${r}@sha256:${image.manifest}`
      )
      : [],
    Parent: "",
    Comment: text(oci.comment) || text(history[history.length - 1]?.comment),
    Created: text(oci.created) || image.created,
    Author: text(oci.author),
    Config: struct({
      Hostname: "",
      Domainname: "",
      User: text(c.User),
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ExposedPorts: setMap(c.ExposedPorts),
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: stringList(c.Env),
      Cmd: stringList(c.Cmd),
      // Docker leaves these out when unset (omitempty); `build` sets them.
      ...(c.Healthcheck && typeof c.Healthcheck === "object" ? { Healthcheck: c.Healthcheck } : {}),
      Image: "",
      Volumes: setMap(c.Volumes),
      WorkingDir: text(c.WorkingDir),
      Entrypoint: stringList(c.Entrypoint),
      OnBuild: stringList(c.OnBuild),
      Labels: stringMap(c.Labels),
      StopSignal: text(c.StopSignal),
      ...(Array.isArray(c.Shell) ? { Shell: stringList(c.Shell) } : {}),
    }, "container.Config"),
    Architecture: text(oci.architecture),
    Variant: text(oci.variant),
    Os: text(oci.os),
    Size: image.size,
    GraphDriver: struct({ Data: data, Name: "servin" }, "storage.DriverData"),
    RootFS: struct({
      Type: "layers",
      Layers: Array.isArray(rootfs.diff_ids)
        ? rootfs.diff_ids.map(String)
        : image.layers.map((l) => `sha256:${l}`),
    }, "image.RootFS"),
    Metadata: struct({ LastTagTime: ZERO_TIME }, "image.Metadata"),
  }, "image.InspectResponse");
}

/** Docker's `HostConfig.PortBindings` of `-p` values as given (host port "" when chosen at start). */
function portBindings(publish: string[]): Record<string, object[]> {
  const out: Record<string, object[]> = {};
  for (const spec of publish) {
    const m = /^(?:(\d[\d.]*):)?(?:([\d-]*):)?([\d-]+)(?:\/(\w+))?$/.exec(spec);
    if (!m) continue;
    (out[`${m[3]}/${m[4] ?? "tcp"}`] ??= []).push(
      struct({ HostIp: m[1] ?? "", HostPort: m[2] ?? "" }, "nat.PortBinding"),
    );
  }
  return out;
}

/**
 * A container as `docker container inspect` shows it — `Id`, `Name`
 * (`/name`), `State`, `Config`, `HostConfig`, `Mounts`, `NetworkSettings` —
 * with its record's fields unchanged beside them.
 */
export async function inspectContainer(servin: Servin, c: ContainerRecord): Promise<object> {
  const image = c.image_id ? await servin.getImage(c.image_id).catch(() => undefined) : undefined;
  const args = c.process.args;
  const restart = c.host?.restart ?? "no";
  const entrypoint = c.entrypoint ?? image?.config.entrypoint ?? [];
  const fromEntrypoint = entrypoint.length > 0 && entrypoint.every((a, i) => args[i] === a);
  const cmd = args.slice(fromEntrypoint ? entrypoint.length : 0);
  const logPath = c.detached ? await servin.containers.logPath(c.id).catch(() => "") : "";
  const mounts = c.host?.mounts ?? [];
  // Docker's Binds are the -v binds as given; its Config.Volumes the anonymous volumes' places.
  const binds = mounts.filter((m) => m.type === "bind" && m.options.includes("create"))
    .map((m) => `${m.source}:${m.destination}${m.options.includes("ro") ? ":ro" : ""}`);
  const volumes = mounts.filter((m) =>
    m.type === "volume" && m.name && /^[0-9a-f]{64}$/.test(m.name)
  );
  const ep = c.endpoint;
  const net = ep
    ? await servin.containers.networks?.list().then((l) => l.find((n) => n.name === c.network))
      .catch(() => undefined)
    : undefined;
  // Docker's map of "80/tcp" to its host bindings.
  const bindings: Record<string, object[]> = {};
  for (const p of ep?.ports ?? []) {
    (bindings[`${p.container_port}/${p.protocol}`] ??= []).push(
      struct({ HostIp: p.host_ip || "0.0.0.0", HostPort: String(p.host_port) }, "nat.PortBinding"),
    );
  }
  const network = struct({
    IPAMConfig: null,
    Links: NIL_SLICE,
    Aliases: NIL_SLICE,
    MacAddress: ep?.mac ?? "",
    NetworkID: net?.id ?? "",
    EndpointID: "",
    Gateway: ep?.gateway ?? "",
    IPAddress: ep?.ip ?? "",
    IPPrefixLen: ep?.prefix ?? 0,
    IPv6Gateway: "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    DNSNames: NIL_SLICE,
  }, "network.EndpointSettings");
  return struct({
    ...c,
    Id: c.id,
    Created: c.created,
    Path: args[0] ?? "",
    Args: args.slice(1),
    State: struct({
      Status: c.status,
      Running: c.status === "running",
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: c.status === "dead",
      Pid: 0,
      ExitCode: c.exit_code ?? 0,
      Error: "",
      StartedAt: c.started_at ?? ZERO_TIME,
      FinishedAt: c.finished_at ?? ZERO_TIME,
    }, "container.State"),
    Image: c.image_id ? `sha256:${c.image_id}` : "",
    ResolvConfPath: "",
    HostnamePath: "",
    HostsPath: "",
    LogPath: logPath,
    Name: `/${c.name}`,
    RestartCount: c.restart_count ?? 0,
    Driver: c.snapshotter,
    Platform: servin.platform.os,
    MountLabel: "",
    ProcessLabel: "",
    AppArmorProfile: "",
    ExecIDs: NIL_SLICE,
    HostConfig: struct({
      Binds: binds.length ? binds : NIL_SLICE,
      NetworkMode: c.network,
      PortBindings: c.host?.publish?.length ? portBindings(c.host.publish) : NIL_MAP,
      PublishAllPorts: c.host?.publish_all ?? false,
      RestartPolicy: struct({
        Name: restart.split(":")[0],
        MaximumRetryCount: Number(restart.split(":")[1] ?? 0),
      }, "container.RestartPolicy"),
      AutoRemove: c.auto_remove,
      Privileged: false,
      SecurityOpt: c.security_opt ? [...c.security_opt] : NIL_SLICE,
      Runtime: c.runtime,
      ReadonlyRootfs: c.host?.readonly_rootfs === true,
    }, "container.HostConfig"),
    GraphDriver: struct({ Data: { MergedDir: `${c.bundle}/rootfs` }, Name: c.snapshotter }),
    Mounts: mounts.map((m) =>
      struct({
        Type: m.type,
        ...m.type === "volume" ? { Name: m.name ?? "" } : {},
        Source: m.source,
        Destination: m.destination,
        ...m.type === "volume" ? { Driver: "local" } : {},
        Mode: m.options.includes("ro") ? "ro" : "",
        RW: !m.options.includes("ro"),
        Propagation: m.type === "bind" ? "rprivate" : "",
      }, "container.MountPoint")
    ),
    Config: struct({
      Hostname: c.hostname,
      Domainname: "",
      User: c.process.user,
      AttachStdin: c.process.interactive,
      AttachStdout: !c.detached,
      AttachStderr: !c.detached,
      ExposedPorts: setMap(image?.config.exposed_ports),
      Tty: c.process.tty,
      OpenStdin: c.process.interactive,
      StdinOnce: c.process.interactive,
      Env: [...c.process.env],
      Cmd: cmd.length ? cmd : NIL_SLICE,
      Image: c.image,
      Volumes: volumes.length
        ? Object.fromEntries(volumes.map((m) => [m.destination, {}]))
        : NIL_MAP,
      WorkingDir: c.process.cwd,
      Entrypoint: fromEntrypoint ? [...entrypoint] : NIL_SLICE,
      OnBuild: NIL_SLICE,
      Labels: image ? { ...image.config.labels } : {},
    }, "container.Config"),
    NetworkSettings: struct({
      Bridge: "",
      SandboxID: "",
      SandboxKey: ep ? `/run/servin/netns/${c.id}` : "",
      Ports: ep ? bindings : NIL_MAP,
      Gateway: ep?.gateway ?? "",
      IPAddress: ep?.ip ?? "",
      IPPrefixLen: ep?.prefix ?? 0,
      MacAddress: ep?.mac ?? "",
      Networks: { [c.network]: network },
    }, "container.NetworkSettings"),
  }, "container.InspectResponse");
}
