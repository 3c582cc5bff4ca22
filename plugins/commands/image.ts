/**
 * The `image` commands, with `login` and `logout`: names, flags and usage as
 * plain data, so that registering them costs nothing; each `run` imports
 * the module that does the work when the command is the one that runs.
 *
 * @module
 */

import type { CommandDef, FlagSpec } from "../../core/api.ts";
import { command, flag, lazy, many, opt, shared } from "./_define.ts";

const rootfs = lazy(() => import("./_image_import.ts"));
const list = lazy(() => import("./_image_list.ts"));
const manage = lazy(() => import("./_image_manage.ts"));
const archive = lazy(() => import("./_image_archive.ts"));
const registry = lazy(() => import("./_image_registry.ts"));
const inspect = lazy(() => import("./_inspect.ts"));
const build = lazy(() => import("../build/_command.ts"));

const platform: FlagSpec = opt("OS/ARCH[/VARIANT]", "Platform to pick from multi-platform images");

/** The image commands, in registration order. */
export const IMAGE_COMMANDS: readonly CommandDef[] = [
  command("image import|import", "[OPTIONS] TARBALL|- NAME[:TAG]", rootfs("importImage"), {
    summary: "Import a root-filesystem tarball (plain, gzip or zstd) as an image",
    flags: {
      change: many(
        "-c INSTRUCTION",
        "Dockerfile instruction: CMD, ENTRYPOINT, ENV, EXPOSE, USER, WORKDIR, LABEL, VOLUME, STOPSIGNAL",
      ),
      cmd: opt("CMD", "Default command (JSON array or words)"),
      entrypoint: opt("CMD", "Entrypoint (JSON array or words)"),
      env: shared.env,
      workdir: shared.workdir,
      user: shared.user("User"),
      label: many("-l K=V", "Label"),
      message: opt("-m TEXT", "Commit message"),
      quiet: shared.quiet("Print only the image ID"),
    },
  }),
  command("image ls|images|image list", "[OPTIONS] [REPOSITORY[:TAG]]", list("listImages"), {
    summary: "List images, newest first",
    flags: {
      all: shared.all("Show all images (intermediate images of builds and commits too)"),
      quiet: shared.quiet("Only show image IDs"),
      "no-trunc": shared.noTrunc("Show full image IDs"),
      digests: flag("Show the manifest digests"),
      format: shared.tableFormat,
      filter: many(
        "-f FILTER",
        "Filter: reference=PATTERN, dangling=true|false, label=KEY[=VALUE], since=IMAGE, before=IMAGE",
      ),
    },
  }),
  command("image inspect", "[OPTIONS] IMAGE...", inspect("inspectImages"), {
    summary: "Show images' records (Docker's fields and Servin's) as a JSON array",
    flags: { format: shared.inspectFormat },
  }),
  command("image rm|rmi|image remove", "[OPTIONS] IMAGE...", manage("removeImages"), {
    summary: "Remove images by tag, ID or unique ID prefix",
    flags: { force: shared.force("Remove an image with several tags by ID") },
  }),
  command("image tag|tag", "SOURCE TARGET[:TAG]", manage("tagImage"), {
    summary: "Tag an image (moves the tag if another image has it)",
  }),
  command("image load|load", "[OPTIONS]", archive("loadImages"), {
    summary: "Load images from a docker-archive or OCI archive (tar or directory)",
    flags: {
      input: opt("-i FILE", "Read from FILE (or an OCI layout directory) instead of stdin"),
      quiet: shared.quiet("No progress"),
      platform,
    },
  }),
  command("image save|save", "[OPTIONS] IMAGE...", archive("saveImages"), {
    summary: "Save images to an archive (docker+oci by default, docker-archive, oci-archive)",
    flags: {
      output: shared.output("Write to FILE instead of stdout"),
      format: opt("FORMAT", "docker+oci (default), docker-archive or oci-archive"),
    },
  }),
  command("image export", "[OPTIONS] IMAGE", archive("exportImage"), {
    summary: "Export an image's flattened filesystem as a tarball (.gz: gzip)",
    flags: { output: shared.output("Write to FILE (FILE.gz is gzipped) instead of stdout") },
  }),
  command("image history|history", "[OPTIONS] IMAGE", list("imageHistory"), {
    summary: "Show the history of an image",
    flags: {
      "no-trunc": shared.noTrunc("Do not truncate output"),
      format: shared.tableFormat,
    },
  }),
  command("image prune", "[OPTIONS]", manage("pruneImages"), {
    summary: "Remove dangling images (-a: all images no container uses), then unused layers",
    flags: {
      all: shared.all("Remove all images no container uses"),
      force: shared.skipConfirm,
    },
  }),
  command("image pull|pull", "[OPTIONS] NAME[:TAG|@DIGEST]", registry("pullImage"), {
    summary: "Pull an image from a registry",
    flags: {
      ...shared.registryFlags,
      quiet: shared.quiet("No progress; print only the ID"),
      platform,
    },
  }),
  command("image push|push", "[OPTIONS] IMAGE [DESTINATION]", registry("pushImage"), {
    summary: "Push an image to a registry; prints the manifest digest",
    flags: {
      ...shared.registryFlags,
      quiet: shared.quiet("No progress"),
      "compression-format": opt(
        "FORMAT",
        "Compress uncompressed layers with gzip (default), zstd or none",
      ),
      "force-compression": flag(
        "Recompress layers compressed otherwise too (default with --compression-format)",
      ),
    },
  }),
  command("image build|build", "[OPTIONS] CONTEXT|-", build("buildCommand"), {
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
      network: opt(
        "NETWORK",
        "Network of RUN steps: bridge (default), host, none or a network's name",
      ),
      label: many("K=V", "Label for the image"),
      quiet: shared.quiet("Print only the image ID"),
      progress: opt("TYPE", "auto, plain or quiet"),
    },
  }),
  command("login", "[OPTIONS] REGISTRY", registry("login"), {
    summary: "Log in to a registry (credentials kept in <root>/auth.json, mode 0600)",
    flags: {
      ...shared.registryFlags,
      username: shared.user("User name (asked for on a terminal when missing)"),
      password: opt(
        "-p PASSWORD",
        "Password (insecure: use --password-stdin, or type it when asked)",
      ),
      "password-stdin": flag("Read the password from stdin"),
    },
  }),
  command("logout", "REGISTRY", registry("logout"), {
    summary: "Forget the credentials for a registry",
  }),
];
