/**
 * An input plugin: `servin image import http(s)://…/rootfs.tar.gz NAME`
 * streams the tarball from the web (nothing is buffered or saved first);
 * the built-in tarball source then recognises and unpacks it as usual.
 *
 * Run: `servin --plugin examples/plugins/http_source.ts image import https://example.com/rootfs.tar.gz app`
 *
 * @module
 */

import type { Plugin } from "../../plugin.ts";

export default {
  name: "http-source",
  setup(api) {
    api.provide("input", {
      name: "http",
      async open(path) {
        if (!/^https?:\/\//.test(path)) return undefined;
        let response: Response;
        try {
          response = await fetch(path);
        } catch (err) {
          throw api.error("not-found", `cannot fetch ${path}: ${(err as Error).message}`);
        }
        if (!response.ok || !response.body) {
          await response.body?.cancel();
          throw api.error("not-found", `cannot fetch ${path}: HTTP ${response.status}`);
        }
        const length = Number(response.headers.get("content-length"));
        return {
          path,
          stream: response.body,
          size: Number.isFinite(length) && length > 0 ? length : undefined,
        };
      },
    });
  },
} satisfies Plugin;
