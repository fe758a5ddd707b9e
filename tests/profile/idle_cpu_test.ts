/**
 * A CPU profile of a process that only waited: every V8 sample `(idle)`,
 * and some process CPU outside JavaScript. Built by the real engine from
 * V8's form.
 */

import assert from "node:assert/strict";
import { cpuProfileToPprof } from "../../lib/profile/cpu.ts";
import { SourceMaps } from "../../lib/profile/sourcemap.ts";
import { mainIsolateInfo } from "../../lib/profile/types.ts";
import { LocalIsolates } from "../../lib/profile/inspector.ts";

Deno.test("an idle process's CPU profile keeps the sampling interval as its period, and its native CPU as samples", async () => {
  const idle = 300; // 3 s at 10 ms
  const p = await cpuProfileToPprof({
    isolates: [{
      isolate: mainIsolateInfo("file:///app.ts"),
      chunks: [{
        nodes: [
          {
            id: 1,
            callFrame: {
              functionName: "(root)",
              scriptId: "0",
              url: "",
              lineNumber: -1,
              columnNumber: -1,
            },
            children: [2],
          },
          {
            id: 2,
            callFrame: {
              functionName: "(idle)",
              scriptId: "0",
              url: "",
              lineNumber: -1,
              columnNumber: -1,
            },
            hitCount: idle,
          },
        ],
        startTime: 0,
        endTime: idle * 10_000,
        samples: Array(idle).fill(2),
      }],
    }],
    intervalMicros: 10_000,
    startNanos: 0,
    durationNanos: 3e9,
    processCpuMicros: 50_000,
  }, new SourceMaps(new LocalIsolates()));
  const s = p.stringTable.strings;
  assert.equal(Number(p.period), 10_000_000);
  const comments = p.comment.map((c) => s[Number(c)]!);
  assert.ok(
    comments.some((c) => c.includes("effective 10000.0us")),
    comments.join("\n"),
  );
  // The 50 ms outside JavaScript: 5 samples' worth, as -sample_index=samples shows.
  assert.equal(p.sample.length, 1);
  assert.deepEqual(p.sample[0]!.value.map(Number), [5, 50_000_000]);
});
