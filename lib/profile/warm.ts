/**
 * A process's first CPU profile pays costs that later ones do not: V8 sets
 * up its profiler agent on the session's first `Profiler.enable` and, on
 * the first `Profiler.start`, works out what it then keeps (the line tables
 * of every script), and the converter, the source-map reader and the
 * protobuf writer run for the first time (V8 compiles code lazily). Scrapers such as Parca
 * take one profile from each new process, so that first one is most of what
 * a fleet sees. `warmUpProfiler` pays these costs ahead, once, in the
 * background: in short steps a few ticks apart, so the event loop is never
 * held for long, and never while a capture runs. Its last step is a short
 * real capture on a session of its own (so a `/debug/pprof/profile` asked
 * for meanwhile runs as usual), which reads the source maps of the scripts
 * that were running, most likely the ones the first profile will show.
 */

import { blockProfileRate } from "./block.ts";
import { cpuProfilerBusy, cpuProfileToPprof } from "./cpu.ts";
import { encodeProfile } from "./encode.ts";
import type { CdpCpuProfile, CpuProfileNode } from "./inspector.ts";
import { discardOptimizedCode, post } from "./inspector.ts";
import { nextTask } from "./sleep.ts";
import { asOwnPause, privateSession } from "./stalls.ts";

let warming: Promise<boolean> | undefined;

/** How long after the first surface starts the warm-up runs. */
export const WARM_UP_DELAY_MS = 1000;
/** The warm-up's own short capture (sampled every millisecond). */
const WARM_UP_CAPTURE_MS = 200;

/**
 * Warms the CPU-profile path once per process, `delayMs` from now (after
 * start-up, so the first requests are not kept waiting). The timer does not
 * keep the process alive. Resolves true once warm, false if it stopped
 * early: a capture was running (it pays these costs itself), or a step
 * failed (warming only saves time).
 */
export function scheduleProfilerWarmUp(
  delayMs = WARM_UP_DELAY_MS,
): Promise<boolean> {
  warming ??= unrefSleep(delayMs).then(warmUpProfiler).catch(() => false);
  return warming;
}

/** A sleep that does not keep the process alive. */
function unrefSleep(ms: number): Promise<void> {
  return new Promise((resolve) => Deno.unrefTimer(setTimeout(resolve, ms)));
}

async function warmUpProfiler(): Promise<boolean> {
  // V8's profiler agent (made on the first enable); the feedback vectors
  // that a capture's first `reoptimize` gives every function (which also
  // drops optimized code, once more: V8 recompiles what is hot); what the
  // first start works out and keeps (line tables of every script). One step
  // each, none while a capture runs. Deno runs the commands on the spot,
  // within the step, so no capture can start between them.
  // While stall detection runs, its 10 s chunks do not re-optimize, and code
  // dropped in the middle of one may have its time booked to the caller
  // (plugins/pprof/README.md): the warm-up leaves optimized code alone then.
  const reoptimize = blockProfileRate() === 0;
  const steps = [
    () => [post("Profiler.enable")],
    () => [
      post("Profiler.enable"),
      ...(reoptimize ? discardOptimizedCode(post) : []),
    ],
    () => [
      post("Profiler.enable"),
      post("Profiler.start"),
      post("Profiler.stop"),
    ],
  ];
  for (const step of steps) {
    if (cpuProfilerBusy()) return false;
    await asOwnPause(() => Promise.all([...step(), post("Profiler.disable")]));
    await nextTask();
  }
  const synthetic = await cpuProfileToPprof(syntheticCapture());
  await asOwnPause(() => encodeProfile(synthetic));
  await nextTask();
  const short = await cpuProfileToPprof(await shortCapture());
  await asOwnPause(() => encodeProfile(short));
  return true;
}

/** A capture of `WARM_UP_CAPTURE_MS` on a private session. */
async function shortCapture() {
  const session = privateSession();
  try {
    await asOwnPause(() =>
      Promise.all([
        session.send("Profiler.enable"),
        session.send("Profiler.setSamplingInterval", { interval: 1000 }),
        session.send("Profiler.start"),
      ])
    );
    await unrefSleep(WARM_UP_CAPTURE_MS);
    const { profile } = await asOwnPause(() =>
      session.post<{ profile: CdpCpuProfile }>("Profiler.stop")
    );
    return {
      profile,
      intervalMicros: 1000,
      startNanos: 0,
      processCpuMicros: 0,
    };
  } finally {
    await session.post("Profiler.disable").catch(() => {});
    session.close();
  }
}

/**
 * A small CPU profile as V8 hands one over: a call chain in this very
 * module (so its source map is read, as the application's will be; in the
 * bundle, that is the bundle's map), VM states, lines with ticks.
 */
function syntheticCapture() {
  const frame = (functionName: string, lineNumber: number, url = "") => ({
    functionName,
    scriptId: url ? "1" : "0",
    url,
    lineNumber,
    columnNumber: url ? 2 : -1,
  });
  const nodes: CpuProfileNode[] = [
    { id: 1, callFrame: frame("(root)", -1), children: [2, 3, 4, 5] },
    { id: 2, callFrame: frame("(program)", -1), hitCount: 3 },
    { id: 3, callFrame: frame("(idle)", -1), hitCount: 5 },
    { id: 4, callFrame: frame("(garbage collector)", -1), hitCount: 1 },
  ];
  const depth = 24;
  for (let i = 0; i < depth; i++) {
    const id = 5 + i;
    nodes.push({
      id,
      callFrame: frame(i % 4 ? `warm${i}` : "", 10 + i, import.meta.url),
      hitCount: i % 3,
      children: i + 1 < depth ? [id + 1] : [],
      positionTicks: [{ line: 12 + i, ticks: i % 3 }],
    });
  }
  const profile: CdpCpuProfile = {
    nodes,
    startTime: 0,
    endTime: 100_000,
    samples: [],
    timeDeltas: [],
  };
  return {
    profile,
    intervalMicros: 10_000,
    startNanos: 0,
    processCpuMicros: 100_000,
  };
}
