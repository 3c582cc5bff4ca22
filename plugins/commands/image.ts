/**
 * The `image` commands, with `login` and `logout`: names, flags and usage as
 * plain data, so that registering them costs nothing; each `run` imports
 * the module that does the work when the command is the one that runs.
 *
 * @module
 */

import type { CommandDef, FlagSpec } from "../../core/api.ts";
import type { Plugin } from "../../core/registry.ts";
import {
  all,
  commandGroup,
  env,
  force,
  format,
  inspectFormat,
  noTrunc,
  output,
  quiet,
  registryFlags,
  user,
  workdir,
} from "./_define.ts";

const platform: FlagSpec = {
  type: "string",
  description: "Platform to pick from multi-platform images",
  value: "OS/ARCH[/VARIANT]",
};

const imageImport: CommandDef = {
  name: "image import",
  aliases: ["import"],
  summary: "Import a root-filesystem tarball (plain, gzip or zstd) as an image",
  usage: "[OPTIONS] TARBALL|- NAME[:TAG]",
  args: { min: 2, max: 2 },
  flags: {
    change: {
      type: "string",
      short: "c",
      multiple: true,
      description:
        "Dockerfile instruction: CMD, ENTRYPOINT, ENV, EXPOSE, USER, WORKDIR, LABEL, VOLUME, STOPSIGNAL",
      value: "INSTRUCTION",
    },
    cmd: { type: "string", description: "Default command (JSON array or words)", value: "CMD" },
    entrypoint: { type: "string", description: "Entrypoint (JSON array or words)", value: "CMD" },
    env,
    workdir,
    user: user("User"),
    label: { type: "string", short: "l", multiple: true, description: "Label", value: "K=V" },
    message: { type: "string", short: "m", description: "Commit message", value: "TEXT" },
    quiet: quiet("Print only the image ID"),
  },
  run: async (ctx) => await (await import("./_image_import.ts")).importImage(ctx),
};

const imageLs: CommandDef = {
  name: "image ls",
  aliases: ["images", "image list"],
  summary: "List images, newest first",
  usage: "[OPTIONS] [REPOSITORY[:TAG]]",
  args: { max: 1 },
  flags: {
    all: all("Show all images (intermediate images of builds and commits too)"),
    quiet: quiet("Only show image IDs"),
    "no-trunc": noTrunc("Show full image IDs"),
    digests: { type: "boolean", description: "Show the manifest digests" },
    format: format("table, json or a Go template"),
    filter: {
      type: "string",
      short: "f",
      multiple: true,
      description:
        "Filter: reference=PATTERN, dangling=true|false, label=KEY[=VALUE], since=IMAGE, before=IMAGE",
      value: "FILTER",
    },
  },
  run: async (ctx) => await (await import("./_image_list.ts")).listImages(ctx),
};

const imageInspect: CommandDef = {
  name: "image inspect",
  summary: "Show images' records (Docker's fields and Servin's) as a JSON array",
  usage: "[OPTIONS] IMAGE...",
  args: { min: 1 },
  flags: { format: inspectFormat },
  run: async (ctx) => await (await import("./_inspect.ts")).inspectImages(ctx),
};

const imageHistory: CommandDef = {
  name: "image history",
  aliases: ["history"],
  summary: "Show the history of an image",
  usage: "[OPTIONS] IMAGE",
  args: { min: 1, max: 1 },
  flags: {
    "no-trunc": noTrunc("Do not truncate output"),
    format: format("table, json or a Go template"),
  },
  run: async (ctx) => await (await import("./_image_list.ts")).imageHistory(ctx),
};

const imageRm: CommandDef = {
  name: "image rm",
  aliases: ["rmi", "image remove"],
  summary: "Remove images by tag, ID or unique ID prefix",
  usage: "[OPTIONS] IMAGE...",
  args: { min: 1 },
  flags: {
    force: force("Remove an image with several tags by ID"),
  },
  run: async (ctx) => await (await import("./_image_manage.ts")).removeImages(ctx),
};

const imageTag: CommandDef = {
  name: "image tag",
  aliases: ["tag"],
  summary: "Tag an image (moves the tag if another image has it)",
  usage: "SOURCE TARGET[:TAG]",
  args: { min: 2, max: 2 },
  run: async (ctx) => await (await import("./_image_manage.ts")).tagImage(ctx),
};

const imagePrune: CommandDef = {
  name: "image prune",
  summary: "Remove dangling images (-a: all images no container uses), then unused layers",
  usage: "[OPTIONS]",
  args: { max: 0 },
  flags: {
    all: all("Remove all images no container uses"),
    force: force("Do not ask for confirmation"),
  },
  run: async (ctx) => await (await import("./_image_manage.ts")).pruneImages(ctx),
};

const imageLoad: CommandDef = {
  name: "image load",
  aliases: ["load"],
  summary: "Load images from a docker-archive or OCI archive (tar or directory)",
  usage: "[OPTIONS]",
  args: { max: 0 },
  flags: {
    input: {
      type: "string",
      short: "i",
      description: "Read from FILE (or an OCI layout directory) instead of stdin",
      value: "FILE",
    },
    quiet: quiet("No progress"),
    platform,
  },
  run: async (ctx) => await (await import("./_image_archive.ts")).loadImages(ctx),
};

const imageSave: CommandDef = {
  name: "image save",
  aliases: ["save"],
  summary: "Save images to an archive (docker+oci by default, docker-archive, oci-archive)",
  usage: "[OPTIONS] IMAGE...",
  args: { min: 1 },
  flags: {
    output: output("Write to FILE instead of stdout"),
    format: {
      type: "string",
      description: "docker+oci (default), docker-archive or oci-archive",
      value: "FORMAT",
    },
  },
  run: async (ctx) => await (await import("./_image_archive.ts")).saveImages(ctx),
};

const imageExport: CommandDef = {
  name: "image export",
  summary: "Export an image's flattened filesystem as a tarball (.gz: gzip)",
  usage: "[OPTIONS] IMAGE",
  args: { min: 1, max: 1 },
  flags: {
    output: output("Write to FILE (FILE.gz is gzipped) instead of stdout"),
  },
  run: async (ctx) => await (await import("./_image_archive.ts")).exportImage(ctx),
};

const imagePull: CommandDef = {
  name: "image pull",
  aliases: ["pull"],
  summary: "Pull an image from a registry",
  usage: "[OPTIONS] NAME[:TAG|@DIGEST]",
  args: { min: 1, max: 1 },
  flags: { ...registryFlags, quiet: quiet("No progress; print only the ID"), platform },
  run: async (ctx) => await (await import("./_image_registry.ts")).pullImage(ctx),
};

const imagePush: CommandDef = {
  name: "image push",
  aliases: ["push"],
  summary: "Push an image to a registry; prints the manifest digest",
  usage: "[OPTIONS] IMAGE [DESTINATION]",
  args: { min: 1, max: 2 },
  flags: {
    ...registryFlags,
    quiet: quiet("No progress"),
    "compression-format": {
      type: "string",
      description: "Compress uncompressed layers with gzip (default), zstd or none",
      value: "FORMAT",
    },
    "force-compression": {
      type: "boolean",
      description: "Recompress layers compressed otherwise too (default with --compression-format)",
    },
  },
  run: async (ctx) => await (await import("./_image_registry.ts")).pushImage(ctx),
};

const imageBuild: CommandDef = {
  name: "image build",
  aliases: ["build"],
  summary: "Build an image from a Containerfile (or Dockerfile) and a context",
  usage: "[OPTIONS] CONTEXT|-",
  args: { min: 1, max: 1 },
  flags: {
    tag: {
      type: "string",
      short: "t",
      multiple: true,
      description: "Name the image",
      value: "NAME[:TAG]",
    },
    file: {
      type: "string",
      short: "f",
      description: "Containerfile (default CONTEXT/Containerfile, else Dockerfile; - is stdin)",
      value: "FILE",
    },
    "build-arg": { type: "string", multiple: true, description: "Build argument", value: "K=V" },
    target: { type: "string", description: "Stage to build (default: the last)", value: "STAGE" },
    "no-cache": { type: "boolean", description: "Do not use the build cache" },
    pull: {
      type: "string",
      description: "Pull base images: missing (default), always or never",
      value: "POLICY",
    },
    timestamp: {
      type: "string",
      description: "Creation time of the image and latest file time (default: SOURCE_DATE_EPOCH)",
      value: "SECONDS",
    },
    network: {
      type: "string",
      description: "Network of RUN steps: bridge, host or none",
      value: "MODE",
    },
    label: { type: "string", multiple: true, description: "Label for the image", value: "K=V" },
    quiet: quiet("Print only the image ID"),
    progress: { type: "string", description: "auto, plain or quiet", value: "TYPE" },
  },
  run: async (ctx) => await (await import("../build/_command.ts")).buildCommand(ctx),
};

const login: CommandDef = {
  name: "login",
  summary: "Log in to a registry (credentials kept in <root>/auth.json, mode 0600)",
  usage: "[OPTIONS] REGISTRY",
  args: { min: 1, max: 1 },
  flags: {
    ...registryFlags,
    username: user("User name (asked for on a terminal when missing)"),
    password: {
      type: "string",
      short: "p",
      description: "Password (insecure: use --password-stdin, or type it when asked)",
      value: "PASSWORD",
    },
    "password-stdin": { type: "boolean", description: "Read the password from stdin" },
  },
  run: async (ctx) => await (await import("./_image_registry.ts")).login(ctx),
};

const logout: CommandDef = {
  name: "logout",
  summary: "Forget the credentials for a registry",
  usage: "REGISTRY",
  args: { min: 1, max: 1 },
  run: async (ctx) => await (await import("./_image_registry.ts")).logout(ctx),
};

/** The image commands, in registration order. */
export const IMAGE_COMMANDS: readonly CommandDef[] = [
  imageImport,
  imageLs,
  imageInspect,
  imageRm,
  imageTag,
  imageLoad,
  imageSave,
  imageExport,
  imageHistory,
  imagePrune,
  imagePull,
  imagePush,
  imageBuild,
  login,
  logout,
];

/** The built-in `image` command group (with `login` and `logout`). */
export function imageCommands(): Plugin {
  return commandGroup("commands-image", IMAGE_COMMANDS);
}
