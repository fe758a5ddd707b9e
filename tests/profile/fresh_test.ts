/**
 * Profile truth in a process's first second, with V8's defaults: the
 * handler's small hot function, inlined and optimized (its loop on-stack
 * replaced) while the profiler runs, keeps its time in each of 32 fresh
 * processes' first 1 s profile, never booked to the handler that calls it.
 * (Before the profiler ran from the start, it vanished from 8 of 16.)
 */

import assert from "node:assert/strict";
import { denoJson } from "./_helpers.ts";

const CHILD = new URL("./testdata/fresh_handler_child.ts", import.meta.url)
  .pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const RUNS = 32;
const AT_ONCE = 4;

Deno.test(`a handler's hot function keeps its time in ${RUNS} fresh 1 s profiles`, async () => {
  const results: { hot: number; handler: number; requests: number }[] = [];
  for (let start = 0; start < RUNS; start += AT_ONCE) {
    results.push(
      ...await Promise.all(
        Array.from({ length: Math.min(AT_ONCE, RUNS - start) }, () =>
          denoJson([
            "run",
            "--config",
            CONFIG,
            "--allow-net",
            "--allow-read",
            "--allow-env",
            "--allow-sys",
            CHILD,
          ])),
      ),
    );
  }
  const shares = results.map((r) => r.hot / (r.hot + r.handler));
  console.log(
    `hot's share of hot + handler: min ${
      (100 * Math.min(...shares)).toFixed(1)
    }%, ${results.filter((r) => r.hot === 0).length} of ${RUNS} without hot`,
  );
  for (const [i, r] of results.entries()) {
    assert.ok(r.requests > 0, `run ${i}: the app answered`);
    assert.ok(
      r.hot > 0,
      `run ${i}: hot is in the profile: ${JSON.stringify(r)}`,
    );
    assert.ok(r.hot > r.handler, `run ${i}: ${JSON.stringify(r)}`);
  }
});
