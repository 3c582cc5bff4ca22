import assert from "node:assert/strict";
import { ServinError } from "../../core/errors.ts";
import { parseContainerfile } from "./_parse.ts";
import { expandWord, expandWords, nameValues } from "./_shell.ts";

const vars = new Map([["A", "a"], ["E", ""], ["S", "x y"]]);

Deno.test("expansion follows Docker's forms and quotes", () => {
  assert.equal(expandWord("$A/${A}", vars), "a/a");
  assert.equal(expandWord("${E:-d}|${E-d}|${U-d}", vars), "d||d");
  assert.equal(expandWord("${A:+p}|${E:+p}|${E+p}|${U+p}", vars), "p||p|");
  assert.equal(expandWord(`'$A' "$A" \\$A`, vars), `$A a $A`);
  assert.equal(expandWord(`"a\\"b" 'c\\d'`, vars), `a"b c\\d`);
  assert.equal(expandWord("$1 $", vars), "$1 $");
  assert.equal(expandWord("${A:-${S}}", new Map()), "");
  assert.equal(expandWord("${U:-${S}}", vars), "x y");
  assert.equal(expandWord("`$A", vars, { escape: "`" }), "$A");
  assert.throws(() => expandWord("${U:?gone}", vars), /U: gone/);
  assert.throws(() => expandWord("${A", vars), ServinError);
  assert.throws(() => expandWord(`"open`, vars), /matching "/);
});

Deno.test("prefix, suffix and pattern substitutions follow BuildKit's", () => {
  const v = new Map([["P", "/usr/local/bin/tool.tar.gz"], ["V", "v1.2.3"]]);
  assert.equal(expandWord("${P#*/}", v), "usr/local/bin/tool.tar.gz");
  assert.equal(expandWord("${P##*/}", v), "tool.tar.gz");
  assert.equal(expandWord("${P%.*}", v), "/usr/local/bin/tool.tar");
  assert.equal(expandWord("${P%%.*}", v), "/usr/local/bin/tool");
  assert.equal(expandWord("${V/./-}", v), "v1-2.3");
  assert.equal(expandWord("${V//./-}", v), "v1-2-3");
  assert.equal(expandWord("${V#v}|${U#x}", v), "1.2.3|");
  assert.equal(expandWord("${V/[0-9]/N}", v), "vN.2.3");
});

Deno.test("words split on unquoted blanks only, not inside an expanded value", () => {
  assert.deepEqual(expandWords(`a "b c"  $S d\\ e`, vars), ["a", "b c", "x y", "d e"]);
  assert.deepEqual(expandWords("  ", vars), []);
});

Deno.test("KEY=value pairs and the legacy form", () => {
  assert.deepEqual(nameValues(`A=1 B="two words" C=$A`, vars), [["A", "1"], [
    "B",
    "two words",
  ], ["C", "a"]]);
  assert.deepEqual(nameValues(`K some value $A`, vars, { legacy: true }), [["K", "some value a"]]);
  assert.deepEqual(nameValues(`X Y=2`, vars, { keyOnly: true }), [["X", undefined], ["Y", "2"]]);
  assert.throws(() => nameValues(`X`, vars), /KEY=value/);
});

Deno.test("a Containerfile parses into stages with Docker's line rules", async () => {
  const text = [
    "# syntax=docker/dockerfile:1",
    "# escape=`",
    "ARG BASE=busybox",
    "from ${BASE} AS Build",
    "RUN echo hello `",
    "# a comment inside",
    "  world",
    `COPY --from=build --chown=1:2 ["a b", "/dst/"]`,
    "FROM scratch",
    "COPY --from=0 /x /x",
  ].join("\n");
  const f = await parseContainerfile(text, "Containerfile");
  assert.equal(f.escape, "`");
  assert.equal(f.globalArgs.length, 1);
  assert.equal(f.stages.length, 2);
  assert.equal(f.stages[0]!.name, "build");
  const [run, copy] = f.stages[0]!.steps;
  assert.equal(run!.keyword, "RUN");
  assert.equal(run!.line, 5);
  assert.match(run!.args, /^echo hello\s+world$/);
  assert.deepEqual(copy!.flags, { from: ["build"], chown: ["1:2"] });
  assert.deepEqual(copy!.json, ["a b", "/dst/"]);
});

Deno.test("an unknown instruction names the file and the line", async () => {
  await assert.rejects(
    () => parseContainerfile("FROM busybox\nRUN true\nFROOB x\n", "Dockerfile"),
    (err) =>
      err instanceof ServinError && /^Dockerfile:3: unknown instruction: FROOB$/.test(err.message),
  );
  await assert.rejects(
    () => parseContainerfile("RUN true\n", "F"),
    /F:1: RUN before the first FROM/,
  );
  await assert.rejects(() => parseContainerfile("# nothing\n", "F"), /no FROM/);
  await assert.rejects(
    () => parseContainerfile("FROM a AS x\nFROM b AS x\n", "F"),
    /duplicate stage/,
  );
});

Deno.test("RUN here-documents: the whole command is the script, else the shell reads it", async () => {
  const { heredoc } = await import("./_build.ts");
  assert.equal(heredoc("<<EOF\necho a\necho b\nEOF"), "echo a\necho b");
  assert.equal(heredoc("<<-'END'\n\techo a\nEND"), "echo a");
  assert.equal(heredoc("cat <<EOF > /f\nx\nEOF"), "cat <<EOF > /f\nx\nEOF");
  const f = await parseContainerfile("FROM a\nRUN <<EOF\necho hi\nEOF\nRUN true\n", "F");
  assert.deepEqual(f.stages[0]!.steps.map((s) => [s.keyword, s.line]), [["RUN", 2], ["RUN", 5]]);
});
