/**
 * Keeps `deno task bench` working: runs the quick bench's harness for a few
 * seconds on the in-repo Deno load generator (no wrk, dnsperf or Node
 * packages needed) and checks the JSON it prints, one object per metric.
 */

import assert from "node:assert/strict";
import { CONFIG, REPO } from "./_helpers.ts";

Deno.test("bench: quick harness measures P1 and P7 and prints one JSON object per metric", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      CONFIG,
      "--allow-net=127.0.0.1",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-run",
      new URL("bench/main.ts", REPO).pathname,
      "--quick",
      "--only",
      "P1,P7",
      "--loader",
      "deno",
      "--rounds",
      "6",
      "--seconds",
      "0.4",
      "--no-install",
      "--json",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(60_000),
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `bench failed:\n${stdout}\n${stderr}`);
  const lines = stdout.trim().split("\n").map((l) => JSON.parse(l));
  const byName = (prefix: string) =>
    lines.find((l) => (l.name as string).startsWith(`${prefix} `));
  for (const line of lines) {
    for (const key of ["name", "unit", "min", "max", "n"]) {
      assert.ok(key in line, `${key} missing in ${JSON.stringify(line)}`);
    }
    assert.ok("ratio" in line || "value" in line || "note" in line);
  }
  const p1 = byName("P1");
  assert.ok(p1, stdout);
  assert.equal(p1.unit, "ratio");
  assert.equal(p1.n, 2); // 6 windows: two turns of P1's three processes
  assert.ok(p1.ratio > 0.3 && p1.ratio < 3, `P1 ratio ${p1.ratio}`);
  assert.ok(p1.min <= p1.ratio && p1.ratio <= p1.max);
  const p7 = byName("P7");
  assert.ok(p7.value > 0 && p7.value < 30_000, `P7 ${p7.value}`);
  const rss = byName("P7rss");
  assert.equal(rss.unit, "MiB");
  assert.ok(rss.value > 1, `RSS ${rss.value}`);
  // The readable table goes to stderr when --json is given.
  assert.match(stderr, /\| id +\| metric/);
});
