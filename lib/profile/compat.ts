/**
 * The `@datadog/pprof` API (`time`, `heap`, `encode`) over the process's
 * profiler, so Node scripts that capture profiles in-process carry over:
 *
 *     import { encode, time } from "./lib/profile/mod.ts";
 *     const profile = await time.profile({ durationMillis: 5000 });
 *     await Deno.writeFile("cpu.pb.gz", await encode(profile));
 *
 * Option names, defaults and error messages are `@datadog/pprof`'s. One
 * difference is forced by Deno: the inspector answers asynchronously, so
 * `time.stop()` and `heap.profile()` return a `Promise<Profile>` (and
 * `encode` accepts one). Options the inspector cannot honour (`withContexts`,
 * `lineNumbers`, `useCPED`, `collectAsyncId`, non-`'drop'` column numbers)
 * are accepted and ignored; so is `intervalMicros`: every isolate's
 * profiler samples at the process's one rate (profiler.ts), 100 Hz unless
 * a pprof surface asked for block profiling first.
 *
 * It goes through the one profiler of the process, as every pprof surface
 * does: where the process runs a watcher (`coredeno run`), profiles hold
 * every isolate, each sample labelled with its own. Started by this API
 * alone, the profiler runs from `time.start()` (or `heap.start()`) to the
 * matching stop; as with Node's own profiler, a loop V8 optimized before
 * it started may be booked to its caller, so start it early (a pprof
 * surface, held from the program's start, keeps it running).
 */

import type { Profile } from "../deps.ts";
import { SourceMapper } from "../deps_datadog.ts";
import type { GenerateAllocationLabelsFunction } from "../deps.ts";
import { wallProfileToPprof } from "./cpu.ts";
import { heapProfileToPprof } from "./heap.ts";
import { deltaProfile } from "./delta.ts";
import { encodeProfile, encodeProfileSync } from "./encode.ts";
import { LocalBackend } from "./local.ts";
import {
  localProcessProfiler,
  type ProcessProfiler,
  type ProfilerHold,
} from "./process.ts";
import type { LocationMapper } from "./sourcemap.ts";
import { DEFAULT_HEAP_INTERVAL_BYTES, type RawCpuCapture } from "./types.ts";

export { SourceMapper };

/** `@datadog/pprof`'s time-profiler options. */
export interface TimeProfilerOptions {
  /** `time.profile` only: how long to profile (default 60000). */
  durationMillis?: number;
  /** Accepted; the process's profilers sample at their one rate. */
  intervalMicros?: number;
  /** Maps positions; by default Deno's emit cache maps `.ts` files. */
  sourceMapper?: LocationMapper;
  /** Adds `cpu/nanoseconds` and a `Non JS threads activity` frame. */
  collectCpuTime?: boolean;
  lineNumbers?: boolean;
  withContexts?: boolean;
  workaroundV8Bug?: boolean;
  collectAsyncId?: boolean;
  useCPED?: boolean;
  columnNumbers?: "drop" | "pack" | "emit";
}

const DEFAULT_DURATION_MILLIS = 60_000;
/** `@datadog/pprof`'s default heap stack depth (shown in its messages; V8's own is used). */
const DEFAULT_STACK_DEPTH = 64;

function theProfiler(): ProcessProfiler {
  return localProcessProfiler(() => new LocalBackend());
}

interface Running {
  capture: { stop(): Promise<RawCpuCapture> };
  hold: ProfilerHold;
  options: TimeProfilerOptions;
}

let running: Running | undefined;

function startCapture(options: TimeProfilerOptions): Running {
  const profiler = theProfiler();
  const hold = profiler.hold({}, { source: "time.start()" });
  hold.ready.catch(() => {}); // the capture reports it
  try {
    return { capture: profiler.backend.startCpu(), hold, options };
  } catch (error) {
    void hold.release();
    throw error;
  }
}

function startTime(options: TimeProfilerOptions = {}): void {
  if (running) throw new Error("Wall profiler is already started");
  running = startCapture(options);
}

function stopTime(restart = false): Promise<Profile> {
  if (!running) throw new Error("Wall profiler is not started");
  const { capture, hold, options } = running;
  const stopped = capture.stop();
  // Stays "started": the new capture begins once the old one is stopped.
  const next = restart
    ? stopped.then(() => startCapture(options), () => startCapture(options))
    : undefined;
  running = next
    ? {
      capture: { stop: async () => await (await next).capture.stop() },
      hold: {
        ready: next.then((r) => r.hold.ready),
        release: async () => await (await next).hold.release(),
      },
      options,
    }
    : undefined;
  return stopped.finally(() => hold.release()).then(async (raw) =>
    wallProfileToPprof(raw, await theProfiler().backend.sourceMaps(), {
      mapper: options.sourceMapper,
      collectCpuTime: options.collectCpuTime,
    })
  );
}

/** `@datadog/pprof`'s `time` API. */
export interface TimeProfiler {
  /** Profiles for `durationMillis` (default 60 s) and returns the profile. */
  profile(options?: TimeProfilerOptions): Promise<Profile>;
  /** Starts profiling; throws if already started (or a capture runs). */
  start(options?: TimeProfilerOptions): void;
  /** Stops (and with `restart`, starts again); resolves with the profile. */
  stop(restart?: boolean): Promise<Profile>;
  isStarted(): boolean;
}

/** `@datadog/pprof`'s `heap` API. */
export interface HeapProfiler {
  /** Starts the sampling heap profiler (throws if started). */
  start(
    intervalBytes?: number,
    stackDepth?: number,
    allocations?: boolean,
  ): Promise<void>;
  /** The heap profile (live heap, or allocations since the previous call). */
  profile(
    ignoreSamplePath?: string,
    sourceMapper?: LocationMapper,
    generateLabels?: GenerateAllocationLabelsFunction,
  ): Promise<Profile>;
  /** Stops heap profiling; does nothing when not started. */
  stop(): Promise<void>;
}

/**
 * Wall-time (V8 CPU profiler) profiles, as `@datadog/pprof`'s `time`.
 *
 * @example Profile some work and encode it for `go tool pprof`
 * ```ts
 * import { encode, time } from "./mod.ts";
 *
 * const busy = setInterval(() => {
 *   for (let i = 0; i < 100_000; i++) Math.sqrt(i);
 * }, 1);
 * const profile = await time.profile({ durationMillis: 200 });
 * clearInterval(busy);
 * const gzipped = await encode(profile);
 * if (gzipped[0] !== 0x1f || gzipped[1] !== 0x8b) throw new Error("not gzip");
 * ```
 */
export const time: TimeProfiler = {
  /** Profiles for `durationMillis` (default 60 s) and returns the profile. */
  async profile(options: TimeProfilerOptions = {}): Promise<Profile> {
    startTime(options);
    await new Promise((r) =>
      setTimeout(r, options.durationMillis ?? DEFAULT_DURATION_MILLIS)
    );
    return await stopTime();
  },
  /** Starts profiling; throws if already started (or a capture runs). */
  start: startTime,
  /** Stops (and with `restart`, starts again); resolves with the profile. */
  stop: stopTime,
  isStarted(): boolean {
    return running !== undefined;
  },
};

let heapState:
  | {
    options: {
      intervalBytes: number;
      stackDepth: number;
      allocations: boolean;
    };
    hold: ProfilerHold;
    starting: Promise<void>;
    lastAllocations?: Profile;
  }
  | undefined;

/** Heap profiles, as `@datadog/pprof`'s `heap`. */
export const heap: HeapProfiler = {
  /**
   * Starts the sampling heap profiler (throws if started). With
   * `allocations`, samples every allocation instead of the live heap; V8 has
   * one sampler per isolate, so this is the process's mode, and it conflicts
   * (`PprofConflictError`) with a pprof surface that holds the other one.
   */
  start(
    intervalBytes?: number,
    stackDepth?: number,
    allocations = false,
  ): Promise<void> {
    if (heapState) {
      const o = heapState.options;
      throw new Error(
        `Heap profiler is already started  with intervalBytes ${o.intervalBytes} and stackDepth ${o.stackDepth}`,
      );
    }
    const profiler = theProfiler();
    const hold = profiler.hold({ allocations }, { source: "heap.start()" });
    // The sampler runs from the profiler's start: it is restarted (its
    // samples dropped) only for options other than those it runs with, at
    // once, as @datadog/pprof's start does (the profiler is there: the hold
    // made it).
    let sampling: Promise<void>;
    try {
      sampling = profiler.backend.setHeapSampling(
        allocations ? "allocations" : "inuse",
        { intervalBytes, stackDepth },
      );
    } catch (error) {
      sampling = Promise.reject(error);
    }
    const starting = Promise.all([hold.ready, sampling]).then(() => {});
    starting.catch(() => {}); // reported by profile()
    heapState = {
      options: {
        intervalBytes: intervalBytes ?? DEFAULT_HEAP_INTERVAL_BYTES,
        stackDepth: stackDepth ?? DEFAULT_STACK_DEPTH,
        allocations,
      },
      hold,
      starting,
    };
    return starting;
  },
  /**
   * The heap profile: live heap (`inuse_objects`, `inuse_space`), or in
   * allocation mode what was allocated since the previous call
   * (`alloc_objects`, `alloc_space`; V8 cannot tell which are still live).
   */
  profile(
    ignoreSamplePath?: string,
    sourceMapper?: LocationMapper,
    generateLabels?: GenerateAllocationLabelsFunction,
  ): Promise<Profile> {
    const state = heapState;
    if (!state) throw new Error("Heap profiler is not enabled.");
    return (async () => {
      await state.starting;
      const backend = theProfiler().backend;
      const raw = await backend.readHeap();
      const p = await heapProfileToPprof(raw, await backend.sourceMaps(), {
        mapper: sourceMapper,
        ignoreSamplePath,
        generateLabels,
        external: true,
      });
      if (!state.options.allocations) return p;
      const since = state.lastAllocations
        ? deltaProfile(state.lastAllocations, p)
        : p;
      state.lastAllocations = p;
      return since;
    })();
  },
  /**
   * Stops heap profiling; does nothing when not started. The sampler itself
   * keeps running while a pprof surface holds the profiler.
   */
  async stop(): Promise<void> {
    const state = heapState;
    if (!state) return;
    heapState = undefined;
    await state.hold.release();
  },
};

/** Gzipped `profile.proto` bytes (accepts the promise `time.stop()` gives). */
export async function encode(
  profile: Profile | Promise<Profile>,
): Promise<Uint8Array> {
  return await encodeProfile(await profile);
}

/** Synchronous `encode`. */
export function encodeSync(profile: Profile): Uint8Array {
  return encodeProfileSync(profile);
}
