import assert from "node:assert/strict";
import { ServinError } from "../../core/errors.ts";
import {
  goJSON,
  goString,
  NIL_MAP,
  NIL_SLICE,
  parseTemplate,
  renderListing,
  struct,
  tabwrite,
} from "./_template.ts";

// A container as `docker inspect` gives it to a template (fields from Docker's documentation examples).
const container = struct({
  Name: "/boring_lovelace",
  Image: "nginx:latest",
  Args: ["-g", "daemon off;"],
  Config: struct({
    Cmd: ["nginx", "-g", "daemon off;"],
    Entrypoint: NIL_SLICE,
    Env: ["PATH=/usr/bin", "NGINX_VERSION=1.25"],
    Labels: { maintainer: "NGINX Docker Maintainers", "com.example.tier": "web" },
    Volumes: NIL_MAP,
    ExposedPorts: { "80/tcp": struct({}) },
    Image: "nginx",
  }, "container.Config"),
  State: struct({ Status: "running", Running: true, Pid: 4242, ExitCode: 0 }, "container.State"),
  NetworkSettings: struct({
    Networks: {
      bridge: struct({ IPAddress: "172.17.0.2", Gateway: "172.17.0.1" }, "EndpointSettings"),
      backend: struct({ IPAddress: "10.0.0.5", Gateway: "10.0.0.1" }, "EndpointSettings"),
    },
    Ports: { "80/tcp": [struct({ HostIp: "0.0.0.0", HostPort: "8080" })] },
  }, "NetworkSettings"),
  Mounts: [struct({ Type: "volume", Name: "data", Destination: "/data", RW: true }, "MountPoint")],
  Size: 1234567,
}, "container.InspectResponse");

const CASES: [string, string][] = [
  // docs.docker.com "Format command and log output", each function.
  ['{{join .Args " , "}}', "-g , daemon off;"],
  ["{{json .Mounts}}", '[{"Type":"volume","Name":"data","Destination":"/data","RW":true}]'],
  ["{{lower .Name}}", "/boring_lovelace"],
  ['{{split .Image ":"}}', "[nginx latest]"],
  ["{{title .Name}}", "/Boring_lovelace"],
  ["{{upper .Name}}", "/BORING_LOVELACE"],
  [
    "{{range .NetworkSettings.Networks}}{{println .IPAddress}}{{end}}",
    "10.0.0.5\n172.17.0.2\n",
  ],
  // `docker inspect` reference examples.
  ["{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "10.0.0.5172.17.0.2"],
  ["{{.Config.Image}}", "nginx"],
  [
    "{{range $p, $conf := .NetworkSettings.Ports}} {{$p}} -> {{(index $conf 0).HostPort}} {{end}}",
    " 80/tcp -> 8080 ",
  ],
  [
    "{{json .Config}}",
    '{"Cmd":["nginx","-g","daemon off;"],"Entrypoint":null,"Env":["PATH=/usr/bin","NGINX_VERSION=1.25"],' +
    '"Labels":{"com.example.tier":"web","maintainer":"NGINX Docker Maintainers"},"Volumes":null,' +
    '"ExposedPorts":{"80/tcp":{}},"Image":"nginx"}',
  ],
  ["{{.State.Pid}}", "4242"],
  // Go's fmt of slices, maps, nil slices and maps, structs, numbers, booleans.
  ["{{.Config.Cmd}}", "[nginx -g daemon off;]"],
  ["{{.Config.Entrypoint}}", "[]"],
  ["{{.Config.Volumes}}", "map[]"],
  ["{{.Config.Labels}}", "map[com.example.tier:web maintainer:NGINX Docker Maintainers]"],
  ["{{.Config.ExposedPorts}}", "map[80/tcp:{}]"],
  ["{{.State}}", "{running true 4242 0}"],
  ["{{.State.Running}} {{.Size}}", "true 1234567"],
  ["{{.Config.Labels.nothere}}", "<no value>"],
  // index, len, if/else, with, range/else, variables, pipelines, comparison.
  ['{{index .Config.Labels "maintainer"}}', "NGINX Docker Maintainers"],
  ['[{{index .Config.Labels "absent"}}]', "[]"],
  ["{{index .Config.Cmd 1}}", "-g"],
  ["{{len .Config.Env}} {{len .Name}} {{len .Config.Volumes}}", "2 16 0"],
  ["{{if .Config.Entrypoint}}ep{{else}}no entrypoint{{end}}", "no entrypoint"],
  ['{{if eq .State.Status "exited"}}x{{else if .State.Running}}up{{else}}?{{end}}', "up"],
  ["{{with .State}}{{.Status}}/{{.ExitCode}}{{end}}", "running/0"],
  ["{{with .Config.Entrypoint}}{{.}}{{else}}none{{end}}", "none"],
  ["{{range .Config.Entrypoint}}{{.}}{{else}}empty{{end}}", "empty"],
  ["{{range $i, $e := .Config.Cmd}}{{if $i}},{{end}}{{$e}}{{end}}", "nginx,-g,daemon off;"],
  [
    "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
    "com.example.tier=web;maintainer=NGINX Docker Maintainers;",
  ],
  [
    "{{$n := .Name}}{{range .Args}}{{$n}}{{.}} {{end}}",
    "/boring_lovelace-g /boring_lovelacedaemon off; ",
  ],
  ['{{range .Config.Cmd}}{{if eq . "-g"}}{{break}}{{end}}{{.}}{{end}}', "nginx"],
  ['{{range .Config.Cmd}}{{if eq . "-g"}}{{continue}}{{end}}{{.}};{{end}}', "nginx;daemon off;;"],
  ['{{.Name | upper | printf "%q"}}', '"/BORING_LOVELACE"'],
  [
    '{{printf "%-8s|%5d|%05.1f|%v" "ab" 42 3.14159 .Config.Cmd}}',
    "ab      |   42|003.1|[nginx -g daemon off;]",
  ],
  ['{{print "a" 1 2 "b"}} {{println 1 "x"}}', "a1 2b 1 x\n"],
  [
    '{{and .Name .State.Running}} {{or .Config.Entrypoint "default"}} {{not .State.Running}}',
    "true default false",
  ],
  ['{{lt 1 2}} {{ge .State.Pid 5000}} {{ne .Image "x"}}', "true false true"],
  ['{{join (split "a:b:c" ":") "-"}}', "a-b-c"],
  ['{{pad "x" 2 1}}|{{truncate .Name 5}}', "  x |/bori"],
  ["{{slice .Name 1 7}}", "boring"],
  // Whitespace trimming and comments.
  ["a   {{- .Image -}}   b", "anginx:latestb"],
  ["{{/* a comment */}}x{{- /* trimmed */ -}}  y", "xy"],
  ['{{`raw \\n`}}{{"q\\tt"}}', "raw \\nq\tt"],
];

Deno.test("templates give what Go's text/template gives for Docker's documented one-liners", () => {
  for (const [template, want] of CASES) {
    assert.equal(parseTemplate(template).render(container), want, template);
  }
});

const ERRORS: [string, string][] = [
  ["{{.Name}", '1:8: unexpected "}" in operand'],
  ["{{.Name", "1:1: unclosed action"],
  ["{{.Name | }}", "1:11: missing value for command"],
  ["{{nothere .Name}}", '1:3: function "nothere" not defined'],
  ["{{if .Name}}x", "1:3: unexpected EOF"],
  ["x{{end}}", "1:4: unexpected {{end}}"],
  ["line one\n{{$x}}", '2:3: undefined variable "$x"'],
  ["{{.Nope}}", "1:3 (<.Nope>): can't evaluate field Nope in type container.InspectResponse"],
  ["{{.Config.Cmd.First}}", "can't evaluate field First in type []interface {}"],
  ["{{index .Config.Cmd 9}}", "index out of range: 9"],
  ["{{upper .Size}}", "wrong type for value; expected string; got int"],
  ["{{break}}", "{{break}} outside {{range}}"],
  ['{{template "x"}}', "{{template}} is not supported"],
  ["{{.Name 1}}", "Name is not a method but has arguments"],
  ['{{"unterminated}}', "unterminated quoted string"],
];

Deno.test("a bad template is a one-line error that points at its line and column", () => {
  for (const [template, want] of ERRORS) {
    assert.throws(
      () => parseTemplate(template).render(container),
      (err: unknown) => {
        assert.ok(err instanceof ServinError, template);
        assert.equal(err.code, "invalid-argument");
        assert.ok(err.message.includes(want), `${template}: ${err.message}`);
        assert.ok(!err.message.includes("\n"), err.message);
        return true;
      },
    );
  }
});

Deno.test("table listings have a header row and columns aligned as Docker's tabwriter aligns them", () => {
  // docker ps --format "table {{.ID}}\t{{.Labels}}", from Docker's `ps` reference.
  const rows = [
    { ID: "a87ecb4f327c", Labels: "com.docker.swarm.node=ubuntu,com.docker.swarm.storage=ssd" },
    { ID: "01946d9d34d8", Labels: "" },
    { ID: "c1d3b0166030", Labels: "com.docker.swarm.node=debian,com.docker.swarm.cpu=6" },
  ];
  const out = renderListing("table {{.ID}}\\t{{.Labels}}", rows, {
    ID: "CONTAINER ID",
    Labels: "LABELS",
  });
  assert.equal(
    out,
    "CONTAINER ID   LABELS\n" +
      "a87ecb4f327c   com.docker.swarm.node=ubuntu,com.docker.swarm.storage=ssd\n" +
      "01946d9d34d8   \n" +
      "c1d3b0166030   com.docker.swarm.node=debian,com.docker.swarm.cpu=6\n",
  );
  // Narrow columns are 10 wide at least (tabwriter's minwidth), and header functions pass names through.
  const images = renderListing(
    "table {{.Tag}}\\t{{upper .Repository}}\\t{{.Size}}",
    [{ Tag: "3", Repository: "alpine", Size: "7.8MB" }],
    { Tag: "TAG", Repository: "REPOSITORY", Size: "SIZE" },
  );
  assert.equal(images, "TAG       REPOSITORY   SIZE\n3         ALPINE       7.8MB\n");
  // Without `table`: no header, one line per row, `\n` written out becomes a newline.
  assert.equal(
    renderListing(
      "{{.ID}}: {{.Repository}}\\n--",
      [{ ID: "77af4d6b9913", Repository: "<none>" }],
      {},
    ),
    "77af4d6b9913: <none>\n--\n",
  );
  assert.equal(renderListing("{{.ID}}", [], {}), "", "no rows, no output");
});

Deno.test("tabwriter blocks end at a line with fewer cells, as Go's do", () => {
  assert.equal(
    tabwrite("a\tb\tc\nlonger text\ty\nz\n"),
    "a             b         c\nlonger text   y\nz\n",
  );
  assert.equal(
    tabwrite("x\ty\nno tabs\nwide cell here\tq"),
    "x         y\nno tabs\nwide cell here   q",
  );
});

Deno.test("values print and encode as Go prints and encodes them", () => {
  assert.equal(goString([1, "a", [true]]), "[1 a [true]]");
  assert.equal(goString({ b: 1, a: { c: NIL_SLICE } }), "map[a:map[c:[]] b:1]");
  assert.equal(goString(undefined), "<no value>");
  assert.equal(goString(null), "<nil>");
  assert.equal(
    goJSON(struct({ z: 1, a: NIL_MAP, m: { y: "<b>", x: "\u2028" } })),
    '{"z":1,"a":null,"m":{"x":"\\u2028","y":"<b>"}}',
  );
});
