/**
 * The test process's own profiler, in-process (as a program without a
 * watcher has it), sampling every millisecond. Made when a test module
 * imports this, before the workloads run: it knows every code object they
 * compile, as the process's profiler does from its start (profiler.ts).
 */

import { LocalIsolates } from "../../lib/profile/inspector.ts";
import { Profiler } from "../../lib/profile/profiler.ts";

export const profiler: Profiler = new Profiler(new LocalIsolates(), {
  intervalMicros: 1000,
});

/** A CPU profile of the next `durationMillis`, in pprof form. */
export function captureCpuProfile(
  options: { durationMillis: number; signal?: AbortSignal },
) {
  return profiler.cpuProfile(options);
}
