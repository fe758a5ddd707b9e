/**
 * A Chrome DevTools trace of the next N seconds (`/debug/pprof/trace`): what
 * Perfetto, chrome://tracing and DevTools' Performance panel load. Not Go's
 * execution trace (that format is Go-runtime specific). One thread (track)
 * per isolate: main is thread 1, worker #n thread n + 1.
 *
 * Contents (timestamps in V8's clock, µs; feasibility.md §6, format "A"):
 * - `Profile` + `ProfileChunk` events: each isolate's V8 CPU samples, at
 *   the profilers' interval (profiler.ts), which DevTools turns into a
 *   flame chart;
 * - `RunTask` complete events, one per run of consecutive non-idle samples
 *   (the loop busy with JavaScript);
 * - `GC` complete events for runs of V8's `(garbage collector)` samples;
 * - `EventLoopStall` complete events from the main thread's lag monitor,
 *   its loop held for at least {@link BLOCK_FLOOR_MS} ms (args: how late).
 *
 * Frames are shown as in the pprof profiles: TypeScript positions through
 * the same source maps (`lineNumber`/`columnNumber` stay 0-based, as CDP's),
 * anonymous functions named `(anonymous:L#12:C#5)` after their mapped start.
 * As CPU captures, a trace is one more profile on each isolate's running
 * profiler, so loops optimized before it keep their frames.
 *
 * No `TracingStartedInBrowser` event: DevTools would take the trace for a
 * web page's and drop this process. It overlaps CPU captures and block
 * profiling; one trace at a time.
 */

import { abortableSleep } from "./sleep.ts";
import { BLOCK_FLOOR_MS, type Stall, type StallSource } from "./stalls.ts";
import { fileURLToPath, pathToFileURL } from "node:url";
import { FrameTable, showFunction } from "./call_tree.ts";
import type { CallFrame, CdpCpuProfile } from "./inspector.ts";
import type { LocationMapper } from "./sourcemap.ts";
import type { IsolateInfo, ProfilerCore } from "./types.ts";

/** Thrown when a trace is asked for while another one runs. */
export class TraceBusyError extends Error {
  constructor() {
    super("tracing already in use");
    this.name = "TraceBusyError";
  }
}

/** One Trace Event Format event. */
export interface TraceEvent {
  name: string;
  cat: string;
  ph: string;
  ts: number;
  pid: number;
  tid: number;
  dur?: number;
  id?: string;
  args?: Record<string, unknown>;
}

/** The whole trace document. */
export interface Trace {
  traceEvents: TraceEvent[];
  metadata: Record<string, unknown>;
}

const CPU_CAT = "disabled-by-default-v8.cpu_profiler";
const TIMELINE_CAT = "disabled-by-default-devtools.timeline";

/** One isolate's track: its profile, and (main only) the stalls of its loop. */
export interface TraceTrack {
  isolate: IsolateInfo;
  profile: CdpCpuProfile;
  /** Stalls in absolute ms, with the offset that maps them to V8's clock (µs). */
  stalls: readonly Stall[];
  offsetMicros: number;
}

/**
 * Traces every isolate for the next `durationMillis` (or until `signal`
 * aborts; then what was collected), one track each. Throws
 * `TraceBusyError` when a trace runs.
 */
export async function captureTrace(
  profiler: ProfilerCore,
  stalls: StallSource,
  options: { durationMillis: number; signal?: AbortSignal },
): Promise<Trace> {
  if (profiler.traceBusy) throw new TraceBusyError();
  profiler.traceBusy = true;
  const seen: Stall[] = [];
  profiler.pauses.watching++;
  const unsubscribe = stalls.subscribe((s) => seen.push(s));
  try {
    const startWall = Date.now();
    const multi = profiler.startMulti("trace", () => true, false);
    await abortableSleep(options.durationMillis, options.signal);
    await stalls.flush();
    const parts = await multi.end();
    const tracks: TraceTrack[] = [];
    const table = new FrameTable();
    for (const { info: isolate, chunks, anchors, incomplete } of parts) {
      const profile = chunks[0];
      if (!profile) {
        // A worker may end meanwhile; the main isolate's trace is the trace.
        if (isolate.kind === "main") {
          throw new Error(`the main isolate's trace failed: ${incomplete}`);
        }
        continue;
      }
      const main = isolate.kind === "main";
      for (const n of profile.nodes) {
        table.add(n.callFrame.functionName, n.callFrame, "", 0, isolate.id);
      }
      tracks.push({
        isolate,
        profile,
        stalls: main ? seen : [],
        offsetMicros: main
          ? profile.startTime -
            (profiler.mainTimeOrigin + (anchors[0] ?? 0)) * 1000
          : 0,
      });
    }
    const { mapper } = await profiler.sourceMaps.prepare(table.scripts);
    return profiler.buildPause(() =>
      buildTrace(tracks, {
        startWall,
        intervalMicros: profiler.intervalMicros,
        requestedMillis: options.durationMillis,
      }, mapper)
    );
  } finally {
    unsubscribe();
    profiler.pauses.watching--;
    profiler.traceBusy = false;
  }
}

/** The trace document: one thread per isolate, its samples, busy runs, GC and stalls. */
export function buildTrace(
  tracks: readonly TraceTrack[],
  info: { startWall: number; intervalMicros: number; requestedMillis: number },
  mapper?: LocationMapper,
): Trace {
  const pid = Deno.pid;
  const events: TraceEvent[] = [{
    pid,
    tid: 1,
    name: "process_name",
    cat: "__metadata",
    ph: "M",
    ts: 0,
    args: { name: `coredeno (Deno ${Deno.version.deno})` },
  }];
  for (const track of tracks) {
    events.push(...trackEvents(pid, track, mapper));
  }
  return {
    traceEvents: events,
    metadata: {
      source: "coredeno /debug/pprof/trace",
      "clock-domain": "V8 CPU profiler (CLOCK_MONOTONIC, microseconds)",
      startTime: new Date(info.startWall).toISOString(),
      requestedSeconds: info.requestedMillis / 1000,
      samplingIntervalMicros: info.intervalMicros,
      stallFloorMillis: BLOCK_FLOOR_MS,
      isolates: tracks.map((t) => t.isolate.label),
    },
  };
}

/** One isolate's thread in the trace. */
function trackEvents(
  pid: number,
  track: TraceTrack,
  mapper?: LocationMapper,
): TraceEvent[] {
  const { profile, isolate } = track;
  // Thread ids from 1: main is 1, worker #n is n + 1.
  const tid = isolate.number + 1;
  const base = { pid, tid };
  const offset = track.offsetMicros;
  const stalls = track.stalls;
  const events: TraceEvent[] = [{
    ...base,
    name: "thread_name",
    cat: "__metadata",
    ph: "M",
    ts: 0,
    args: {
      name: isolate.kind === "main"
        ? "main (JavaScript)"
        : `worker #${isolate.number}: ${isolate.label}`,
    },
  }];

  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const shown = new Map<string, CallFrame>();
  const show = (frame: CallFrame): CallFrame => {
    if (!mapper || frame.lineNumber < 0) return frame;
    const key =
      `${frame.scriptId}:${frame.lineNumber}:${frame.columnNumber}:${frame.functionName}`;
    let out = shown.get(key);
    if (out === undefined) {
      const path = frame.url.startsWith("file:")
        ? fileURLToPath(frame.url)
        : frame.url;
      const at = showFunction(mapper, {
        name: frame.functionName,
        path: path,
        line: frame.lineNumber + 1,
        column: frame.columnNumber + 1,
      });
      out = {
        ...frame,
        functionName: at.name,
        url: at.file && at.file !== path &&
            at.file.startsWith("/")
          ? pathToFileURL(at.file).href
          : frame.url,
        lineNumber: at.line > 0 ? at.line - 1 : frame.lineNumber,
        columnNumber: at.column > 0 ? at.column - 1 : frame.columnNumber,
      };
      shown.set(key, out);
    }
    return out;
  };
  const nodes = profile.nodes.map((n) => ({
    id: n.id,
    callFrame: show(n.callFrame),
    ...(parent.has(n.id) ? { parent: parent.get(n.id) } : {}),
  }));
  const samples = profile.samples ?? [];
  const timeDeltas = profile.timeDeltas ?? [];
  events.push({
    ...base,
    name: "Profile",
    cat: CPU_CAT,
    ph: "P",
    id: `0x${tid.toString(16)}`,
    ts: profile.startTime,
    args: { data: { startTime: profile.startTime } },
  });
  events.push({
    ...base,
    name: "ProfileChunk",
    cat: CPU_CAT,
    ph: "P",
    id: `0x${tid.toString(16)}`,
    ts: profile.startTime,
    args: {
      data: {
        cpuProfile: { nodes, samples },
        timeDeltas,
        endTime: profile.endTime,
      },
    },
  });

  // Busy runs and GC runs, from consecutive samples.
  const kind = new Map<number, "idle" | "gc" | "js">();
  for (const n of profile.nodes) {
    const name = n.callFrame.functionName;
    kind.set(
      n.id,
      name === "(idle)" || name === "(root)"
        ? "idle"
        : name === "(garbage collector)"
        ? "gc"
        : "js",
    );
  }
  let t = profile.startTime;
  let busyStart: number | undefined;
  let gcStart: number | undefined;
  let last = t;
  const close = (
    what: "busy" | "gc",
    start: number | undefined,
    end: number,
  ) => {
    if (start === undefined) return;
    events.push({
      ...base,
      name: what === "busy" ? "RunTask" : "GC",
      cat: what === "busy" ? TIMELINE_CAT : "v8,coredeno",
      ph: "X",
      ts: start,
      dur: Math.max(1, end - start),
      args: what === "busy" ? {} : { source: "sampled" },
    });
  };
  for (let i = 0; i < samples.length; i++) {
    t += timeDeltas[i] ?? 0;
    const k = kind.get(samples[i]!) ?? "js";
    if (k !== "idle") busyStart ??= last;
    else if (busyStart !== undefined) {
      close("busy", busyStart, last);
      busyStart = undefined;
    }
    if (k === "gc") gcStart ??= last;
    else if (gcStart !== undefined) {
      close("gc", gcStart, last);
      gcStart = undefined;
    }
    last = t;
  }
  close("busy", busyStart, last);
  close("gc", gcStart, last);

  for (const s of stalls) {
    const ts = Math.max(profile.startTime, s.start * 1000 + offset);
    const end = Math.min(profile.endTime, s.end * 1000 + offset);
    if (end <= ts) continue;
    events.push({
      ...base,
      name: "EventLoopStall",
      cat: "coredeno",
      ph: "X",
      ts,
      dur: end - ts,
      args: { lateMs: Math.round(s.lagMs * 10) / 10 },
    });
  }
  return events;
}
