/**
 * The CLI conventions a Docker user's fingers know, through the real CLI:
 * `version`, suggestions for unknown words, shell completion, value names
 * in help, listing filters, `[y/N]` prompts (on a pseudo-terminal too),
 * `login`'s prompts, closed pipes, `import -c`, and the README's command
 * reference kept in step with the registered commands.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { CommandDef } from "../core/api.ts";
import { builtinCommands, expectedReadme } from "../tools/readme.ts";
import { ok, run, spawn, withTempDir, writeFixture } from "./_cli.ts";
import { startRegistry } from "./_registry.ts";
import { buildTar, type FixtureEntry } from "./_tar.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const HELLO = new URL("../examples/plugins/hello.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

const ROOTFS: FixtureEntry[] = [
  { name: "./", type: "5", mode: 0o755 },
  { name: "./bin/", type: "5" },
  { name: "./bin/hello", body: "#!/bin/sh\necho hello\n", mode: 0o755 },
];

async function tarball(dir: string): Promise<string> {
  return await writeFixture(dir, "rootfs.tar", buildTar(ROOTFS));
}

/** `image import`, returning the 64-hex ID. */
async function importId(root: string, ...args: string[]): Promise<string> {
  return (await ok(root, ["image", "import", ...args])).trim().slice(7);
}

/** The one line of stderr of a failed run. */
async function failure(root: string, args: string[]): Promise<string> {
  const r = await run(root, args);
  assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  return lines[0]!;
}

/** Column `name` of each row of a table servin printed. */
function column(table: string, name: string): string[] {
  const [header, ...rows] = table.trimEnd().split("\n");
  const start = header!.indexOf(name);
  assert.ok(start >= 0, `no column ${name} in ${header}`);
  const next = header!.slice(start + name.length).search(/\S/);
  const end = next < 0 ? undefined : start + name.length + next;
  return rows.map((r) => r.slice(start, end).trim());
}

/**
 * Runs `servin ARGS…` on a pseudo-terminal (util-linux `script`), answering
 * each prompt in `answers` when it appears on the output; returns what the
 * terminal showed and the exit code.
 */
async function onTerminal(
  root: string,
  args: string[],
  answers: [prompt: string, answer: string][] = [],
): Promise<{ code: number; screen: string }> {
  const quoted = [Deno.execPath(), "run", "-A", MAIN, ...args].map((a) => `'${a}'`).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qec", quoted, "/dev/null"],
    env: { SERVIN_ROOT: root, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  let screen = "";
  let next = 0;
  let from = 0;
  for await (const chunk of child.stdout) {
    screen += decoder.decode(chunk, { stream: true });
    // Answer only once the question is on the screen: typed ahead, the terminal would echo it.
    for (let at; next < answers.length && (at = screen.indexOf(answers[next]![0], from)) >= 0;) {
      from = at + answers[next]![0].length;
      await writer.write(new TextEncoder().encode(answers[next++]![1]));
    }
  }
  await writer.close().catch(() => {});
  const status = await child.status;
  await child.stderr.cancel();
  return { code: status.code, screen };
}

Deno.test("servin version names Servin's version, Deno's, the platform and the runtime", async () => {
  const deno = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  const text = await ok("/nonexistent-root", ["version"]);
  assert.match(text, new RegExp(`^ Version: +${deno.version.replaceAll(".", "\\.")}$`, "m"));
  assert.match(text, new RegExp(`^ Deno: +${Deno.version.deno.replaceAll(".", "\\.")} `, "m"));
  assert.match(
    text,
    new RegExp(`^ OS/Arch: +${Deno.build.os}/(amd64|arm64|${Deno.build.arch})$`, "m"),
  );
  assert.match(text, /^ Runtime: +(runc|crun) \(\/.+\)$|^ Runtime: +none found/m);
  const json = JSON.parse(await ok("/nonexistent-root", ["version", "--format", "json"]));
  assert.equal(json.version, deno.version);
  assert.equal(json.deno, Deno.version.deno);
});

Deno.test("an unknown command or flag is named alone, with a suggestion only when one is close", async () => {
  const root = "/nonexistent-root";
  const cases: [string[], string][] = [
    [
      ["rnu", "debian:bookworm"],
      'servin: unknown command "rnu" (see "servin help"). Did you mean "run"?',
    ],
    [["imags"], 'servin: unknown command "imags" (see "servin help"). Did you mean "images"?'],
    [
      ["image", "lss", "-q"],
      'servin: unknown command "lss" (see "servin help image"). Did you mean "ls"?',
    ],
    [["frobnicate", "x"], 'servin: unknown command "frobnicate" (see "servin help")'],
    [
      ["images", "--digest"],
      'servin: unknown flag "--digest" (see "servin image ls --help"). Did you mean "--digests"?',
    ],
    [["images", "--zzzzzz"], 'servin: unknown flag "--zzzzzz" (see "servin image ls --help")'],
    [
      ["--roott", "x", "images"],
      'servin: unknown flag "--roott" (see "servin help"). Did you mean "--root"?',
    ],
  ];
  for (const [args, line] of cases) assert.equal(await failure(root, args), line);
});

Deno.test("every string flag has a value name, and help shows it", async () => {
  const commands: CommandDef[] = await builtinCommands();
  for (const def of commands) {
    for (const [name, flag] of Object.entries(def.flags ?? {})) {
      if (flag.type === "string") {
        assert.ok(flag.value, `servin ${def.name} --${name} has no value name`);
      }
    }
  }
  const help = await ok("/nonexistent-root", ["ps", "--help"]);
  assert.match(help, /-n, --last N +/);
  assert.match(help, /-f, --filter FILTER +/);
  assert.doesNotMatch(help, / string /);
});

Deno.test(
  "completion scripts come from the registered commands, a plugin's included",
  withTempDir(async ({ dir, root }) => {
    const script = join(dir, "servin.bash");
    await Deno.writeTextFile(script, await ok(root, ["--plugin", HELLO, "completion", "bash"]));
    const complete = async (...words: string[]) => {
      const out = await new Deno.Command("bash", {
        args: [
          "-c",
          `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _servin; printf '%s\\n' "\${COMPREPLY[@]}"`,
          "bash",
          script,
          ...words,
        ],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 0, decoder.decode(out.stderr));
      return decoder.decode(out.stdout).trim().split("\n").sort();
    };
    assert.deepEqual(await complete("servin", "hel"), ["hello"]);
    assert.deepEqual(await complete("servin", "image", "l"), ["list", "load", "ls"]);
    assert.deepEqual(await complete("servin", "--root", "/x", "image", "l"), [
      "list",
      "load",
      "ls",
    ]);
    assert.deepEqual(await complete("servin", "images", "--dig"), ["--digests"]);
    assert.deepEqual(await complete("servin", "hello", "--sh"), ["--shout"]);
    assert.deepEqual(await complete("servin", "system", "p"), ["prune"]);
    // A string flag's value is a file name.
    assert.deepEqual(await complete("servin", "save", "-o", "serv"), ["servin.bash"]);

    // zsh and fish are not installed here: their scripts are checked for what they hold.
    const zsh = await ok(root, ["--plugin", HELLO, "completion", "zsh"]);
    assert.match(zsh, /^#compdef servin$/m);
    assert.match(zsh, /'servin' '.*\bhello\b.*'/);
    assert.match(zsh, /'servin hello' '--shout --root --debug --help -h'/);
    const fish = await ok(root, ["--plugin", HELLO, "completion", "fish"]);
    assert.match(fish, /-a hello -d 'Say hello and count the images'/);
    assert.match(fish, /servin image ls\\'' -s f -l filter -r -d 'Filter: /);
    assert.equal(
      await failure(root, ["completion", "tcsh"]),
      'servin: Unknown shell "tcsh": use bash, zsh or fish',
    );
  }),
);

Deno.test(
  "images takes REPOSITORY[:TAG], --digests and the since, before and reference filters",
  withTempDir(async ({ dir, root }) => {
    const path = await tarball(dir);
    const first = await importId(root, path, "app:1");
    const second = await importId(root, "-c", "LABEL tier=web", path, "app:2");
    await ok(root, ["tag", "app:2", "other:2"]);
    const third = await importId(root, path, "tool:1");

    const tags = async (...args: string[]) => {
      const t = await ok(root, ["images", ...args]);
      const repos = column(t, "REPOSITORY");
      return column(t, "TAG").map((tag, i) => `${repos[i]}:${tag}`).sort();
    };
    assert.deepEqual(await tags("app"), ["app:1", "app:2"]);
    assert.deepEqual(await tags("app:2"), ["app:2"]); // not other:2, the same image's other tag
    assert.deepEqual(await tags("-f", "since=app:1"), ["app:2", "other:2", "tool:1"]);
    assert.deepEqual(await tags("-f", `before=${third.slice(0, 12)}`), [
      "app:1",
      "app:2",
      "other:2",
    ]);
    assert.deepEqual(await tags("-f", "since=app:1", "-f", "before=tool:1"), ["app:2", "other:2"]);
    assert.deepEqual(await tags("-f", "reference=o*"), ["other:2"]);
    assert.deepEqual(await tags("-f", "label=tier=web", "app"), ["app:2"]);
    assert.deepEqual(await tags("-f", "dangling=true"), []);
    assert.match(
      await failure(root, ["images", "-f", "since=nope"]),
      /^servin: No such image: nope$/,
    );

    const digests = await ok(root, ["images", "--digests", "app"]);
    const manifests = JSON.parse(await ok(root, ["images", "--format", "json"])) as {
      id: string;
      manifest: string;
    }[];
    const manifestOf = (id: string) => `sha256:${manifests.find((m) => m.id === id)!.manifest}`;
    assert.deepEqual(column(digests, "DIGEST"), [manifestOf(second), manifestOf(first)]);
    assert.deepEqual(column(digests, "IMAGE ID"), [second.slice(0, 12), first.slice(0, 12)]);
  }),
);

Deno.test(
  "ps takes Docker's filters, -n, -l and -s",
  withTempDir(async ({ dir, root }) => {
    const path = await tarball(dir);
    const plain = await importId(root, path, "plain:1");
    await importId(root, "-c", "LABEL role=db", path, "db:1");
    const create = async (...args: string[]) =>
      (await ok(root, ["create", "--snapshotter", "copy", ...args])).trim();
    const a = await create("--name", "alpha", "plain:1");
    const b = await create("--name", "beta", "db:1");
    const c = await create("--name", "gamma", plain.slice(0, 12));

    const names = async (...args: string[]) => column(await ok(root, ["ps", ...args]), "NAMES");
    assert.deepEqual(await names(), []); // none is running
    assert.deepEqual(await names("-a"), ["gamma", "beta", "alpha"]);
    assert.deepEqual(await names("-f", "status=created"), ["gamma", "beta", "alpha"]);
    assert.deepEqual(await names("-f", "status=exited"), []);
    assert.deepEqual(await names("-a", "-f", "name=et"), ["beta"]);
    assert.deepEqual(await names("-a", "-f", `id=${a.slice(0, 6)}`), ["alpha"]);
    assert.deepEqual(await names("-a", "-f", "ancestor=plain:1"), ["gamma", "alpha"]);
    assert.deepEqual(await names("-a", "-f", "label=role=db"), ["beta"]);
    assert.deepEqual(await names("-a", "-f", "label=role=web"), []);
    assert.deepEqual(await names("-a", "-f", "name=alpha", "-f", "name=beta"), ["beta", "alpha"]);
    assert.deepEqual(await names("-a", "-f", "name=alpha", "-f", "label=role=db"), []);
    assert.deepEqual(await names("-a", "-f", "exited=0"), []);
    assert.deepEqual(await names("-n", "2"), ["gamma", "beta"]);
    assert.deepEqual(await names("-l"), ["gamma"]);
    assert.equal((await ok(root, ["ps", "-lq", "--no-trunc"])).trim(), c);
    assert.equal(
      await failure(root, ["ps", "-f", "status=sleeping"]),
      'servin: Invalid filter "status=sleeping": status is one of created, running, exited, dead, paused, restarting, removing',
    );
    assert.match(
      await failure(root, ["ps", "-f", "color=red"]),
      /^servin: Invalid filter "color=red": use status=…/,
    );

    // The copy snapshotter's rootfs is the container's own: its size is the files' bytes.
    const sized = await ok(root, ["ps", "-a", "-s", "-f", `id=${b}`]);
    assert.deepEqual(column(sized, "SIZE"), ["21B (virtual 42B)"]);
    const json = JSON.parse(
      await ok(root, ["ps", "-a", "-s", "--format", "json", "-f", "name=beta"]),
    );
    assert.equal(json[0].size_rw, 21);
  }),
);

Deno.test(
  "prunes ask [y/N] unless -f; without a terminal they read one line, and end of input is no",
  withTempDir(async ({ dir, root }) => {
    const path = await tarball(dir);
    const dangling = await importId(root, path, "d:1");
    await importId(root, path, "d:1"); // d:1 moves: the first image is dangling
    const yes = new TextEncoder().encode("y\n");
    const no = new TextEncoder().encode("n\n");

    const refused = await run(root, ["image", "prune"], { stdin: no });
    assert.equal(refused.code, 0, refused.stderr);
    assert.equal(
      refused.stdout,
      "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] ",
    );
    const eof = await run(root, ["image", "prune"]);
    assert.equal(eof.code, 0);
    assert.match(eof.stdout, /\[y\/N\] \n$/);
    assert.match(
      await ok(root, ["images", "-q", "-a", "-f", "dangling=true"]),
      new RegExp(dangling.slice(0, 12)),
    );

    const pruned = await ok(root, ["image", "prune"], { stdin: yes });
    assert.match(
      pruned,
      new RegExp(
        `\\[y/N\\] Deleted Images:\ndeleted: sha256:${dangling}\n\nTotal reclaimed space: `,
      ),
    );
    assert.doesNotMatch(await ok(root, ["image", "prune", "-a", "-f"]), /WARNING/);

    await importId(root, path, "keep:1");
    await ok(root, ["create", "--snapshotter", "copy", "--name", "c1", "keep:1"]);
    const containerNo = await run(root, ["container", "prune"], { stdin: no });
    assert.equal(
      containerNo.stdout,
      "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ",
    );
    assert.deepEqual(column(await ok(root, ["ps", "-a"]), "NAMES"), ["c1"]);

    const systemNo = await run(root, ["system", "prune", "-a", "--volumes"], { stdin: no });
    assert.equal(
      systemNo.stdout,
      [
        "WARNING! This will remove:",
        "  - all stopped containers",
        "  - all anonymous volumes not used by at least one container",
        "  - all images without at least one container associated to them",
        "",
        "Are you sure you want to continue? [y/N] ",
      ].join("\n"),
    );
    const system = await ok(root, ["system", "prune", "-a"], { stdin: yes });
    assert.match(
      system,
      /^WARNING! This will remove:\n {2}- all stopped containers\n {2}- all images without/,
    );
    assert.match(
      system,
      /Deleted Containers:\n[0-9a-f]{64}\n\nDeleted Images:\ndeleted: sha256:[0-9a-f]{64}\n\nTotal reclaimed space: \d/,
    );
    assert.equal(await ok(root, ["ps", "-aq"]), "");
    assert.equal(await ok(root, ["images", "-q"]), "");
  }),
);

Deno.test(
  "on a terminal, a prune asks and takes the typed answer",
  withTempDir(async ({ dir, root }) => {
    const path = await tarball(dir);
    await importId(root, path, "t:1");
    const question = "Are you sure you want to continue? [y/N] ";
    const no = await onTerminal(root, ["image", "prune", "-a"], [[question, "n\r"]]);
    assert.equal(no.code, 0, no.screen);
    assert.match(no.screen, /WARNING! This will remove all images without at least one container/);
    assert.equal((await ok(root, ["images", "-q"])).trim().length, 12);
    const yes = await onTerminal(root, ["image", "prune", "-a"], [[question, "y\r"]]);
    assert.equal(yes.code, 0, yes.screen);
    assert.match(yes.screen, /Deleted Images:/);
    assert.equal(await ok(root, ["images", "-q"]), "");
  }),
);

Deno.test({
  name: "login asks for the user and the password (not echoed) on a terminal, and warns about -p",
  sanitizeResources: false,
  fn: withTempDir(async ({ dir, root }) => {
    await using registry = await startRegistry(dir);
    const auth = () => Deno.readTextFile(join(root, "auth.json")).then(JSON.parse);
    const asked = await onTerminal(root, ["login", registry.host], [
      ["Username: ", "alice\r"],
      ["Password: ", "s3cr\x7fet-typed\r"],
    ]);
    assert.equal(asked.code, 0, asked.screen);
    assert.match(asked.screen, /Username: alice\r?\n/);
    assert.match(asked.screen, /Password: \r?\n/);
    assert.doesNotMatch(asked.screen, /s3c|typed/);
    assert.match(asked.screen, /Login Succeeded!/);
    const stored = JSON.stringify(await auth());
    assert.match(stored, new RegExp(btoa("alice:s3cet-typed").replaceAll("+", "\\+")));

    const flag = await run(root, ["login", "-u", "bob", "-p", "pw", registry.host]);
    assert.equal(flag.code, 0, flag.stderr);
    assert.equal(
      flag.stderr,
      "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n",
    );
    assert.equal(flag.stdout, "Login Succeeded!\n");
    assert.equal(
      await failure(root, ["login", registry.host]),
      "servin: Cannot ask for credentials without a terminal: give -u USER and --password-stdin",
    );
    assert.equal(
      await failure(root, ["login", "-u", "x", "-p", "y", "--password-stdin", registry.host]),
      "servin: --password and --password-stdin are mutually exclusive",
    );
  }),
});

Deno.test(
  "a closed stdout ends a listing with 0 and a data command with 1, quietly",
  withTempDir(async ({ dir, root }) => {
    const path = await tarball(dir);
    await importId(root, path, "pipe:1");
    // The reader is gone before servin has started, so its first write meets EPIPE.
    const closed = async (args: string[]) => {
      const child = spawn(root, args);
      await child.stdout.cancel();
      const out = await child.output();
      return { code: out.code, stderr: decoder.decode(out.stderr) };
    };
    assert.deepEqual(await closed(["images"]), { code: 0, stderr: "" });
    assert.deepEqual(await closed(["image", "inspect", "pipe:1"]), { code: 0, stderr: "" });
    assert.deepEqual(await closed(["image", "export", "pipe:1"]), { code: 1, stderr: "" });
    assert.deepEqual(await closed(["image", "save", "pipe:1"]), { code: 1, stderr: "" });
  }),
);

Deno.test(
  "the last progress line is cleared before the output",
  withTempDir(async ({ dir, root }) => {
    const { code, screen } = await onTerminal(root, ["image", "import", await tarball(dir), "p:1"]);
    assert.equal(code, 0, screen);
    const clear = "\r\x1b[K";
    const last = screen.lastIndexOf(clear);
    assert.ok(screen.lastIndexOf("Importing ") < last, JSON.stringify(screen));
    assert.match(screen.slice(last + clear.length), /^sha256:[0-9a-f]{64}\r?\n$/);
  }),
);

Deno.test(
  "import -c takes Dockerfile instructions; volumes and stop signal reach the OCI config only",
  withTempDir(async ({ dir, root }) => {
    const path = await tarball(dir);
    const id = await importId(
      root,
      "-c",
      'CMD ["/bin/app", "-x"]',
      "--change",
      "ENTRYPOINT exec /bin/hello",
      "-c",
      'ENV A=1 B="two words"',
      "-c",
      "env C three words",
      "-c",
      "EXPOSE 80 53/udp",
      "-c",
      "USER nobody",
      "-c",
      "WORKDIR /srv",
      "-c",
      "WORKDIR app",
      "-c",
      'LABEL a=b "c d"=e',
      "-c",
      'VOLUME ["/data"]',
      "-c",
      "VOLUME /logs",
      "-c",
      "STOPSIGNAL SIGINT",
      "-e",
      "A=9",
      path,
      "changed:1",
    );
    const oci = JSON.parse(await Deno.readTextFile(join(root, "images", "blobs", "sha256", id)));
    assert.deepEqual(oci.config, {
      Env: [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "A=9",
        "B=two words",
        "C=three words",
      ],
      Cmd: ["/bin/app", "-x"],
      Entrypoint: ["/bin/sh", "-c", "exec /bin/hello"],
      WorkingDir: "/srv/app",
      User: "nobody",
      ExposedPorts: { "80/tcp": {}, "53/udp": {} },
      Labels: { a: "b", "c d": "e" },
      Volumes: { "/data": {}, "/logs": {} },
      StopSignal: "SIGINT",
    });
    const index = JSON.parse(await Deno.readTextFile(join(root, "images", "index.json")));
    assert.deepEqual(Object.keys(index[0].config).sort(), [
      "cmd",
      "entrypoint",
      "env",
      "exposed_ports",
      "labels",
      "user",
      "working_dir",
    ]);
    for (
      const [change, message] of [
        [
          "RUN make",
          'Invalid --change "RUN make": use one of CMD, ENTRYPOINT, ENV, EXPOSE, USER, WORKDIR, LABEL, VOLUME, STOPSIGNAL',
        ],
        ["EXPOSE 99999", 'Invalid --change "EXPOSE 99999": "99999" is not a port'],
        ["VOLUME data", 'Invalid --change "VOLUME data": expected absolute paths'],
        ["STOPSIGNAL ¿", 'Invalid --change "STOPSIGNAL ¿": expected a signal (SIGTERM, 15)'],
        ["CMD", 'Invalid --change "CMD": no command'],
      ]
    ) {
      assert.equal(
        await failure(root, ["import", "-c", change!, path, "bad:1"]),
        `servin: ${message}`,
      );
    }
    assert.equal((await ok(root, ["images", "-q"])).trim(), id.slice(0, 12));
  }),
);

Deno.test("README's command reference is what the registered commands give", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const expected = await expectedReadme(readme, await builtinCommands());
  assert.ok(readme === expected, 'README.md is out of date: run "deno task readme"');
});

Deno.test("README's library method list names every method of the Servin facade", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const api = await Deno.readTextFile(new URL("../core/api.ts", import.meta.url));
  const body = api.slice(
    api.indexOf("export interface Servin "),
    api.indexOf("\n}\n", api.indexOf("export interface Servin ")),
  );
  const methods = [...body.matchAll(/^ {2}(\w+)\(/gm)].map((m) => m[1]!).filter((m) =>
    m !== "close"
  );
  assert.ok(methods.includes("pullImage") && methods.includes("login"), methods.join());
  const list = readme.slice(
    readme.indexOf("Methods: "),
    readme.indexOf("Errors are `ServinError`s"),
  );
  for (const m of methods) assert.ok(list.includes(`\`${m}\``), `README's method list lacks ${m}`);
});
