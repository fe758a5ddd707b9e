/**
 * The block profile's chunks: a rarely called function whose loop V8
 * compiled (on-stack replacement) in an earlier 10 s chunk still gets its
 * own stalls, not its caller's, with nothing deoptimized: every chunk is a
 * profile on the profiler that has run since the start. V8's defaults; the
 * real profiler, in process.
 */

import assert from "node:assert/strict";
import { BLOCK_CHUNK_MS } from "../../lib/profile/block.ts";
import { stacks, typeIndex } from "./_helpers.ts";
import { profiler } from "./_profiler.ts";

/** Holds the event loop for `ms` milliseconds in one loop. */
export function holdLoop(ms: number): number {
  const start = performance.now();
  let x = 0;
  while (performance.now() - start < ms) {
    for (let i = 0; i < 10_000; i++) x = (x * 1.000001 + i) % 1e9;
  }
  return x;
}

Deno.test("block: a loop compiled in an earlier chunk keeps its stalls", async () => {
  profiler.block.start(1);
  let injected = 0;
  try {
    // Five holds 2.5 s apart: the last ones run after the first chunk ends.
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 2500));
      const t0 = performance.now();
      (function callsHoldLoop() {
        holdLoop(150);
      })();
      injected += performance.now() - t0;
    }
    assert.ok(5 * 2500 > BLOCK_CHUNK_MS, "the holds span two chunks");
    await new Promise((r) => setTimeout(r, 50));
    const p = await profiler.block.profile();
    const delay = typeIndex(p, "delay");
    let own = 0;
    let caller = 0;
    for (const s of stacks(p)) {
      const leaf = s.frames[0]?.name;
      if (leaf === "holdLoop") own += s.value[delay] ?? 0;
      if (leaf === "callsHoldLoop") caller += s.value[delay] ?? 0;
    }
    console.log(
      `injected ${injected.toFixed(0)} ms: holdLoop ${
        (own / 1e6).toFixed(0)
      } ms, its caller ${(caller / 1e6).toFixed(0)} ms`,
    );
    assert.ok(own >= 0.9 * (own + caller), `holdLoop ${own}, caller ${caller}`);
    assert.ok(
      Math.abs(own / 1e6 / injected - 1) <= 0.25,
      `holdLoop ${own / 1e6} ms vs ${injected} ms injected`,
    );
  } finally {
    await profiler.block.stop();
  }
});
