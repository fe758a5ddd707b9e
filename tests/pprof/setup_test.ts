/** `pprof` setup: CoreDNS's own setup_test.go rows, then our deliberate differences. */

import assert from "node:assert/strict";
import { loadInstance } from "../../lib/server/instance.ts";
import { DIRECTIVES, PLUGINS } from "../../plugins/mod.ts";

function load(corefile: string) {
  return loadInstance(corefile, {
    filename: "Corefile",
    directives: DIRECTIVES,
    plugins: PLUGINS,
  });
}

/** A directive snippet inside a server block, as CoreDNS's tests feed setup. */
function inBlock(directive: string): string {
  return `. {\n${directive}\n}\n`;
}

// plugin/pprof/setup_test.go: error or not, messages not compared there.
const COREDNS_ROWS: [string, boolean][] = [
  ["pprof", true],
  ["pprof 1.2.3.4:1234", true],
  ["pprof :1234", true],
  ["pprof {\n}", true],
  ["pprof { block\n}", true],
  ["pprof :1234 {\nblock 20\n}", true],
  ["pprof :1234 -1", false],
  ["pprof /foo", false],
  ["pprof {\na b\n}", false],
  ["pprof {\nblock 20 30\n}", false],
  ["pprof {\nblock invalid\n}", false],
  ["pprof {\nunknown_property\n}", false],
  ["pprof\npprof", false],
];

Deno.test("pprof setup accepts and rejects CoreDNS's setup_test inputs", async (t) => {
  for (const [input, ok] of COREDNS_ROWS) {
    await t.step(JSON.stringify(input), () => {
      if (ok) load(inBlock(input));
      else {assert.throws(() => load(inBlock(input)), {
          message: /^plugin\/pprof: /,
        });}
    });
  }
});

// Where DESIGN.md deliberately differs from CoreDNS's code (and follows its README).
const DIFFERENCES: [string, string][] = [
  [
    "pprof {\n    block 0\n}",
    "plugin/pprof: Corefile:3 - Error during parsing: property 'block' invalid value '0': RATE must be a positive integer",
  ],
  [
    "pprof {\n    block -5\n}",
    "plugin/pprof: Corefile:3 - Error during parsing: property 'block' invalid value '-5': RATE must be a positive integer",
  ],
  [
    "pprof localhost:abc",
    'plugin/pprof: Corefile:2 - Error during parsing: address localhost:abc: invalid port "abc" (want a number from 0 to 65535)',
  ],
  [
    "pprof 127.0.0.1:99999",
    'plugin/pprof: Corefile:2 - Error during parsing: address 127.0.0.1:99999: invalid port "99999" (want a number from 0 to 65535)',
  ],
];

Deno.test("pprof setup follows the README where CoreDNS's code does not", async (t) => {
  for (const [input, message] of DIFFERENCES) {
    await t.step(JSON.stringify(input), () => {
      assert.throws(() => load(inBlock(input)), (error: Error) => {
        assert.equal(error.message, message);
        return true;
      });
    });
  }
});

Deno.test("pprof blocks that disagree on the block rate are an error", () => {
  const corefile =
    "a.example {\n    pprof :6060 {\n        block 20\n    }\n}\n" +
    "b.example {\n    pprof :6061 {\n        block 10\n    }\n}\n";
  assert.throws(() => load(corefile), (error: Error) => {
    assert.equal(
      error.message,
      "plugin/pprof: Corefile:8 - Error during parsing: block rate 10 conflicts with block rate 20 at Corefile:3 " +
        "(block profiling is process-wide)",
    );
    return true;
  });
});

Deno.test("pprof blocks that agree on the block rate, or leave it unset, load", () => {
  load(
    "a.example {\n    pprof :6060 {\n        block 20\n    }\n}\nb.example {\n    pprof :6060\n}\n" +
      "c.example {\n    pprof :6061 {\n        block 20\n    }\n}\n",
  );
});

Deno.test("allow takes addresses and CIDRs; blocks sharing a listener must agree", () => {
  load(
    inBlock("pprof :0 {\n    allow 127.0.0.1 10.0.0.0/8\n    allow ::1/128\n}"),
  );
  assert.throws(() => load(inBlock("pprof {\n    allow\n}")), {
    message:
      "plugin/pprof: Corefile:3 - Error during parsing: Wrong argument count or unexpected line ending after 'allow'",
  });
  assert.throws(() => load(inBlock("pprof {\n    allow 10.0.0.0/33\n}")), {
    message:
      "plugin/pprof: Corefile:3 - Error during parsing: property 'allow' invalid address or CIDR '10.0.0.0/33'",
  });
  assert.throws(
    () =>
      load(
        "a.example {\n    pprof :6060 {\n        allow 10.0.0.0/8\n    }\n}\nb.example {\n    pprof :6060\n}\n",
      ),
    {
      message:
        "plugin/pprof: Corefile:7 - Error during parsing: blocks sharing :6060 must allow the same clients: " +
        "'everyone' here, '10.0.0.0/8' at Corefile:2",
    },
  );
});
