/**
 * The profiling engine the pprof plugin serves from: one place to import
 * everything an HTTP layer needs. All of it runs over the process's single
 * `node:inspector` session and needs `--allow-sys`.
 */

export {
  captureCpuProfile,
  type CpuCaptureOptions,
  cpuProfilerBusy,
  CpuProfilerBusyError,
  DEFAULT_INTERVAL_MICROS,
  MIN_INTERVAL_MICROS,
} from "./cpu.ts";
export {
  collectGarbage,
  DEFAULT_HEAP_INTERVAL_BYTES,
  heapProfile,
  heapSamplingInterval,
  type HeapSamplingMode,
  heapSamplingMode,
  startHeapSampling,
  stopHeapSampling,
} from "./heap.ts";
export {
  BLOCK_CHUNK_MS,
  BLOCK_FLOOR_MS,
  BLOCK_SAMPLING_INTERVAL_MICROS,
  BLOCK_TICK_MS,
  blockProfile,
  blockProfileCount,
  blockProfileRate,
  noteProfilerPause,
  startBlockProfiling,
  stopBlockProfiling,
} from "./block.ts";
export { captureTrace, TraceBusyError } from "./trace.ts";
export { encodeProfile, encodeProfileSync } from "./encode.ts";
export { deltaProfile } from "./delta.ts";
export { heapProfileText } from "./text.ts";
