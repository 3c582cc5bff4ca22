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
  command,
  commandGroup,
  env,
  flag,
  force,
  format,
  inspectFormat,
  lazy,
  many,
  noTrunc,
  opt,
  output,
  quiet,
  registryFlags,
  user,
  workdir,
} from "./_define.ts";

const list = lazy(() => import("./_image_list.ts"));
const manage = lazy(() => import("./_image_manage.ts"));
const archive = lazy(() => import("./_image_archive.ts"));
const registry = lazy(() => import("./_image_registry.ts"));

const platform: FlagSpec = opt("OS/ARCH[/VARIANT]", "Platform to pick from multi-platform images");

/** The image commands, in registration order. */
export const IMAGE_COMMANDS: readonly CommandDef[] = [
  command("image import|import", "[OPTIONS] TARBALL|- NAME[:TAG]", { min: 2, max: 2 }, {
    summary: "Import a root-filesystem tarball (plain, gzip or zstd) as an image",
    flags: {
      change: many(
        "-c INSTRUCTION",
        "Dockerfile instruction: CMD, ENTRYPOINT, ENV, EXPOSE, USER, WORKDIR, LABEL, VOLUME, STOPSIGNAL",
      ),
      cmd: opt("CMD", "Default command (JSON array or words)"),
      entrypoint: opt("CMD", "Entrypoint (JSON array or words)"),
      env,
      workdir,
      user: user("User"),
      label: many("-l K=V", "Label"),
      message: opt("-m TEXT", "Commit message"),
      quiet: quiet("Print only the image ID"),
    },
    run: lazy(() => import("./_image_import.ts"))("importImage"),
  }),
  command("image ls|images|image list", "[OPTIONS] [REPOSITORY[:TAG]]", { max: 1 }, {
    summary: "List images, newest first",
    flags: {
      all: all("Show all images (intermediate images of builds and commits too)"),
      quiet: quiet("Only show image IDs"),
      "no-trunc": noTrunc("Show full image IDs"),
      digests: flag("Show the manifest digests"),
      format: format("table, json or a Go template"),
      filter: many(
        "-f FILTER",
        "Filter: reference=PATTERN, dangling=true|false, label=KEY[=VALUE], since=IMAGE, before=IMAGE",
      ),
    },
    run: list("listImages"),
  }),
  command("image inspect", "[OPTIONS] IMAGE...", { min: 1 }, {
    summary: "Show images' records (Docker's fields and Servin's) as a JSON array",
    flags: { format: inspectFormat },
    run: lazy(() => import("./_inspect.ts"))("inspectImages"),
  }),
  command("image rm|rmi|image remove", "[OPTIONS] IMAGE...", { min: 1 }, {
    summary: "Remove images by tag, ID or unique ID prefix",
    flags: { force: force("Remove an image with several tags by ID") },
    run: manage("removeImages"),
  }),
  command("image tag|tag", "SOURCE TARGET[:TAG]", { min: 2, max: 2 }, {
    summary: "Tag an image (moves the tag if another image has it)",
    run: manage("tagImage"),
  }),
  command("image load|load", "[OPTIONS]", { max: 0 }, {
    summary: "Load images from a docker-archive or OCI archive (tar or directory)",
    flags: {
      input: opt("-i FILE", "Read from FILE (or an OCI layout directory) instead of stdin"),
      quiet: quiet("No progress"),
      platform,
    },
    run: archive("loadImages"),
  }),
  command("image save|save", "[OPTIONS] IMAGE...", { min: 1 }, {
    summary: "Save images to an archive (docker+oci by default, docker-archive, oci-archive)",
    flags: {
      output: output("Write to FILE instead of stdout"),
      format: opt("FORMAT", "docker+oci (default), docker-archive or oci-archive"),
    },
    run: archive("saveImages"),
  }),
  command("image export", "[OPTIONS] IMAGE", { min: 1, max: 1 }, {
    summary: "Export an image's flattened filesystem as a tarball (.gz: gzip)",
    flags: { output: output("Write to FILE (FILE.gz is gzipped) instead of stdout") },
    run: archive("exportImage"),
  }),
  command("image history|history", "[OPTIONS] IMAGE", { min: 1, max: 1 }, {
    summary: "Show the history of an image",
    flags: {
      "no-trunc": noTrunc("Do not truncate output"),
      format: format("table, json or a Go template"),
    },
    run: list("imageHistory"),
  }),
  command("image prune", "[OPTIONS]", { max: 0 }, {
    summary: "Remove dangling images (-a: all images no container uses), then unused layers",
    flags: {
      all: all("Remove all images no container uses"),
      force: force("Do not ask for confirmation"),
    },
    run: manage("pruneImages"),
  }),
  command("image pull|pull", "[OPTIONS] NAME[:TAG|@DIGEST]", { min: 1, max: 1 }, {
    summary: "Pull an image from a registry",
    flags: { ...registryFlags, quiet: quiet("No progress; print only the ID"), platform },
    run: registry("pullImage"),
  }),
  command("image push|push", "[OPTIONS] IMAGE [DESTINATION]", { min: 1, max: 2 }, {
    summary: "Push an image to a registry; prints the manifest digest",
    flags: {
      ...registryFlags,
      quiet: quiet("No progress"),
      "compression-format": opt(
        "FORMAT",
        "Compress uncompressed layers with gzip (default), zstd or none",
      ),
      "force-compression": flag(
        "Recompress layers compressed otherwise too (default with --compression-format)",
      ),
    },
    run: registry("pushImage"),
  }),
  command("image build|build", "[OPTIONS] CONTEXT|-", { min: 1, max: 1 }, {
    summary: "Build an image from a Containerfile (or Dockerfile) and a context",
    flags: {
      tag: many("-t NAME[:TAG]", "Name the image"),
      file: opt(
        "-f FILE",
        "Containerfile (default CONTEXT/Containerfile, else Dockerfile; - is stdin)",
      ),
      "build-arg": many("K=V", "Build argument"),
      target: opt("STAGE", "Stage to build (default: the last)"),
      "no-cache": flag("Do not use the build cache"),
      pull: opt("POLICY", "Pull base images: missing (default), always or never"),
      timestamp: opt(
        "SECONDS",
        "Creation time of the image and latest file time (default: SOURCE_DATE_EPOCH)",
      ),
      network: opt("MODE", "Network of RUN steps: bridge, host or none"),
      label: many("K=V", "Label for the image"),
      quiet: quiet("Print only the image ID"),
      progress: opt("TYPE", "auto, plain or quiet"),
    },
    run: lazy(() => import("../build/_command.ts"))("buildCommand"),
  }),
  command("login", "[OPTIONS] REGISTRY", { min: 1, max: 1 }, {
    summary: "Log in to a registry (credentials kept in <root>/auth.json, mode 0600)",
    flags: {
      ...registryFlags,
      username: user("User name (asked for on a terminal when missing)"),
      password: opt(
        "-p PASSWORD",
        "Password (insecure: use --password-stdin, or type it when asked)",
      ),
      "password-stdin": flag("Read the password from stdin"),
    },
    run: registry("login"),
  }),
  command("logout", "REGISTRY", { min: 1, max: 1 }, {
    summary: "Forget the credentials for a registry",
    run: registry("logout"),
  }),
];

/** The built-in `image` command group (with `login` and `logout`). */
export function imageCommands(): Plugin {
  return commandGroup("commands-image", IMAGE_COMMANDS);
}
