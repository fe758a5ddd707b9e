/**
 * The `@datadog/pprof` API (`time`, `heap`, `encode`) over this package's
 * engine, so Node scripts that capture profiles in-process carry over:
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
 * are accepted and ignored.
 */

import type { Profile } from "../deps.ts";
import { SourceMapper } from "../deps.ts";
import type { GenerateAllocationLabelsFunction } from "../deps.ts";
import { type CpuCapture, startCpuCapture, wallProfileToPprof } from "./cpu.ts";
import {
  DEFAULT_HEAP_INTERVAL_BYTES,
  heapProfileToPprof,
  heapSamplingMode,
  readHeapSampler,
  startHeapSampling,
  stopHeapSampling,
} from "./heap.ts";
import { deltaProfile } from "./delta.ts";
import { encodeProfile, encodeProfileSync } from "./encode.ts";
import type { LocationMapper } from "./sourcemap.ts";

export { SourceMapper };

/** `@datadog/pprof`'s time-profiler options. */
export interface TimeProfilerOptions {
  /** `time.profile` only: how long to profile (default 60000). */
  durationMillis?: number;
  /** Sampling interval (default 1000; at least 1000 here). */
  intervalMicros?: number;
  /**
   * Not in `@datadog/pprof`: make V8 recompile hot code when sampling starts
   * (default true), so loops it optimized earlier keep their frames; see
   * `CpuCaptureOptions` in cpu.ts.
   */
  reoptimize?: boolean;
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

const DEFAULT_OPTIONS = {
  durationMillis: 60_000,
  intervalMicros: 1_000,
};

let running:
  | { capture: CpuCapture; options: TimeProfilerOptions }
  | undefined;

function startTime(options: TimeProfilerOptions = {}): void {
  if (running) throw new Error("Wall profiler is already started");
  const merged = { ...DEFAULT_OPTIONS, ...options };
  running = {
    capture: startCpuCapture(merged.intervalMicros, {
      reoptimize: merged.reoptimize,
    }),
    options: merged,
  };
}

function stopTime(restart = false): Promise<Profile> {
  if (!running) throw new Error("Wall profiler is not started");
  const { capture, options } = running;
  const stopped = capture.stop();
  const next = stopped.then(
    () =>
      restart
        ? startCpuCapture(options.intervalMicros!, {
          reoptimize: options.reoptimize,
        })
        : undefined,
  );
  if (restart) {
    // Stays "started": the new capture begins once the old one is stopped.
    running = {
      capture: {
        async stop() {
          const c = await next;
          return await c!.stop();
        },
      },
      options,
    };
  } else {
    running = undefined;
  }
  return stopped.then((raw) =>
    wallProfileToPprof(raw, {
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
    const merged = { ...DEFAULT_OPTIONS, ...options };
    startTime(merged);
    await new Promise((r) => setTimeout(r, merged.durationMillis));
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

let heapOptions:
  | { intervalBytes: number; stackDepth: number; allocations: boolean }
  | undefined;
let heapStarting: Promise<void> = Promise.resolve();
/** Whether `heap.start` started the sampler (so `heap.stop` may stop it). */
let ownsSampler = false;
let lastAllocations: Profile | undefined;

/** Heap profiles, as `@datadog/pprof`'s `heap`. */
export const heap: HeapProfiler = {
  /**
   * Starts the sampling heap profiler (throws if started). With
   * `allocations`, samples every allocation instead of the live heap; V8 has
   * one sampler, so this replaces live-heap sampling process-wide.
   */
  start(
    intervalBytes = DEFAULT_HEAP_INTERVAL_BYTES,
    stackDepth = 64,
    allocations = false,
  ): Promise<void> {
    if (heapOptions) {
      throw new Error(
        `Heap profiler is already started  with intervalBytes ${heapOptions.intervalBytes} and stackDepth ${heapOptions.stackDepth}`,
      );
    }
    heapOptions = { intervalBytes, stackDepth, allocations };
    lastAllocations = undefined;
    ownsSampler = heapSamplingMode() === "off";
    heapStarting = startHeapSampling({
      intervalBytes,
      stackDepth,
      allocations,
    });
    heapStarting.catch(() => {}); // reported by profile()
    return heapStarting;
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
    if (!heapOptions) throw new Error("Heap profiler is not enabled.");
    const allocations = heapOptions.allocations;
    return (async () => {
      await heapStarting;
      const raw = await readHeapSampler();
      const p = await heapProfileToPprof(raw, {
        mapper: sourceMapper,
        ignoreSamplePath,
        generateLabels,
        external: true,
      });
      if (!allocations) return p;
      const since = lastAllocations ? deltaProfile(lastAllocations, p) : p;
      lastAllocations = p;
      return since;
    })();
  },
  /**
   * Stops heap profiling; does nothing when not started. The sampler itself
   * keeps running if something else (the pprof plugin) had started it.
   */
  stop(): Promise<void> {
    if (!heapOptions) return Promise.resolve();
    heapOptions = undefined;
    lastAllocations = undefined;
    return ownsSampler ? stopHeapSampling() : Promise.resolve();
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
