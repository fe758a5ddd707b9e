/**
 * coredeno's profiling engine: CPU, heap and allocation profiles of the
 * running Deno process in pprof format, over `node:inspector`.
 *
 * - The engine API (`captureCpuProfile`, `startHeapSampling`, `heapProfile`,
 *   `encodeProfile`, `deltaProfile`, `heapProfileText`, ...) serves the pprof
 *   plugin's endpoints.
 * - The Node-compat API (`time`, `heap`, `encode`, `SourceMapper`) has the
 *   shape of `@datadog/pprof`, for scripts that capture profiles in-process.
 *
 * Permissions: `--allow-sys` (the inspector; Deno accepts only the whole
 * flag), `--allow-env` and `--allow-read` of DENO_DIR for TypeScript line
 * numbers (without them frames keep transpiled-JS positions).
 *
 * @module
 */

export * from "./engine.ts";
export { encode, encodeSync, heap, SourceMapper, time } from "./compat.ts";
export type {
  HeapProfiler,
  TimeProfiler,
  TimeProfilerOptions,
} from "./compat.ts";
export type { Profile } from "../deps.ts";
