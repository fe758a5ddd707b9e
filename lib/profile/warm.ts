/**
 * A process's first CPU profile pays for code that later ones find
 * compiled: our converter and protobuf writer run for the first time (V8
 * compiles lazily), and the source-map reader too. Scrapers such as Parca
 * take one profile from each new process, so that first one is most of what
 * a fleet sees. The warm-up runs them once, in the background, on a
 * synthetic profile of this module (which also reads its map: the bundle's
 * map in the bundle), a while after the profiler starts. The profiler
 * itself needs no warming: it runs from the start (profiler.ts).
 */

import type { CpuProfileNode } from "./inspector.ts";
import {
  mainIsolateInfo,
  type ProfilerCore,
  type RawCpuCapture,
} from "./types.ts";
import { nextTask } from "./sleep.ts";

/** How long after the profiler starts the warm-up runs. */
export const WARM_UP_DELAY_MS = 1000;

/**
 * Warms the CPU-profile build once, `delayMs` from now, unless `signal`
 * aborts first (the profiler closed). The timer does not keep the process
 * alive. Resolves true once warm, false if it did not run.
 */
export function warmUpConverter(
  profiler: ProfilerCore,
  signal: AbortSignal,
  delayMs = WARM_UP_DELAY_MS,
): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", cancel);
      run().then(() => resolve(!signal.aborted), () => resolve(false));
    }, delayMs);
    Deno.unrefTimer(timer as unknown as number);
    const cancel = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener("abort", cancel, { once: true });
  });

  async function run(): Promise<void> {
    // Loaded here: the profiler starts without them (the watcher, lighter).
    const [{ cpuProfileToPprof }, { encodeProfile }] = await Promise.all([
      import("./cpu.ts"),
      import("./encode.ts"),
    ]);
    const synthetic = await cpuProfileToPprof(
      syntheticCapture(),
      profiler.sourceMaps,
    );
    await nextTask();
    if (signal.aborted) return;
    await profiler.pauses.around(() => encodeProfile(synthetic));
  }
}

/**
 * A small CPU profile as V8 hands one over: a call chain in this very
 * module (so its source map is read, as the application's will be; in the
 * bundle, that is the bundle's map), VM states, lines with ticks.
 */
export function syntheticCapture(): RawCpuCapture {
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
  return {
    isolates: [{
      isolate: mainIsolateInfo(import.meta.url),
      chunks: [{
        nodes,
        startTime: 0,
        endTime: 100_000,
        samples: [],
        timeDeltas: [],
      }],
    }],
    intervalMicros: 10_000,
    startNanos: 0,
    durationNanos: 100_000_000,
    processCpuMicros: 100_000,
  };
}
