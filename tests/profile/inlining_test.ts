/**
 * Profile truth with V8's defaults (inlining on, as users run): a request
 * handler calls a small hot function that TurboFan and Maglev inline into
 * it, and whose loop V8 optimizes before the profile starts. The profile
 * must book the time the test measures in that function to that function,
 * and show it on the loop's line, for a TypeScript and a JavaScript file.
 */

import assert from "node:assert/strict";
import { cpuProfileToPprof } from "../../lib/profile/cpu.ts";
import { profiler } from "./_profiler.ts";
import { assertProfileInvariants } from "./_invariants.ts";
import {
  bodyOf,
  hottestLine,
  markedLine,
  selfByLine,
  stacks,
  typeIndex,
} from "./_helpers.ts";
import * as hotTs from "./testdata/hot.ts";
// @ts-types="./testdata/hot.ts"
import * as hotJs from "./testdata/hot.js";

const HOT_TS = new URL("./testdata/hot.ts", import.meta.url).pathname;
const HOT_JS = new URL("./testdata/hot.js", import.meta.url).pathname;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Serves `makeHandler`'s handler to two in-process clients, lets V8 optimize
 * it for `warmMillis`, then profiles 2 s at 1 ms. Returns the profile and the
 * milliseconds the handler measured inside hot() while it ran.
 */
async function profileHandler(
  module: typeof hotTs,
  warmMillis: number,
) {
  const tally = { requests: 0, hotMillis: 0 };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    module.makeHandler(tally),
  );
  const url = `http://127.0.0.1:${server.addr.port}/`;
  let running = true;
  const clients = Array.from({ length: 2 }, async () => {
    while (running) await (await fetch(url)).text();
  });
  try {
    await sleep(warmMillis);
    const capture = profiler.startCpu();
    tally.hotMillis = 0;
    tally.requests = 0;
    await sleep(2000);
    const raw = await capture.stop();
    const truthMillis = tally.hotMillis;
    const requests = tally.requests;
    const profile = assertProfileInvariants(
      await cpuProfileToPprof(raw, profiler.sourceMaps),
    );
    return { profile, truthMillis, requests };
  } finally {
    running = false;
    await Promise.allSettled(clients);
    await server.shutdown();
  }
}

/** Self CPU (ns) per leaf function name. */
function selfByFunction(p: ReturnType<typeof assertProfileInvariants>) {
  const cpu = typeIndex(p, "cpu");
  const out = new Map<string, number>();
  for (const s of stacks(p)) {
    const leaf = s.frames[0]!;
    out.set(leaf.name, (out.get(leaf.name) ?? 0) + (s.value[cpu] ?? 0));
  }
  return out;
}

for (
  const [label, module, file] of [
    ["TypeScript", hotTs, HOT_TS],
    ["JavaScript", hotJs as typeof hotTs, HOT_JS],
  ] as const
) {
  Deno.test(`inlining on: a handler's small hot function keeps its time and its loop line (${label})`, async () => {
    const { profile: p, truthMillis, requests } = await profileHandler(
      module,
      1500,
    );
    const self = selfByFunction(p);
    // JavaScript entries: everything but the bracketed VM and runtime frames.
    const js = [...self].filter(([name]) => !name.startsWith("["))
      .sort((a, b) => b[1] - a[1]);
    const hotMillis = (self.get("hot") ?? 0) / 1e6;
    const ratio = hotMillis / truthMillis;
    console.log(
      `${label}: hot self ${hotMillis.toFixed(0)} ms vs ${
        truthMillis.toFixed(0)
      } ms measured (${(100 * ratio).toFixed(1)}%), ${requests} requests; ` +
        `top JS: ${
          js.slice(0, 3).map(([n, v]) => `${n} ${(v / 1e6).toFixed(0)} ms`)
            .join(", ")
        }`,
    );
    assert.ok(truthMillis > 300, `the workload ran: ${truthMillis} ms`);
    assert.equal(js[0]?.[0], "hot", "hot is the top JavaScript entry");
    assert.ok(ratio >= 0.9, `hot has ${(100 * ratio).toFixed(1)}% of its time`);
    assert.ok(
      ratio <= 1.15,
      `hot has ${(100 * ratio).toFixed(1)}% of its time`,
    );

    // Its frames are in the fixture, on lines inside hot(), the most on the
    // loop's line (a TypeScript line for hot.ts: source-mapped).
    const { start, end } = bodyOf(file, "hot");
    const byLine = selfByLine(p, "cpu", "hot");
    for (const s of stacks(p)) {
      for (const f of s.frames) {
        if (f.name !== "hot") continue;
        assert.equal(f.file, file);
        assert.ok(
          f.line >= start && f.line <= end,
          `hot at line ${f.line}: ${JSON.stringify(s)}`,
        );
      }
    }
    const loop = markedLine(file, "// hot loop", start);
    const hottest = hottestLine(byLine);
    const share = (byLine.get(loop) ?? 0) /
      [...byLine.values()].reduce((a, b) => a + b, 0);
    console.log(
      `${label}: hot's lines ${
        JSON.stringify([...byLine])
      }; loop line ${loop} has ${(100 * share).toFixed(1)}%`,
    );
    assert.equal(hottest, loop, `hottest line ${hottest}, loop ${loop}`);
  });
}
