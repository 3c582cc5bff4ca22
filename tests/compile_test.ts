/**
 * The compiled binary runs the same end-to-end CLI cases as `main.ts`. It
 * needs a `denort` runtime, which `deno compile` downloads; where that is
 * not possible (as on our build machines), point `DENORT_BIN` at one. Without
 * it this test is reported as ignored.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { withTempDir } from "./_cli.ts";

const denort = Deno.env.get("DENORT_BIN");

Deno.test({
  name: "the compiled servin binary passes the CLI and plugin end-to-end tests (needs DENORT_BIN)",
  ignore: !denort,
  fn: withTempDir(async ({ dir }) => {
    const bin = join(dir, "servin");
    const repo = new URL("..", import.meta.url).pathname;
    const compiled = await new Deno.Command(Deno.execPath(), {
      args: [
        "compile",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        "--allow-run",
        "--allow-net",
        "--allow-sys",
        "--allow-ffi",
        "--include",
        join(repo, "plugins/formats/_decompress_worker.ts"),
        // The trust plugin imports its secretbox by a name the module graph does not follow (see
        // plugins/trust/_keys.ts), so that commands without keys never load it: named here, it
        // is embedded even when only the npm packages the graph reaches are.
        "--include",
        "npm:tweetnacl@1.0.3",
        "--output",
        bin,
        join(repo, "main.ts"),
      ],
      stderr: "piped",
    }).output();
    assert.equal(compiled.code, 0, new TextDecoder().decode(compiled.stderr));
    const tests = await new Deno.Command(Deno.execPath(), {
      args: [
        "test",
        "-A",
        "tests/cli_test.ts",
        "tests/plugins_test.ts",
        "tests/import_security_test.ts",
        // Keys, signatures and the policy: the lazily imported npm module at work in the binary.
        "tests/trust_test.ts",
      ],
      cwd: repo,
      env: { SERVIN_BIN: bin },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(tests.stdout) + new TextDecoder().decode(tests.stderr);
    assert.equal(tests.code, 0, out);
  }),
});
