/**
 * CPU profiles from V8's sampling CPU profiler, reached through the shared
 * inspector session. At most one capture runs at a time.
 *
 * Known limits (V8 and Deno, measured here):
 * - V8's profiler does not see Maglev's on-stack-replacement code compiled
 *   before it started, and books its samples to the caller; by default a
 *   capture therefore makes V8 recompile hot code while it listens
 *   (`reoptimize`, see `discardOptimizedCode`). Inlined functions keep their
 *   own frames (V8 records inlining positions for the profiler).
 * - Leaf frames carry the line that ran (V8's per-line ticks); callers carry
 *   their function's line: V8's profile has no call-site lines.
 * - Deno's Rust side (I/O, HTTP, the event loop) is sampled as "(idle)"; its
 *   CPU reaches the profile only through the `[native: …]` frame.
 * - After a *timer* wake-up, about the first millisecond of JavaScript is
 *   sampled as "(idle)" too (I/O wake-ups are not affected): code running
 *   in short timer callbacks is under-counted, and that CPU also lands in
 *   the `[native: …]` frame, so totals stay right.
 */

import { abortableSleep, nextTask } from "./sleep.ts";
import process from "node:process";
import type { Profile } from "../deps.ts";
import { asOwnPause } from "./stalls.ts";
import { readCallTree, stacksToPprof } from "./call_tree.ts";
import type { CdpCpuProfile } from "./inspector.ts";
import { discardOptimizedCode, post } from "./inspector.ts";
import {
  addComment,
  addSyntheticSample,
  fillFilenames,
  NATIVE_FILE,
  NATIVE_FRAME,
  nowNanos,
  setSampleTypes,
} from "./pprof.ts";
import { type LocationMapper, prepareSourceMaps } from "./sourcemap.ts";

/** Thrown when a CPU capture is asked for while another one runs. */
export class CpuProfilerBusyError extends Error {
  constructor() {
    super("cpu profiling already in use");
    this.name = "CpuProfilerBusyError";
  }
}

/** Go's CPU profiling rate (100 Hz). */
export const DEFAULT_INTERVAL_MICROS = 10_000;
/** Finer sampling costs 6–40% of throughput (feasibility.md §4): refused. */
export const MIN_INTERVAL_MICROS = 1_000;

let busy = false;

/** Whether a CPU capture is running now. */
export function cpuProfilerBusy(): boolean {
  return busy;
}

/** What a finished capture hands to the serializers. */
export interface RawCpuCapture {
  profile: CdpCpuProfile;
  /** Sampling interval asked of V8, µs. */
  intervalMicros: number;
  /** Unix time just before the profiler started, ns. */
  startNanos: number;
  /** Process CPU (all threads) from just before start to just after stop, µs. */
  processCpuMicros: number;
}

/** A running capture; `stop()` must be called once, however the caller ends. */
export interface CpuCapture {
  stop(): Promise<RawCpuCapture>;
}

/** Options of a CPU capture. */
export interface CpuCaptureOptions {
  /**
   * Make V8 drop its optimized code when sampling starts, so code compiled
   * before (on-stack-replacement code above all) is recompiled where the
   * profiler sees it (default true). Without it, a function whose loop was
   * optimized before the capture may have its time booked to its caller.
   * Costs about 11 ms more at start and a re-warm-up of the JIT (5.7% more
   * CPU per request over a capture's first 3 s, 2.8% over 10 s); see
   * plugins/pprof/README.md.
   */
  reoptimize?: boolean;
}

/**
 * Starts V8's CPU profiler. Synchronous: Deno dispatches the commands on the
 * spot, so sampling has begun when this returns (their answers come later and
 * are awaited by `stop`). Throws `CpuProfilerBusyError` if a capture runs, and
 * `RangeError` for intervals under 1 ms.
 */
export function startCpuCapture(
  intervalMicros: number,
  options: CpuCaptureOptions = {},
): CpuCapture {
  if (
    !Number.isFinite(intervalMicros) || intervalMicros < MIN_INTERVAL_MICROS
  ) {
    throw new RangeError(
      `CPU sampling interval must be at least ${MIN_INTERVAL_MICROS} µs, got ${intervalMicros}`,
    );
  }
  if (busy) throw new CpuProfilerBusyError();
  busy = true;
  const interval = Math.round(intervalMicros);
  const cpu0 = process.cpuUsage();
  const startNanos = nowNanos();
  let started: Promise<unknown>;
  try {
    // Deno runs the commands here and now; the block profile must not book
    // the pause of Profiler.start to the application.
    started = asOwnPause(() =>
      Promise.all([
        post("Profiler.enable"),
        post("Profiler.setSamplingInterval", { interval }),
        post("Profiler.start"),
        ...(options.reoptimize ?? true ? discardOptimizedCode(post) : []),
      ])
    );
  } catch (error) {
    busy = false;
    throw error;
  }
  // stop() awaits it; until then (the whole capture) its failure must not be
  // an unhandled rejection, which ends a Deno process.
  started.catch(() => {});
  let stopping: Promise<RawCpuCapture> | undefined;
  return {
    stop() {
      stopping ??= (async () => {
        try {
          await started;
          const { profile } = await asOwnPause(() =>
            post<{ profile: CdpCpuProfile }>("Profiler.stop")
          );
          const used = process.cpuUsage(cpu0);
          return {
            profile,
            intervalMicros: interval,
            startNanos,
            processCpuMicros: used.user + used.system,
          };
        } finally {
          await post("Profiler.disable").catch(() => {});
          busy = false;
        }
      })();
      return stopping;
    },
  };
}

/**
 * Captures a CPU profile for `durationMillis`, or until `signal` aborts (then
 * resolves early with what was collected). The profiler is released however
 * this ends.
 */
export async function captureCpuProfile(
  options: CpuCaptureOptions & {
    durationMillis: number;
    intervalMicros?: number;
    signal?: AbortSignal;
  },
): Promise<Profile> {
  const capture = startCpuCapture(
    options.intervalMicros ?? DEFAULT_INTERVAL_MICROS,
    { reoptimize: options.reoptimize },
  );
  let raw: RawCpuCapture;
  try {
    await abortableSleep(options.durationMillis, options.signal);
  } finally {
    raw = await capture.stop();
  }
  return await cpuProfileToPprof(raw);
}

/**
 * The CPU profile as Go writes one: `samples/count` and `cpu/nanoseconds`,
 * period = the effective interval (V8 samples less often than asked), no
 * `(idle)`, `[program]` and `[gc]` as frames, and one `[native: …]` frame
 * with the process CPU (all threads) that the JavaScript samples miss.
 */
export async function cpuProfileToPprof(
  raw: RawCpuCapture,
  options: { mapper?: LocationMapper } = {},
): Promise<Profile> {
  const { profile: cdp } = raw;
  // Each step in a task of its own, apart from the stop's (V8's hand-over):
  // the application's timers and I/O run between them (bench P8).
  await nextTask();
  const tree = asOwnPause(() => readCallTree(cdp, "cpu"));
  await nextTask();
  const maps = await prepareSourceMaps(tree.table.scripts);
  const elapsedMicros = Math.max(0, cdp.endTime - cdp.startTime);
  const periodNanos = Math.round(
    tree.total > 0
      ? elapsedMicros * 1000 / tree.total
      : raw.intervalMicros * 1000,
  );
  const p = asOwnPause(() =>
    stacksToPprof(
      tree.table,
      tree.stacks.map(({ frames, hits }) => ({
        frames,
        values: [hits, hits * periodNanos],
      })),
      options.mapper ?? maps.mapper,
    )
  );
  await nextTask();
  setSampleTypes(p, [["samples", "count"], ["cpu", "nanoseconds"]], [
    "cpu",
    "nanoseconds",
  ]);
  p.period = periodNanos;
  p.timeNanos = raw.startNanos;
  p.durationNanos = elapsedMicros * 1000;
  const jsNanos = (tree.total - tree.idle) * periodNanos;
  const nonJsNanos = Math.round(raw.processCpuMicros * 1000 - jsNanos);
  if (nonJsNanos > 0) {
    // The samples its CPU time stands for, so -sample_index=samples shows it.
    addSyntheticSample(p, NATIVE_FRAME, NATIVE_FILE, [
      periodNanos > 0 ? Math.round(nonJsNanos / periodNanos) : 0,
      nonJsNanos,
    ]);
  }
  fillFilenames(p);
  addComment(
    p,
    `coredeno: V8 CPU profile, requested interval ${raw.intervalMicros}us, effective ${
      (periodNanos / 1000).toFixed(1)
    }us; ${NATIVE_FRAME} = process CPU (all threads) not seen by JavaScript samples`,
  );
  if (!options.mapper) {
    for (const line of maps.unmapped) {
      addComment(p, `raw JS positions: ${line}`);
    }
  }
  return p;
}

/**
 * The wall-time profile `@datadog/pprof`'s `time` API returns: `sample/count`
 * and `wall/nanoseconds` (its period recomputed from elapsed / samples and
 * clamped to [interval, 2 × interval] as its serializer does), `(program)`
 * dropped, GC as `Garbage Collection` under `Node.js`. With `collectCpuTime`
 * a third `cpu/nanoseconds` type, JavaScript samples valued at the effective
 * interval and a `Non JS threads activity` frame for the rest of the process
 * CPU, as in Node.
 */
export async function wallProfileToPprof(
  raw: RawCpuCapture,
  options: { mapper?: LocationMapper; collectCpuTime?: boolean } = {},
): Promise<Profile> {
  const { profile: cdp } = raw;
  const tree = readCallTree(cdp, "wall");
  const mapper = options.mapper ??
    (await prepareSourceMaps(tree.table.scripts)).mapper;
  const elapsedMicros = Math.max(0, cdp.endTime - cdp.startTime);
  const interval = raw.intervalMicros;
  const periodNanos = 1000 * (tree.total > 0
    ? Math.min(
      Math.max(Math.floor(elapsedMicros / tree.total), interval),
      2 * interval,
    )
    : interval);
  const effectiveNanos = tree.total > 0
    ? elapsedMicros * 1000 / tree.total
    : interval * 1000;
  const p = stacksToPprof(
    tree.table,
    tree.stacks.map(({ frames, hits }) => ({
      frames,
      values: options.collectCpuTime
        ? [hits, hits * periodNanos, Math.round(hits * effectiveNanos)]
        : [hits, hits * periodNanos],
    })),
    mapper,
  );
  setSampleTypes(
    p,
    [
      ["sample", "count"],
      ["wall", "nanoseconds"],
      ...(options.collectCpuTime ? [["cpu", "nanoseconds"] as const] : []),
    ],
    ["wall", "nanoseconds"],
  );
  p.period = periodNanos;
  if (options.collectCpuTime) {
    const jsNanos = (tree.total - tree.idle) * effectiveNanos;
    const nonJs = Math.round(raw.processCpuMicros * 1000 - jsNanos);
    if (nonJs > 0) {
      addSyntheticSample(p, "Non JS threads activity", NATIVE_FILE, [
        0,
        0,
        nonJs,
      ]);
    }
  }
  p.timeNanos = raw.startNanos;
  p.durationNanos = elapsedMicros * 1000;
  fillFilenames(p);
  return p;
}
