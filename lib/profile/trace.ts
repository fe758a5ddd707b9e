/**
 * A Chrome DevTools trace of the next N seconds (`/debug/pprof/trace`): what
 * Perfetto, chrome://tracing and DevTools' Performance panel load. Not Go's
 * execution trace (that format is Go-runtime specific).
 *
 * Contents (timestamps in V8's clock, µs; feasibility.md §6, format "A"):
 * - `Profile` + `ProfileChunk` events: V8 CPU samples every
 *   {@link TRACE_INTERVAL_MICROS} µs, which DevTools turns into a flame chart;
 * - `RunTask` complete events, one per run of consecutive non-idle samples
 *   (the loop busy with JavaScript);
 * - `GC` complete events for runs of V8's `(garbage collector)` samples;
 * - `EventLoopStall` complete events from a lag monitor, the loop held for
 *   at least {@link BLOCK_FLOOR_MS} ms (args: how late it got).
 *
 * Frames are shown as in the pprof profiles: TypeScript positions through
 * the same source maps (`lineNumber`/`columnNumber` stay 0-based, as CDP's),
 * anonymous functions named `(anonymous:L#12:C#5)` after their mapped start.
 * As CPU captures, a trace makes V8 recompile hot code when it starts (see
 * `discardOptimizedCode`), so loops optimized before it keep their frames.
 *
 * No `TracingStartedInBrowser` event: DevTools would take the trace for a
 * web page's and drop this process. Runs on an inspector session of its
 * own, so it overlaps CPU captures and block profiling; one trace at a time.
 */

import { abortableSleep } from "./sleep.ts";
import {
  asOwnPause,
  BLOCK_FLOOR_MS,
  privateSession,
  type Stall,
  startLagMonitor,
} from "./stalls.ts";
import { fileURLToPath, pathToFileURL } from "node:url";
import { FrameTable, showFunction } from "./call_tree.ts";
import {
  type CallFrame,
  type CdpCpuProfile,
  discardOptimizedCode,
} from "./inspector.ts";
import { type LocationMapper, prepareSourceMaps } from "./sourcemap.ts";

/** Sampling interval of traces: finer than profiles, for a short window. */
export const TRACE_INTERVAL_MICROS = 250;

/** Thrown when a trace is asked for while another one runs. */
export class TraceBusyError extends Error {
  constructor() {
    super("tracing already in use");
    this.name = "TraceBusyError";
  }
}

let busy = false;

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

const TID = 1;
const CPU_CAT = "disabled-by-default-v8.cpu_profiler";
const TIMELINE_CAT = "disabled-by-default-devtools.timeline";

/**
 * Traces the next `durationMillis` (or until `signal` aborts; then what was
 * collected). Throws `TraceBusyError` when a trace runs.
 */
export async function captureTrace(options: {
  durationMillis: number;
  signal?: AbortSignal;
  intervalMicros?: number;
  /** Make V8 recompile hot code at the start (default true; see cpu.ts). */
  reoptimize?: boolean;
}): Promise<Trace> {
  if (busy) throw new TraceBusyError();
  busy = true;
  const interval = options.intervalMicros ?? TRACE_INTERVAL_MICROS;
  let session: ReturnType<typeof privateSession>;
  try {
    session = privateSession();
  } catch (error) {
    busy = false; // the next trace may try again
    throw error;
  }
  const stalls: Stall[] = [];
  const lag = startLagMonitor((s) => stalls.push(s));
  try {
    const setup = [
      session.send("Profiler.enable"),
      session.send("Profiler.setSamplingInterval", { interval }),
    ];
    const anchor = performance.now();
    const startWall = Date.now();
    const started = asOwnPause(() =>
      Promise.all([
        session.send("Profiler.start"),
        ...(options.reoptimize ?? true
          ? discardOptimizedCode(session.send)
          : []),
      ])
    );
    lag.reset();
    // All awaited together: in Deno an unhandled rejection ends the process.
    await Promise.all([...setup, started]);
    await abortableSleep(options.durationMillis, options.signal);
    lag.check();
    const stopped = asOwnPause(() =>
      session.send<{ profile: CdpCpuProfile }>("Profiler.stop")
    );
    lag.stop();
    const { profile } = await stopped;
    const table = new FrameTable();
    for (const n of profile.nodes) {
      table.add(n.callFrame.functionName, n.callFrame);
    }
    const { mapper } = await prepareSourceMaps(table.scripts);
    return asOwnPause(() =>
      buildTrace(profile, anchor, stalls, {
        startWall,
        intervalMicros: interval,
        requestedMillis: options.durationMillis,
      }, mapper)
    );
  } finally {
    lag.stop();
    await session.post("Profiler.disable").catch(() => {});
    session.close();
    busy = false;
  }
}

/** The trace document for one CPU profile and the stalls seen meanwhile. */
export function buildTrace(
  profile: CdpCpuProfile,
  anchorPerfMillis: number,
  stalls: readonly Stall[],
  info: { startWall: number; intervalMicros: number; requestedMillis: number },
  mapper?: LocationMapper,
): Trace {
  const pid = Deno.pid;
  const base = { pid, tid: TID };
  const offset = profile.startTime - anchorPerfMillis * 1000;
  const events: TraceEvent[] = [
    {
      ...base,
      name: "process_name",
      cat: "__metadata",
      ph: "M",
      ts: 0,
      args: { name: `coredeno (Deno ${Deno.version.deno})` },
    },
    {
      ...base,
      name: "thread_name",
      cat: "__metadata",
      ph: "M",
      ts: 0,
      args: { name: "main (JavaScript)" },
    },
  ];

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
    id: "0x1",
    ts: profile.startTime,
    args: { data: { startTime: profile.startTime } },
  });
  events.push({
    ...base,
    name: "ProfileChunk",
    cat: CPU_CAT,
    ph: "P",
    id: "0x1",
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
  return {
    traceEvents: events,
    metadata: {
      source: "coredeno /debug/pprof/trace",
      "clock-domain": "V8 CPU profiler (CLOCK_MONOTONIC, microseconds)",
      startTime: new Date(info.startWall).toISOString(),
      requestedSeconds: info.requestedMillis / 1000,
      samplingIntervalMicros: info.intervalMicros,
      stallFloorMillis: BLOCK_FLOOR_MS,
    },
  };
}
