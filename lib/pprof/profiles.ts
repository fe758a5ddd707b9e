/**
 * The profile endpoints: `profile` (CPU), `heap` and `allocs`, with Go's
 * parameters, delta algorithm and error texts (endpoints.md §1.2, §1.4, §2).
 */

import { abortableSleep } from "../profile/sleep.ts";
import type { Profile } from "../deps.ts";
import { CpuProfilerBusyError } from "../profile/types.ts";
import { deltaProfile } from "../profile/delta.ts";
import { encodeProfile } from "../profile/encode.ts";
import { heapProfileText } from "../profile/text.ts";
import { addComment } from "../profile/pprof.ts";
import type { Engine } from "./engine.ts";
import type { Endpoint } from "./handler.ts";
import { goError, goProfile, goText } from "./http.ts";

/** Go's CPU profile default, and the rate `go tool pprof` users expect. */
const DEFAULT_CPU_SECONDS = 30;
const DEFAULT_HZ = 100;
/** 1 ms: finer sampling costs up to 40% of the process (feasibility.md §4). */
const MAX_HZ = 1000;
/**
 * The longest capture or delta window. Go has none; ours keeps timers in
 * range and bounds what one request can hold. An hour covers every scraper.
 */
export const MAX_SECONDS = 3600;

/** Go's `strconv.ParseInt(s, 10, 64)`: optional sign, decimal digits. */
export function parseGoInt(text: string | null): number | undefined {
  if (text === null || !/^[+-]?\d+$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Go reads `debug` and `gc` with Atoi and ignores errors: junk means 0. */
export function intParam(url: URL, name: string): number {
  return parseGoInt(url.searchParams.get(name)) ?? 0;
}

/** `profile?seconds=N`: a CPU profile of every isolate over the next N seconds. */
export function cpuProfileEndpoint(engine: Engine): Endpoint {
  return {
    name: "profile",
    timed: true,
    get description() {
      return `CPU profile of ${engine.reachText()}. You can specify the duration in the seconds GET parameter ` +
        `(default 30, at most ${MAX_SECONDS}). Each isolate's profiler samples from start to end of the process ` +
        `at one rate (${engine.profilerRateText()}; the hz parameter, 1 to ${MAX_HZ}, is checked but cannot change it), ` +
        `so a capture knows all compiled code. Samples are labelled isolate=main or the worker's name ` +
        `(go tool pprof -tagfocus isolate=main). CPU the process spent outside JavaScript (Deno's runtime: I/O, ` +
        `HTTP, the event loop) is one frame of its own, so totals match the process's CPU time. After you get ` +
        `the profile file, use the go tool pprof command to investigate the profile.`;
    },
    serve: (_request, url, signal) => serveCpuProfile(engine, url, signal),
  };
}

async function serveCpuProfile(
  engine: Engine,
  url: URL,
  signal: AbortSignal,
): Promise<Response> {
  // As Go: a missing, malformed or non-positive value means the default.
  const requested = parseGoInt(url.searchParams.get("seconds"));
  const seconds = requested !== undefined && requested > 0
    ? requested
    : DEFAULT_CPU_SECONDS;
  if (seconds > MAX_SECONDS) {
    return goError(
      400,
      `invalid value for "seconds" - must be at most ${MAX_SECONDS}`,
    );
  }
  const hzText = url.searchParams.get("hz");
  const hz = hzText === null || hzText === "" ? DEFAULT_HZ : parseGoInt(hzText);
  if (hz === undefined || hz < 1 || hz > MAX_HZ) {
    return goError(
      400,
      `invalid value for "hz" - must be an integer from 1 to ${MAX_HZ}`,
    );
  }
  let profile: Profile;
  try {
    profile = await engine.profiler().cpuProfile({
      durationMillis: seconds * 1000,
      signal,
    });
  } catch (error) {
    if (error instanceof CpuProfilerBusyError) {
      return goError(500, `Could not enable CPU profiling: ${error.message}`);
    }
    throw error;
  }
  if (hzText !== null && hzText !== "") {
    addComment(
      profile,
      `coredeno: hz=${hz} asked; sampled at the process's rate, ${engine.profilerRateText()}`,
    );
  }
  return goProfile(await encodeProfile(profile), "profile");
}

/** `heap` and `allocs`: snapshots, `debug=1` text, `gc=1`, and `seconds=N` deltas. */
export function heapEndpoint(
  engine: Engine,
  name: "heap" | "allocs",
): Endpoint {
  // Requests that come while one is read share it (Profiler.heapProfile).
  const snapshot = (gc: boolean) => engine.profiler().heapProfile({ gc });
  return {
    name,
    get description() {
      return heapDescription(name, engine);
    },
    async serve(_request, url, signal) {
      const secondsText = url.searchParams.get("seconds");
      if (secondsText !== null && secondsText !== "") {
        return await serveDelta(name, url, secondsText, snapshot, signal);
      }
      // Go honours `gc` on heap only.
      const profile = await snapshot(
        name === "heap" && intParam(url, "gc") > 0,
      );
      if (intParam(url, "debug") !== 0) return goText(heapProfileText(profile));
      return goProfile(await encodeProfile(profile), name);
    },
  };
}

function heapDescription(name: "heap" | "allocs", engine: Engine): string {
  const mode = engine.agreed()?.allocations ? "allocations" : "inuse";
  const common =
    `Every isolate (${engine.reachText()}), samples labelled by isolate. ` +
    "Bytes are accurate; object counts are estimates. " +
    "You can specify the gc GET parameter to run garbage collection before taking the heap sample.";
  if (name === "heap") {
    return mode === "allocations"
      ? `A sampling of all past memory allocations since the process started (alloc_space), including ` +
        `objects already collected: this process runs in allocation mode. ${common}`
      : `A sampling of memory allocations of live objects (inuse_space). ${common}`;
  }
  if (mode === "allocations") {
    return "A sampling of all past memory allocations since the process started (alloc_space), " +
      "including objects already collected: this process runs in allocation mode.";
  }
  return "V8 samples either live objects or all allocations, not both; this process samples live objects, " +
    "so allocs serves the heap data under its true names (inuse_space). Start with the pprof " +
    "`allocations` property for cumulative alloc_space.";
}

/** Go's `serveDeltaProfile`, checks in Go's order. */
export async function serveDelta(
  name: string,
  url: URL,
  secondsText: string,
  snapshot: (gc: boolean) => Promise<Profile>,
  signal: AbortSignal,
): Promise<Response> {
  const seconds = parseGoInt(secondsText);
  if (seconds === undefined || seconds <= 0) {
    return goError(
      400,
      `invalid value for "seconds" - must be a positive integer`,
    );
  }
  if (seconds > MAX_SECONDS) {
    return goError(
      400,
      `invalid value for "seconds" - must be at most ${MAX_SECONDS}`,
    );
  }
  if (intParam(url, "debug") !== 0) {
    return goError(400, "seconds and debug params are incompatible");
  }
  const p0 = await snapshot(false);
  if (!await abortableSleep(seconds * 1000, signal)) {
    return goError(500, "context canceled");
  }
  const p1 = await snapshot(false);
  return goProfile(await encodeProfile(deltaProfile(p0, p1)), `${name}-delta`);
}
