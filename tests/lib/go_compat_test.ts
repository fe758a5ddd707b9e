/** Go's parsers that Corefiles and the command line rely on: exact results and messages. */

import assert from "node:assert/strict";
import {
  FlagError,
  HelpRequested,
  parseGoFlags,
} from "../../lib/cli/go_flags.ts";
import { formatDuration, parseDuration } from "../../lib/duration.ts";
import { splitHostPort } from "../../lib/net/host_port.ts";

Deno.test("splitHostPort() matches Go's net.SplitHostPort", async (t) => {
  const rows: [string, { host: string; port: string } | string][] = [
    ["localhost:6053", { host: "localhost", port: "6053" }],
    [":1234", { host: "", port: "1234" }],
    [":", { host: "", port: "" }],
    ["[::1]:6060", { host: "::1", port: "6060" }],
    ["/foo", "address /foo: missing port in address"],
    ["localhost", "address localhost: missing port in address"],
    ["", "missing port in address"],
    ["::1:6060", "address ::1:6060: too many colons in address"],
    ["[::1:6060", "address [::1:6060: missing ']' in address"],
    ["[::1]", "address [::1]: missing port in address"],
    ["[::1]x:1", "address [::1]x:1: missing port in address"],
    ["[::1]::1", "address [::1]::1: too many colons in address"],
    ["a[b:1", "address a[b:1: unexpected '[' in address"],
    ["a]b:1", "address a]b:1: unexpected ']' in address"],
  ];
  for (const [input, expected] of rows) {
    await t.step(JSON.stringify(input), () => {
      if (typeof expected === "string") {
        assert.throws(() => splitHostPort(input), { message: expected });
      } else assert.deepEqual(splitHostPort(input), expected);
    });
  }
});

Deno.test("parseDuration() matches Go's time.ParseDuration", () => {
  assert.equal(parseDuration("1m30s"), 90e9);
  assert.equal(parseDuration("1.5h"), 5400e9);
  assert.equal(parseDuration(".5s"), 0.5e9);
  assert.equal(parseDuration("-2ms"), -2e6);
  assert.equal(parseDuration("0"), 0);
  assert.equal(parseDuration("3µs"), 3000);
  assert.throws(() => parseDuration("soon"), {
    message: 'time: invalid duration "soon"',
  });
  assert.throws(() => parseDuration("1"), {
    message: 'time: missing unit in duration "1"',
  });
  assert.throws(() => parseDuration("1x"), {
    message: 'time: unknown unit "x" in duration "1x"',
  });
  assert.throws(() => parseDuration("."), {
    message: 'time: invalid duration "."',
  });
  assert.equal(formatDuration(2e9), "2s");
  assert.equal(formatDuration(90e9), "1m30s");
});

Deno.test("parseGoFlags() reads flags as Go's flag package", () => {
  const specs = [
    { names: ["conf"], kind: "string", usage: "" },
    { names: ["dns.port", "p"], kind: "string", usage: "" },
    { names: ["quiet"], kind: "bool", usage: "" },
  ] as const;
  const parsed = parseGoFlags([
    "--conf=a",
    "-p",
    "1053",
    "-quiet",
    "rest",
    "-quiet=false",
  ], specs);
  assert.deepEqual(Object.fromEntries(parsed.values), {
    conf: "a",
    "dns.port": "1053",
    quiet: "true",
  });
  assert.deepEqual(parsed.rest, ["rest", "-quiet=false"]);
  assert.deepEqual(parseGoFlags(["-quiet=0", "--", "-x"], specs).rest, ["-x"]);
  assert.throws(
    () => parseGoFlags(["-x"], specs),
    new FlagError("flag provided but not defined: -x"),
  );
  assert.throws(
    () => parseGoFlags(["-conf"], specs),
    new FlagError("flag needs an argument: -conf"),
  );
  assert.throws(
    () => parseGoFlags(["-quiet=maybe"], specs),
    new FlagError('invalid boolean value "maybe" for -quiet: parse error'),
  );
  assert.throws(
    () => parseGoFlags(["---x"], specs),
    new FlagError("bad flag syntax: ---x"),
  );
  assert.throws(() => parseGoFlags(["-help"], specs), HelpRequested);
});
