/**
 * What the profiler's parts exchange: isolates as profiles describe them,
 * raw captures, the settings surfaces agree on, and the little of the
 * profiler that the block profile, the trace and the warm-up use. Its own
 * module, so those parts depend on it and not on each other.
 */

import type { CdpCpuProfile, CdpHeapProfile } from "./inspector.ts";
import type { SourceMaps } from "./sourcemap.ts";
import type { OwnPauses } from "./stalls.ts";

/** Go's CPU profiling rate (100 Hz): every isolate's profiler samples at it. */
export const DEFAULT_INTERVAL_MICROS = 10_000;
/** Finer sampling costs 6–40% of throughput (feasibility.md §4): refused. */
export const MIN_INTERVAL_MICROS = 1_000;
/** Go's MemProfileRate and V8's default: one sample per 512 KiB. */
export const DEFAULT_HEAP_INTERVAL_BYTES = 524_288;
/** A worker's part of a capture is collected this often, so a worker that ends keeps what it had. */
export const WORKER_CHUNK_MS = 250;
/**
 * A program that churns workers (most of its last {@link CHURN_WINDOW}
 * ended workers lived less than this): its new workers' CPU profilers
 * start once they have lived this long, or at once when a capture wants
 * them (profiler.ts, "Worker churn").
 */
export const CHURN_LIFETIME_MS = 250;
/** How many ended workers the churn test looks back on. */
export const CHURN_WINDOW = 8;
/** The keepalive profile is restarted when older than this (its samples are dropped). */
export const KEEPALIVE_MAX_AGE_MS = 10 * 60_000;

/** Thrown when a CPU capture is asked for while another one runs. */
export class CpuProfilerBusyError extends Error {
  constructor() {
    super("cpu profiling already in use");
    this.name = "CpuProfilerBusyError";
  }
}

export type HeapSamplingMode = "inuse" | "allocations" | "off";

/** An isolate as a profile describes it. */
export interface IsolateInfo {
  id: string;
  number: number;
  kind: "main" | "worker";
  url: string;
  name: string;
  /** The `isolate` label of its samples. */
  label: string;
  attachedAt: number;
  alive: boolean;
}

/** The main isolate as a profile made without a profiler describes it (tests, the warm-up). */
export function mainIsolateInfo(url: string): IsolateInfo {
  return {
    id: "main",
    number: 0,
    kind: "main",
    url,
    name: "main",
    label: "main",
    attachedAt: 0,
    alive: true,
  };
}

/** One isolate's part of a CPU capture: V8's profiles, in time order. */
export interface IsolateCpu {
  isolate: IsolateInfo;
  chunks: CdpCpuProfile[];
  /** Why part of it is missing (the isolate ended, a command failed). */
  incomplete?: string;
}

/** What a finished capture hands to the serializers. */
export interface RawCpuCapture {
  isolates: IsolateCpu[];
  /** Sampling interval of the profilers, µs. */
  intervalMicros: number;
  /** Unix time when the capture started, ns. */
  startNanos: number;
  /** Wall time the capture lasted, ns. */
  durationNanos: number;
  /** Process CPU (all threads) over the capture, µs. */
  processCpuMicros: number;
}

/** One isolate's heap sampler, read. */
export interface IsolateHeap {
  isolate: IsolateInfo;
  profile: CdpHeapProfile;
}

/** What one read of the heap samplers gives. */
export interface RawHeapProfile {
  isolates: IsolateHeap[];
  mode: "inuse" | "allocations";
  intervalBytes: number;
  timeNanos: number;
}

/** What one surface asks of the process's profiler; absent: no opinion. */
export interface ProfilerSettings {
  /** Block-profile rate in nanoseconds (Go's meaning); 0: no block profile. */
  blockRate?: number;
  /** Sample every allocation (cumulative `alloc_space`) instead of live objects. */
  allocations?: boolean;
}

/** The settings in force: what the live holds agreed on. */
export interface AgreedSettings {
  blockRate: number;
  allocations: boolean;
}

/** One isolate's part of a profile that ran on several: V8's profiles, in time order. */
export interface CapturePart {
  info: IsolateInfo;
  chunks: CdpCpuProfile[];
  /** That isolate's `performance.now()` right after each chunk started. */
  anchors: number[];
  /** Why part of it is missing (the isolate ended, a command failed). */
  incomplete?: string;
}

/** A profile running on several isolates at once (a capture, a block chunk, a trace). */
export interface MultiProfile {
  end(): Promise<CapturePart[]>;
}

/** What the block profile, the trace and the warm-up use of the profiler. */
export interface ProfilerCore {
  readonly sourceMaps: SourceMaps;
  readonly pauses: OwnPauses;
  /** The main thread's `performance.timeOrigin`: its clock in absolute ms. */
  readonly mainTimeOrigin: number;
  /** The CPU sampling interval of every isolate's profiler, µs. */
  readonly intervalMicros: number;
  /** A trace runs (one at a time). */
  traceBusy: boolean;
  /** Runs a build step, noted as the profiler's own pause where it runs on the profiled thread. */
  buildPause<T>(step: () => T): T;
  startMulti(
    name: string,
    includes: (isolate: { kind: "main" | "worker" }) => boolean,
    chunkWorkers: boolean,
  ): MultiProfile;
}
