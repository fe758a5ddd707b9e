/**
 * Corefile fuzzing: 100 000 generated Corefiles through the whole load
 * (parse, imports, inspect, real plugin setups, servers). Every input either
 * loads or fails with a Corefile or plugin error; never another exception, a
 * stack overflow or a hang (over 1 s for one input).
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { CorefileError } from "../../lib/corefile/mod.ts";
import { decodeUtf8 } from "../../lib/corefile/lexer.ts";
import { setLogSink } from "../../lib/log.ts";
import { PluginError } from "../../lib/server/errors.ts";
import { loadInstance } from "../../lib/server/instance.ts";
import { DIRECTIVES, PLUGINS } from "../../plugins/mod.ts";
import { tempFiles } from "../_helpers.ts";

const RUNS = { soup: 50_000, mutations: 35_000, bytes: 15_000 };
/**
 * An input that loads this slowly every time is pathological (exponential
 * expansion, a hang). One slow run alone is not: on a loaded 2-core machine
 * a GC or a descheduling can stall any input, so a slow one is timed again
 * and judged by its fastest run.
 */
const SLOW_MS = 1000;
const SLOW_RETRIES = 2;

/** Pieces Corefiles are made of, weighted toward the structural ones. */
const PIECES = [
  "{",
  "}",
  "{",
  "}",
  '"',
  '\\"',
  "\\",
  "#",
  "#c",
  "\n",
  "\n",
  " ",
  "\t",
  "\r\n",
  ",",
  ":",
  "\uFEFF",
  ".",
  ".:1053",
  "example.org",
  "EXAMPLE.org.",
  "10.0.0.0/23",
  "::/0",
  "[::1]:53",
  "dns://",
  "tls://",
  "grpc://x",
  "https://a.b:443",
  "unix://x",
  "import",
  "import a.conf",
  "import *.conf",
  "import (s)",
  "import s",
  "import missing",
  "(s)",
  "(t)",
  "{$HOME}",
  "{$NOPE}",
  "{$}",
  "{%PATH%}",
  "{%%}",
  "{$LOOP}",
  "{$SELF}",
  "pprof",
  "pprof :0",
  "pprof localhost:abc",
  "pprof /x",
  "block",
  "block 20",
  "block -1",
  "whoami",
  "log",
  "log . {combined}",
  "class denial",
  "errors",
  "errors stdout",
  "consolidate 5m .*",
  "health :0",
  "lameduck 5s",
  "ready :0",
  "monitor until-ready",
  "reload",
  "reload 2s 1s",
  "cache",
  "forward . 1.1.1.1",
  "nosuch",
  "\u00e9t\u00e9",
  "\u2028",
  "\u00a0",
  "x".repeat(300),
  "a.".repeat(130),
];

const piece = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...PIECES) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 400 }).map((n) =>
      "{".repeat(n) + "\n" + "}".repeat(n)
    ),
  },
);
const soup = fc.array(piece, { maxLength: 80 }).map((parts) => parts.join(" "));

const CASES: string[] = (await Deno.readTextFile(
  new URL("testdata/corefile-cases.jsonl", import.meta.url),
))
  .split("\n").filter((line) => line.trim() !== "").map((line) =>
    JSON.parse(line).corefile
  );

/** A reference Corefile with a few characters inserted, deleted or replaced. */
const mutation = fc.record({
  base: fc.constantFrom(...CASES),
  edits: fc.array(
    fc.record({
      at: fc.nat(),
      cut: fc.nat({ max: 4 }),
      insert: fc.oneof(fc.constantFrom(...PIECES), fc.string()),
    }),
    { minLength: 1, maxLength: 6 },
  ),
}).map(({ base, edits }) =>
  edits.reduce((text, edit) => {
    const at = text.length === 0 ? 0 : edit.at % (text.length + 1);
    return text.slice(0, at) + edit.insert + text.slice(at + edit.cut);
  }, base)
);

/** Raw bytes, decoded as the CLI decodes a Corefile file (invalid UTF-8 becomes U+FFFD). */
const bytes = fc.uint8Array({ maxLength: 200 }).chain((random) =>
  fc.constantFrom(...CASES).map((base) =>
    decodeUtf8(new Uint8Array([...new TextEncoder().encode(base), ...random]))
  )
);

const files = tempFiles({
  "a.conf": "import b.conf\n",
  "b.conf": "import a.conf\n",
  "x.conf": "example.net {\n    whoami\n}\n",
  "y.conf": "pprof {\n",
});
const ENV: Record<string, string> = {
  HOME: "/root",
  PATH: "x",
  LOOP: "{$SELF}",
  SELF: "{$LOOP}",
};

/** CoreDNS's own messages that name no file and line (corefile.md §3, §4.3, §7). */
const LINELESS = [
  /^error inspecting server blocks: /,
  /^address .*: invalid port( ".*" \(want a number from 0 to 65535\))?$/s,
  /^address tcp\/\S*: unknown port$/,
  /^cannot serve .+ - /s,
  /^this plugin can only be used once per Server Block$/,
  /^invalid Class: /,
  /^(address .*: )?(missing port in address|too many colons in address|missing ']' in address|unexpected '[[\]]' in address)$/s,
  /^unable to parse lameduck duration value: /,
  /^(interval value|jitter value) must be /,
  /^time: /,
];

function check(text: string): void {
  let fastest = timedCheck(text);
  for (let retry = 0; retry < SLOW_RETRIES && fastest >= SLOW_MS; retry++) {
    fastest = Math.min(fastest, timedCheck(text));
  }
  assert.ok(
    fastest < SLOW_MS,
    `took ${fastest.toFixed(0)} ms at best of ${1 + SLOW_RETRIES}`,
  );
}

/** Loads `text`: it loads or fails with a Corefile error naming file and line; returns ms. */
function timedCheck(text: string): number {
  const started = performance.now();
  try {
    loadInstance(text, {
      filename: "Corefile",
      dir: files.dir,
      directives: DIRECTIVES,
      plugins: PLUGINS,
      env: (name) => ENV[name],
    });
  } catch (error) {
    if (!(error instanceof CorefileError || error instanceof PluginError)) {
      throw new Error(
        `unexpected ${(error as Error)?.name}: ${(error as Error)?.message}`,
        { cause: error },
      );
    }
    const message = error.message.replace(/^plugin\/\w+: /, "");
    assert.ok(
      /^\S*:\d+ - (Error during parsing|Syntax error): /.test(message) ||
        LINELESS.some((re) => re.test(message)),
      `no file and line: ${error.message}`,
    );
  }
  return performance.now() - started;
}

Deno.test("100 000 generated Corefiles load or fail with a Corefile error, fast", async (t) => {
  const restore = setLogSink(() => {});
  const warn = console.log;
  console.log = () => {}; // import-glob warnings
  let count = 0;
  try {
    for (
      const [name, arbitrary] of [["soup", soup], ["mutations", mutation], [
        "bytes",
        bytes,
      ]] as const
    ) {
      await t.step(`${name}: ${RUNS[name]} inputs`, () => {
        fc.assert(fc.property(arbitrary, (text) => void check(text)), {
          numRuns: RUNS[name],
        });
        count += RUNS[name];
      });
    }
  } finally {
    console.log = warn;
    setLogSink(restore);
    files.cleanup();
  }
  console.log(`fuzzed ${count} Corefiles, 0 failures`);
});
