/**
 * The event-loop stall ("block") profile: which JavaScript held the event
 * loop while everything else waited. (Over 450 lines as one unit: chunk
 * rotation, stall attribution and the cumulative records share one state;
 * the lag monitor and our own pauses are in stalls.ts.) Go's block profile answers "where do my
 * goroutines wait?"; in a single-threaded event loop everything waits for
 * whatever runs, so a "contention" here is one event-loop stall and its
 * delay is how late the loop got to its next callback.
 *
 * How (feasibility.md §5; `monitorEventLoopDelay` does not work in Deno
 * 2.9.6):
 * - a `setInterval` lag monitor ticks every {@link BLOCK_TICK_MS} ms; a tick
 *   that comes at least {@link BLOCK_FLOOR_MS} ms late closes a stall window
 *   [previous tick, this tick] whose delay is the lateness;
 * - V8's CPU profiler samples every 2 ms meanwhile, on an inspector
 *   session of its own (so `/debug/pprof/profile` captures still run), and
 *   is restarted in chunks of {@link BLOCK_CHUNK_MS} ms so each
 *   `Profiler.stop` pause stays short;
 * - each window is mapped onto V8's clock and its delay is split across the
 *   non-idle stacks sampled inside it, in proportion to their samples; each
 *   of those stacks counts the stall as one contention (so every delay has
 *   a contention, and a stack's count is the number of stalls it took part
 *   in; the profile's comment gives the number of stalls);
 * - a stack's leaf carries the line V8 sampled most often in that function
 *   during the chunk (V8 counts lines per call-tree node, not per sample).
 *
 * Our own profiler pauses (`Profiler.start`/`stop`, building profiles) are
 * not the application's stalls: they are noted with
 * {@link noteProfilerPause} and subtracted from any window they overlap, and
 * samples taken inside them are left out. Other samples of this package's
 * own code (or lib/pprof's) that still fall in a stall are shown under one
 * frame, {@link BLOCK_PROFILER_FRAME}, never as the application's stacks.
 *
 * Rate (Go's `SetBlockProfileRate`): stalls of at least `rate` ns are always
 * recorded; shorter ones with probability d/rate, chosen by systematic
 * sampling (an accumulator of delays with a random start), and recorded with
 * values scaled by rate/d so totals stay unbiased (Go does not scale; here
 * totals are the point). Systematic sampling has Go's inclusion probability
 * but a bounded error: the total is never off by more than one `rate`.
 * The floor: stalls shorter than {@link BLOCK_FLOOR_MS} ms are not seen at
 * all, whatever the rate.
 */

import type { Profile } from "../deps.ts";
import { pluginLogger } from "../log.ts";
import { FrameTable, stacksToPprof, vmStateName } from "./call_tree.ts";
import {
  asOwnPause,
  BLOCK_CHUNK_MS,
  BLOCK_FLOOR_MS,
  BLOCK_TICK_MS,
  inOwnPause,
  privateSession,
  type Stall,
  startLagMonitor,
} from "./stalls.ts";
import type { CallFrame, CdpCpuProfile, CpuProfileNode } from "./inspector.ts";
import { discardOptimizedCode } from "./inspector.ts";
import {
  addComment,
  fillFilenames,
  NATIVE_FILE,
  NATIVE_FRAME,
  nowNanos,
  setSampleTypes,
} from "./pprof.ts";
import { prepareSourceMaps } from "./sourcemap.ts";

/**
 * CPU sampling interval while block profiling runs: a stall at the floor
 * still gets about five samples, at half the cost of 1 ms (bench P5; the
 * README has the figures).
 */
export { BLOCK_CHUNK_MS, BLOCK_FLOOR_MS, BLOCK_TICK_MS };
export { noteProfilerPause } from "./stalls.ts";

export const BLOCK_SAMPLING_INTERVAL_MICROS = 2000;

/** Frame for stall time spent in the profiler itself (outside noted pauses). */
export const BLOCK_PROFILER_FRAME = "[profiler: coredeno's own work]";
const PROFILER_FILE = "[coredeno]";
/** Scripts whose frames are the profiler's own work. */
const OWN_CODE = [
  new URL("./", import.meta.url).href,
  new URL("../pprof/", import.meta.url).href,
];

/** A failing inspector has no request to answer in the background: it is logged. */
const log = pluginLogger("pprof");

// ---------------------------------------------------------------------------
// Cumulative records.

interface StackRecord {
  /** Root first. */
  frames: CallFrame[];
  /** The leaf's line that ran most (1-based); 0 = its function's line. */
  leafLine: number;
  contentions: number;
  delayNanos: number;
}

const records = new Map<string, StackRecord>();
let recordedStalls = 0;
let sampledOut = 0;
let excludedOwn = 0;
let everEnabled = false;
let startedNanos = 0;

function frameKey(f: CallFrame): string {
  return `${f.scriptId}:${f.url}:${f.lineNumber}:${f.columnNumber}:${f.functionName}`;
}

function record(
  frames: CallFrame[],
  leafLine: number,
  contentions: number,
  delayNanos: number,
) {
  const key = `${frames.map(frameKey).join(";")}@${leafLine}`;
  let r = records.get(key);
  if (!r) {
    r = { frames, leafLine, contentions: 0, delayNanos: 0 };
    records.set(key, r);
  }
  r.contentions += contentions;
  r.delayNanos += delayNanos;
}

// ---------------------------------------------------------------------------
// The running detector.

interface Chunk {
  /** perf ms just before `Profiler.start` (the clock anchor). */
  anchor: number;
  stalls: Stall[];
}

interface Monitor {
  rate: number;
  /** Systematic sampling accumulator, ns in [0, rate). */
  acc: number;
  chunk: Chunk;
  chunkStarted: number;
  lag: ReturnType<typeof startLagMonitor>;
  session: ReturnType<typeof privateSession>;
  /** Chunks stopped whose profiles are still being attributed. */
  pending: Set<Promise<void>>;
  /** Make V8 recompile hot code at each chunk's start (see cpu.ts). */
  reoptimize: boolean;
}

let monitor: Monitor | undefined;

/** Whether stall detection runs now, and at what rate (ns; 0 when off). */
export function blockProfileRate(): number {
  return monitor?.rate ?? 0;
}

/**
 * Starts stall detection at `rate` ns (Go's meaning; 1 = every detectable
 * stall), or changes the rate of the running detector. Cumulative records
 * are kept across stop and start, as Go keeps them.
 *
 * `reoptimize` (default false): make V8 recompile hot code at the start of
 * each 10 s chunk, as CPU captures do, so a loop that runs in code compiled
 * before the chunk (on-stack replacement) is booked to its own function,
 * not its caller; costs a deoptimization every chunk (plugins/pprof/README).
 */
export function startBlockProfiling(
  rate: number,
  options: { reoptimize?: boolean } = {},
): void {
  if (!Number.isSafeInteger(rate) || rate <= 0) {
    throw new RangeError(
      `block profile rate must be a positive integer, got ${rate}`,
    );
  }
  if (monitor) {
    if (monitor.rate !== rate) {
      monitor.rate = rate;
      monitor.acc = Math.random() * rate;
    }
    return;
  }
  if (!everEnabled) startedNanos = nowNanos();
  everEnabled = true;
  const session = privateSession();
  const setup = [
    session.send("Profiler.enable"),
    session.send("Profiler.setSamplingInterval", {
      interval: BLOCK_SAMPLING_INTERVAL_MICROS,
    }),
  ];
  const anchor = performance.now();
  const reoptimize = options.reoptimize ?? false;
  setup.push(asOwnPause(() =>
    Promise.all([
      session.send("Profiler.start"),
      ...(reoptimize ? discardOptimizedCode(session.send) : []),
    ])
  ));
  // In Deno an unhandled rejection ends the process: a failure is logged.
  Promise.all(setup).catch((error) =>
    log.error(`block profile: the inspector did not start: ${error}`)
  );
  const m: Monitor = {
    rate,
    acc: Math.random() * rate,
    chunk: { anchor, stalls: [] },
    chunkStarted: anchor,
    session,
    pending: new Set(),
    reoptimize,
    lag: startLagMonitor(
      (stall) => monitor?.chunk.stalls.push(stall),
      () => excludedOwn++,
    ),
  };
  monitor = m;
  // The rotation runs right after a tick, so its pause is inside no window.
  const rotation = setInterval(() => {
    if (monitor !== m) return;
    if (performance.now() - m.chunkStarted >= BLOCK_CHUNK_MS) {
      rotate(m).catch((error) => log.error(error.message));
    }
  }, 250);
  Deno.unrefTimer(rotation);
  stopRotation = () => clearInterval(rotation);
}

let stopRotation: () => void = () => {};

/**
 * Ends the current chunk and starts the next; attribution follows. Rejects
 * when the inspector fails (the chunk's stalls are lost); `m.pending` holds
 * a version that never rejects.
 */
function rotate(m: Monitor, restart = true): Promise<void> {
  m.lag.check(); // a stall that ended just now belongs to this chunk
  const chunk = m.chunk;
  let restarted: Promise<unknown> = Promise.resolve();
  const stopped = asOwnPause(() => {
    const result = m.session.send<{ profile: CdpCpuProfile }>("Profiler.stop");
    if (restart) {
      const anchor = performance.now();
      restarted = Promise.all([
        m.session.send("Profiler.setSamplingInterval", {
          interval: BLOCK_SAMPLING_INTERVAL_MICROS,
        }),
        m.session.send("Profiler.start"),
        ...(m.reoptimize ? discardOptimizedCode(m.session.send) : []),
      ]);
      m.chunk = { anchor, stalls: [] };
      m.chunkStarted = anchor;
    }
    return result;
  });
  m.lag.reset(); // our pause is not the application's stall
  // Every answer is awaited here: an unhandled rejection ends the process.
  const done = Promise.all([
    stopped.then(({ profile }) =>
      asOwnPause(() => attribute(m, chunk, profile))
    ),
    restarted,
  ]).then(() => {}, (error) => {
    throw new Error(`block profile: a chunk rotation failed: ${error}`);
  });
  const settled: Promise<void> = done.catch(() => {}).finally(() =>
    m.pending.delete(settled)
  );
  m.pending.add(settled);
  return done;
}

/** Splits each stall of `chunk` across the stacks sampled inside it. */
function attribute(m: Monitor, chunk: Chunk, profile: CdpCpuProfile) {
  if (chunk.stalls.length === 0) return;
  const offset = profile.startTime - chunk.anchor * 1000;
  const byId = new Map<number, CpuProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const times: number[] = new Array(samples.length);
  let t = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    t += deltas[i] ?? 0;
    times[i] = t;
  }
  // A stack per node: root first; the profiler's own code as one frame.
  const stacksById = new Map<number, CallFrame[] | undefined>();
  const stackOf = (id: number): CallFrame[] | undefined => {
    if (stacksById.has(id)) return stacksById.get(id);
    const frames: CallFrame[] = [];
    let cur: number | undefined = id;
    let own = false;
    while (cur !== undefined) {
      const n = byId.get(cur);
      if (!n) break;
      if (parent.has(cur)) frames.push(n.callFrame); // not the root
      const url = n.callFrame.url;
      if (url && OWN_CODE.some((prefix) => url.startsWith(prefix))) own = true;
      cur = parent.get(cur);
    }
    const leaf = frames[0];
    const stack = !leaf || leaf.functionName === "(idle)"
      ? undefined
      : own
      ? [syntheticFrame(BLOCK_PROFILER_FRAME)]
      : frames.reverse(); // outermost first
    stacksById.set(id, stack);
    return stack;
  };
  // The line each node ran most in this chunk (V8 has no per-sample lines).
  const leafLine = (id: number): number => {
    let best = 0;
    let most = 0;
    for (const { line, ticks } of byId.get(id)?.positionTicks ?? []) {
      if (ticks > most) [best, most] = [line, ticks];
    }
    return best;
  };

  let i = 0;
  for (const stall of chunk.stalls) {
    const from = stall.start * 1000 + offset;
    const to = stall.end * 1000 + offset;
    const counts = new Map<number, number>();
    while (i < times.length && times[i]! <= from) i++;
    for (let j = i; j < times.length && times[j]! <= to; j++) {
      // Samples inside our own noted pauses: already taken off the delay.
      if (inOwnPause((times[j]! - offset) / 1000)) continue;
      const id = samples[j]!;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const stacks: { frames: CallFrame[]; line: number; hits: number }[] = [];
    let hits = 0;
    for (const [id, n] of counts) {
      const frames = stackOf(id);
      if (!frames) continue;
      const own = frames[0]!.functionName === BLOCK_PROFILER_FRAME;
      stacks.push({ frames, line: own ? 0 : leafLine(id), hits: n });
      hits += n;
    }
    const delayNanos = stall.lagMs * 1e6;
    // Go's rate, by systematic sampling.
    let weight = 1;
    if (delayNanos < m.rate) {
      m.acc += delayNanos;
      if (m.acc < m.rate) {
        sampledOut++;
        continue;
      }
      m.acc -= m.rate;
      weight = m.rate / delayNanos;
    }
    recordedStalls++;
    if (hits === 0) {
      record(
        [syntheticFrame(NATIVE_FRAME)],
        0,
        weight,
        delayNanos * weight,
      );
      continue;
    }
    for (const s of stacks) {
      record(s.frames, s.line, weight, delayNanos * weight * s.hits / hits);
    }
  }
}

function syntheticFrame(name: string): CallFrame {
  return {
    functionName: name,
    scriptId: "0",
    url: "",
    lineNumber: -1,
    columnNumber: -1,
  };
}

/** Stops stall detection; what was recorded is kept. */
export async function stopBlockProfiling(): Promise<void> {
  const m = monitor;
  if (!m) return;
  monitor = undefined;
  stopRotation();
  m.lag.stop();
  await rotate(m, false).catch((error) => log.error(error.message));
  await Promise.all([...m.pending]);
  await m.session.post("Profiler.disable").catch(() => {});
  m.session.close();
}

/**
 * Waits until every stall detected so far is attributed: when the current
 * chunk holds stalls, it is ended now (a short pause of our own).
 */
async function flush(): Promise<void> {
  const m = monitor;
  if (!m) return;
  m.lag.check();
  const rotated = m.chunk.stalls.length > 0 ? rotate(m) : undefined;
  await Promise.all([...m.pending]);
  await rotated; // a failed rotation fails the read: its caller answers it
}

/**
 * The cumulative block profile since stall detection first started:
 * `contentions/count` and `delay/nanoseconds` (period type
 * `contentions/count`, period 1, as Go). Stalls detected up to now are
 * included. With detection never started, a valid empty profile.
 */
export async function blockProfile(): Promise<Profile> {
  await flush();
  const table = new FrameTable();
  const stacks = [];
  for (const r of records.values()) {
    const values = [Math.round(r.contentions), Math.round(r.delayNanos)];
    if (values[0] === 0 && values[1] === 0) continue;
    // Records are root first; pprof stacks are leaf first.
    const leaf = r.frames.length - 1;
    const frames = r.frames.map((f, depth) =>
      addFrame(table, f, depth, depth === leaf ? r.leafLine : 0)
    );
    stacks.push({ frames: frames.reverse(), values });
  }
  const maps = await prepareSourceMaps(table.scripts);
  const p = stacksToPprof(table, stacks, maps.mapper);
  setSampleTypes(
    p,
    [["contentions", "count"], ["delay", "nanoseconds"]],
    ["contentions", "count"],
  );
  p.period = 1;
  p.timeNanos = nowNanos();
  p.durationNanos = everEnabled ? Math.max(0, nowNanos() - startedNanos) : 0;
  fillFilenames(p);
  const rate = blockProfileRate();
  addComment(
    p,
    `coredeno: event-loop stalls (a contention = one stall of the event loop; delay = how late the loop got to its next callback), ` +
      (rate > 0 ? `rate ${rate}ns` : "stall detection off") +
      `; stalls under ${BLOCK_FLOOR_MS}ms are not detected; shorter-than-rate stalls sampled with probability d/rate and scaled by rate/d`,
  );
  addComment(
    p,
    `coredeno: ${recordedStalls} stalls recorded, ${sampledOut} skipped by rate sampling, ${excludedOwn} were the profiler's own pauses`,
  );
  for (const line of maps.unmapped) addComment(p, `raw JS positions: ${line}`);
  return p;
}

/** Number of distinct stacks in the cumulative block profile. */
export function blockProfileCount(): number {
  let n = 0;
  for (const r of records.values()) {
    if (Math.round(r.contentions) > 0 || Math.round(r.delayNanos) > 0) n++;
  }
  return n;
}

/**
 * A record's frame as shown: VM states and anonymous functions named as in
 * CPU profiles (`(anonymous:L#12:C#5)`, by `stacksToPprof`).
 */
function addFrame(
  table: FrameTable,
  f: CallFrame,
  depth: number,
  line: number,
): number {
  const name = depth === 0
    ? vmStateName(f.functionName, "cpu")
    : f.functionName;
  if (name === NATIVE_FRAME) {
    return table.add(name, undefined, NATIVE_FILE);
  }
  if (name === BLOCK_PROFILER_FRAME) {
    return table.add(name, undefined, PROFILER_FILE);
  }
  return table.add(name, f, "", line);
}
