/**
 * A CPU profile built by the real engine (`cpuProfileToPprof`) from a fixed
 * V8 call tree that has every kind of frame: JavaScript functions, V8's VM
 * states (`(program)`, `(garbage collector)`), native ops and builtins
 * without a script, `(idle)`, and process CPU the samples miss. Tests hand
 * it to real clients without depending on what a live process happens to run.
 */

import { cpuProfileToPprof } from "../../lib/profile/cpu.ts";
import { SourceMaps } from "../../lib/profile/sourcemap.ts";
import { mainIsolateInfo } from "../../lib/profile/types.ts";
import type { Profile } from "../../lib/deps.ts";

/** The app's (made-up) script; no source map is found for it. */
export const APP_URL = "file:///srv/app/main.ts";

/** Hits per frame name (self time, 10 ms samples). */
export const HITS: Readonly<Record<string, number>> = {
  handle: 50,
  encode: 20,
  "(program)": 7,
  "(garbage collector)": 5,
  "op_net_send_udp": 3,
  "JSON.stringify": 2,
  "(idle)": 40,
};

const INTERVAL_MICROS = 10_000;

function frame(name: string, url: string, line: number) {
  return {
    functionName: name,
    scriptId: url ? "42" : "0",
    url,
    lineNumber: line,
    columnNumber: url ? 2 : -1,
  };
}

/** The engine's CPU profile of the fixed tree (`[gc]`, `[program]`, ...). */
export async function syntheticCpuProfile(): Promise<Profile> {
  // root → (program) | (garbage collector) | (idle) | main → handle → encode
  //   → op_net_send_udp | JSON.stringify
  const nodes = [
    { id: 1, callFrame: frame("(root)", "", -1), children: [2, 3, 4, 5] },
    {
      id: 2,
      callFrame: frame("(program)", "", -1),
      hitCount: HITS["(program)"],
    },
    {
      id: 3,
      callFrame: frame("(garbage collector)", "", -1),
      hitCount: HITS["(garbage collector)"],
    },
    { id: 4, callFrame: frame("(idle)", "", -1), hitCount: HITS["(idle)"] },
    { id: 5, callFrame: frame("main", APP_URL, 30), children: [6] },
    {
      id: 6,
      callFrame: frame("handle", APP_URL, 10),
      hitCount: HITS.handle,
      children: [7],
    },
    {
      id: 7,
      callFrame: frame("encode", APP_URL, 20),
      hitCount: HITS.encode,
      children: [8, 9],
    },
    {
      id: 8,
      callFrame: frame("op_net_send_udp", "", -1),
      hitCount: HITS["op_net_send_udp"],
    },
    {
      id: 9,
      callFrame: frame("JSON.stringify", "", -1),
      hitCount: HITS["JSON.stringify"],
    },
  ];
  const total = Object.values(HITS).reduce((a, b) => a + b, 0);
  return await cpuProfileToPprof({
    isolates: [{
      isolate: mainIsolateInfo("file:///app.ts"),
      chunks: [{
        nodes,
        startTime: 0,
        endTime: total * INTERVAL_MICROS,
        samples: Array(total).fill(1),
      }],
    }],
    intervalMicros: INTERVAL_MICROS,
    startNanos: Date.UTC(2026, 0, 1) * 1e6,
    durationNanos: total * INTERVAL_MICROS * 1000,
    // 30 ms more than the non-idle samples: the native frame's share.
    processCpuMicros: (total - HITS["(idle)"]!) * INTERVAL_MICROS + 30_000,
  }, new SourceMaps());
}
