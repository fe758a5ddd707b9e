/**
 * The profiling engine the pprof surfaces serve from: one place to import
 * everything an HTTP layer needs. The work runs over the process's one
 * profiler (profiler.ts, reached through process.ts); it needs `--allow-sys`.
 */

export {
  CpuProfilerBusyError,
  DEFAULT_HEAP_INTERVAL_BYTES,
  DEFAULT_INTERVAL_MICROS,
  type HeapSamplingMode,
  MIN_INTERVAL_MICROS,
  Profiler,
  type ProfilerOptions,
  type RawCpuCapture,
  type RawHeapProfile,
} from "./profiler.ts";
export { cpuProfileToPprof, wallProfileToPprof } from "./cpu.ts";
export { heapProfileToPprof } from "./heap.ts";
export {
  BLOCK_CHUNK_MS,
  BLOCK_FLOOR_MS,
  BLOCK_SAMPLING_INTERVAL_MICROS,
  BLOCK_TICK_MS,
  BlockProfiler,
} from "./block.ts";
export { captureTrace, type Trace, TraceBusyError } from "./trace.ts";
export { encodeProfile, encodeProfileSync } from "./encode.ts";
export { deltaProfile } from "./delta.ts";
export { heapProfileText } from "./text.ts";
export {
  type AgreedSettings,
  type Backend,
  existingProcessProfiler,
  localProcessProfiler,
  PprofConflictError,
  ProcessProfiler,
  processProfiler,
  type ProfilerHold,
  type ProfilerSettings,
} from "./process.ts";
export { LocalBackend } from "./local.ts";
export { LocalIsolates } from "./inspector.ts";
export type { IsolateInfo } from "./types.ts";
