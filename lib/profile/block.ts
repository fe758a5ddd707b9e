/**
 * The event-loop stall ("block") profile: which JavaScript held the main
 * isolate's event loop while everything else waited. (Over 450 lines as one
 * unit: chunk rotation, stall attribution and the cumulative records share
 * one state; the lag monitor and our own pauses are in stalls.ts.) Go's block profile answers "where do my
 * goroutines wait?"; in a single-threaded event loop everything waits for
 * whatever runs, so a "contention" here is one event-loop stall and its
 * delay is how late the loop got to its next callback.
 *
 * How (feasibility.md §5; `monitorEventLoopDelay` does not work in Deno
 * 2.9.6):
 * - a `setInterval` lag monitor ticks every {@link BLOCK_TICK_MS} ms; a tick
 *   that comes at least {@link BLOCK_FLOOR_MS} ms late closes a stall window
 *   [previous tick, this tick] whose delay is the lateness;
 * - the main isolate's CPU profiler (running since pprof attached, see
 *   profiler.ts) records a titled profile meanwhile, restarted in chunks of
 *   {@link BLOCK_CHUNK_MS} ms so each stop's pause stays short;
 * - each window is mapped onto V8's clock and its delay is split across the
 *   non-idle stacks sampled inside it, in proportion to their samples; each
 *   of those stacks counts the stall as one contention (so every delay has
 *   a contention, and a stack's count is the number of stalls it took part
 *   in; the profile's comment gives the number of stalls);
 * - a stack's leaf carries the line V8 sampled most often in that function
 *   during the chunk (V8 counts lines per call-tree node, not per sample).
 *
 * Our own profiler pauses (profiles started and stopped, heap reads,
 * builds on the main thread) are not the application's stalls: they are
 * noted (`OwnPauses`) and subtracted from any window they overlap, and
 * samples taken inside them are left out. A stall whose innermost
 * JavaScript is this package's own code, by its source-mapped file (so in
 * the bundle too), is shown under one frame, {@link BLOCK_PROFILER_FRAME},
 * never as the application's stack; its callers do not decide (an app's
 * handler that serves /debug/pprof is the app's, its spin is the app's).
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

import { fileURLToPath } from "node:url";
import type { Profile } from "../deps.ts";
import { pluginLogger } from "../log.ts";
import type { FrameTable } from "./call_tree.ts";
import {
  BLOCK_CHUNK_MS,
  BLOCK_FLOOR_MS,
  BLOCK_TICK_MS,
  type OwnPauses,
  type Stall,
  type StallSource,
} from "./stalls.ts";
import type { CallFrame, CdpCpuProfile, CpuProfileNode } from "./inspector.ts";
import { NATIVE_FILE, NATIVE_FRAME } from "./frames.ts";
import { nowNanos, unrefInterval } from "./sleep.ts";
import type { MultiProfile, ProfilerCore } from "./types.ts";

export { BLOCK_CHUNK_MS, BLOCK_FLOOR_MS, BLOCK_TICK_MS };

/**
 * The CPU sampling interval asked for when block profiling is on from the
 * start: a stall at the floor still gets about five samples, at half the
 * cost of 1 ms (bench P5). With it off at start, the process's profilers
 * sample at Go's 100 Hz and stalls get fewer samples.
 */
export const BLOCK_SAMPLING_INTERVAL_MICROS = 2000;

/** Frame for stall time spent in the profiler itself (outside noted pauses). */
export const BLOCK_PROFILER_FRAME = "[profiler: coredeno's own work]";
const PROFILER_FILE = "[coredeno]";
/**
 * This package's own sources, as source maps name them (from a checkout or
 * through the bundle's map alike), and the listener plumbing its surfaces
 * bind with: a stall whose running code is here is the profiler's work,
 * not the application's.
 */
const OWN_SOURCE =
  /[\\/]lib[\\/]((profile|pprof)[\\/][^\\/]+|net[\\/]http_listeners)\.ts$/;

/** A failing inspector has no request to answer in the background: it is logged. */
const log = pluginLogger("pprof");

interface StackRecord {
  /** Root first. */
  frames: CallFrame[];
  /** The leaf's line that ran most (1-based); 0 = its function's line. */
  leafLine: number;
  contentions: number;
  delayNanos: number;
}

interface Chunk {
  capture: MultiProfile;
  stalls: Stall[];
  started: number;
}

/**
 * Stall detection for one process's main isolate: cumulative records kept
 * across stop and start, as Go keeps them.
 */
export class BlockProfiler {
  readonly #records = new Map<string, StackRecord>();
  #recordedStalls = 0;
  #sampledOut = 0;
  #excludedOwn = 0;
  #everEnabled = false;
  #startedNanos = 0;
  #rate = 0;
  /** Systematic sampling accumulator, ns in [0, rate). */
  #acc = 0;
  #chunk: Chunk | undefined;
  /** Why detection stopped on its own, if it did. */
  #stoppedBy: string | undefined;
  #rotation: number | undefined;
  #unsubscribe: (() => void) | undefined;
  readonly #pending = new Set<Promise<void>>();

  constructor(
    readonly profiler: ProfilerCore,
    readonly source: StallSource,
    readonly pauses: OwnPauses,
  ) {}

  /** The rate in force (ns; 0 when off). */
  get rate(): number {
    return this.#rate;
  }

  /**
   * Starts stall detection at `rate` ns (Go's meaning; 1 = every detectable
   * stall), or changes the rate of the running detector.
   */
  start(rate: number): void {
    if (!Number.isSafeInteger(rate) || rate <= 0) {
      throw new RangeError(
        `block profile rate must be a positive integer, got ${rate}`,
      );
    }
    if (this.#rate > 0) {
      if (this.#rate !== rate) {
        this.#rate = rate;
        this.#acc = Math.random() * rate;
      }
      return;
    }
    this.#stoppedBy = undefined;
    if (!this.#everEnabled) this.#startedNanos = nowNanos();
    this.#everEnabled = true;
    this.#rate = rate;
    this.#acc = Math.random() * rate;
    this.pauses.watching++;
    this.#chunk = this.#newChunk();
    this.#unsubscribe = this.source.subscribe((stall) =>
      this.#chunk?.stalls.push(stall)
    );
    this.#rotation = unrefInterval(() => {
      const chunk = this.#chunk;
      if (chunk && performance.now() - chunk.started >= BLOCK_CHUNK_MS) {
        this.#rotate().catch((error) => this.#fail(error));
      }
    }, 250);
  }

  /**
   * The inspector failed under the detector: said once, and detection
   * stops (a profiler that cannot record would fail every rotation).
   */
  #fail(error: Error): void {
    log.error(error.message);
    this.#stoppedBy = error.message;
    void this.stop();
  }

  #newChunk(): Chunk {
    return {
      capture: this.profiler.startMulti(
        "block",
        (t) => t.kind === "main",
        false,
      ),
      stalls: [],
      started: performance.now(),
    };
  }

  /**
   * Ends the current chunk and starts the next; attribution follows. Rejects
   * when the inspector fails (the chunk's stalls are lost).
   */
  #rotate(restart = true): Promise<void> {
    const chunk = this.#chunk;
    if (!chunk) return Promise.resolve();
    this.#chunk = restart ? this.#newChunk() : undefined;
    const done = chunk.capture.end().then(
      async (parts) => {
        const main = parts[0];
        if (!main || main.chunks.length === 0) {
          throw new Error(
            `block profile: a chunk was lost: ${
              main?.incomplete ?? "no main isolate"
            }`,
          );
        }
        const profile = main.chunks[0]!;
        if (chunk.stalls.length === 0) return;
        // Own code is told by mapped source: the scripts' maps first.
        await this.profiler.sourceMaps.prepare(
          profile.nodes.filter((n) => n.callFrame.url).map((n) => ({
            scriptId: n.callFrame.scriptId,
            url: n.callFrame.url,
          })),
        );
        this.profiler.buildPause(() =>
          this.#attribute(chunk.stalls, profile, main.anchors[0]!)
        );
      },
    );
    const settled: Promise<void> = done.catch(() => {}).finally(() =>
      this.#pending.delete(settled)
    );
    this.#pending.add(settled);
    return done;
  }

  /** Stops stall detection; what was recorded is kept. */
  async stop(): Promise<void> {
    if (this.#rate === 0) return;
    this.#rate = 0;
    clearInterval(this.#rotation);
    await this.source.flush();
    this.#unsubscribe?.();
    await this.#rotate(false).catch((error) => {
      if (!this.#stoppedBy) log.error(error.message);
    });
    await Promise.all([...this.#pending]);
    this.pauses.watching--;
  }

  /**
   * Waits until every stall detected so far is attributed: when the current
   * chunk holds stalls, it is ended now (a short pause of our own).
   */
  async #flush(): Promise<void> {
    if (this.#rate === 0) return;
    await this.source.flush();
    const rotated = this.#chunk && this.#chunk.stalls.length > 0
      ? this.#rotate().catch((error) => {
        this.#fail(error);
        throw error;
      })
      : undefined;
    await Promise.all([...this.#pending]);
    await rotated; // a failed rotation fails the read: its caller answers it
  }

  /** Splits each stall of a chunk across the stacks sampled inside it. */
  #attribute(stalls: Stall[], profile: CdpCpuProfile, anchorPerf: number) {
    if (stalls.length === 0) return;
    // The main isolate's clock: anchorPerf is its performance.now() just
    // after the profile started; stalls are absolute ms.
    const origin = this.profiler.mainTimeOrigin;
    const offset = profile.startTime - (origin + anchorPerf) * 1000;
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
    const mapper = this.profiler.sourceMaps.mapper;
    /** A frame's source file, through the maps (a bundle's frames are many files). */
    const sourceOf = (frame: CallFrame): string => {
      if (!frame.url.startsWith("file://") || frame.lineNumber < 0) {
        return frame.url;
      }
      const at = mapper.mappingInfo({
        file: fileURLToPath(frame.url),
        line: frame.lineNumber + 1,
        column: frame.columnNumber + 1,
        name: frame.functionName,
      } as never) as { file?: string };
      return at.file ?? frame.url;
    };
    // A stack per node: root first; a stall whose innermost code of the
    // program's own (past Deno's runtime and npm packages, which both we
    // and an app call) is the profiler's shows as one frame; its callers do
    // not decide (an app's handler that serves /debug/pprof, say).
    const stacksById = new Map<number, CallFrame[] | undefined>();
    const stackOf = (id: number): CallFrame[] | undefined => {
      if (stacksById.has(id)) return stacksById.get(id);
      const frames: CallFrame[] = [];
      let cur: number | undefined = id;
      while (cur !== undefined) {
        const n = byId.get(cur);
        if (!n) break;
        if (parent.has(cur)) frames.push(n.callFrame); // not the root
        cur = parent.get(cur);
      }
      const leaf = frames[0];
      const innermost = frames.map(sourceOf).find((f) => !isDependency(f));
      const stack = !leaf || leaf.functionName === "(idle)"
        ? undefined
        : innermost && OWN_SOURCE.test(innermost)
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
    for (const stall of stalls) {
      const lag = stall.lagMs - this.pauses.overlap(stall.start, stall.end);
      if (lag < BLOCK_FLOOR_MS) {
        this.#excludedOwn++;
        continue;
      }
      const from = stall.start * 1000 + offset;
      const to = stall.end * 1000 + offset;
      const counts = new Map<number, number>();
      while (i < times.length && times[i]! <= from) i++;
      for (let j = i; j < times.length && times[j]! <= to; j++) {
        // Samples inside our own noted pauses: already taken off the delay.
        if (this.pauses.covers((times[j]! - offset) / 1000)) continue;
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
      const delayNanos = lag * 1e6;
      // Go's rate, by systematic sampling.
      let weight = 1;
      if (delayNanos < this.#rate) {
        this.#acc += delayNanos;
        if (this.#acc < this.#rate) {
          this.#sampledOut++;
          continue;
        }
        this.#acc -= this.#rate;
        weight = this.#rate / delayNanos;
      }
      this.#recordedStalls++;
      if (hits === 0) {
        this.#record(
          [syntheticFrame(NATIVE_FRAME)],
          0,
          weight,
          delayNanos * weight,
        );
        continue;
      }
      for (const s of stacks) {
        this.#record(
          s.frames,
          s.line,
          weight,
          delayNanos * weight * s.hits / hits,
        );
      }
    }
  }

  #record(
    frames: CallFrame[],
    leafLine: number,
    contentions: number,
    delayNanos: number,
  ) {
    const key = `${frames.map(frameKey).join(";")}@${leafLine}`;
    let r = this.#records.get(key);
    if (!r) {
      r = { frames, leafLine, contentions: 0, delayNanos: 0 };
      this.#records.set(key, r);
    }
    r.contentions += contentions;
    r.delayNanos += delayNanos;
  }

  /**
   * The cumulative block profile since stall detection first started:
   * `contentions/count` and `delay/nanoseconds` (period type
   * `contentions/count`, period 1, as Go). Stalls detected up to now are
   * included. With detection never started, a valid empty profile.
   */
  async profile(): Promise<Profile> {
    await this.#flush();
    // The builders load with the first profile (the watcher starts lighter).
    const [{ FrameTable, stacksToPprof, vmStateName }, pprof] = await Promise
      .all([import("./call_tree.ts"), import("./pprof.ts")]);
    const { addComment, fillFilenames, setSampleTypes } = pprof;
    const table = new FrameTable();
    const stacks: { frames: number[]; values: number[] }[] = [];
    for (const r of this.#records.values()) {
      const values = [Math.round(r.contentions), Math.round(r.delayNanos)];
      if (values[0] === 0 && values[1] === 0) continue;
      // Records are root first; pprof stacks are leaf first.
      const leaf = r.frames.length - 1;
      const frames = r.frames.map((f, depth) =>
        addFrame(table, f, depth, depth === leaf ? r.leafLine : 0, vmStateName)
      );
      stacks.push({ frames: frames.reverse(), values });
    }
    const maps = await this.profiler.sourceMaps.prepare(table.scripts);
    const p = this.profiler.buildPause(() =>
      stacksToPprof(table, stacks, maps.mapper)
    );
    setSampleTypes(
      p,
      [["contentions", "count"], ["delay", "nanoseconds"]],
      ["contentions", "count"],
    );
    p.period = 1;
    p.timeNanos = nowNanos();
    p.durationNanos = this.#everEnabled
      ? Math.max(0, nowNanos() - this.#startedNanos)
      : 0;
    fillFilenames(p);
    const rate = this.#rate;
    addComment(
      p,
      `coredeno: event-loop stalls of the main isolate (a contention = one stall of the event loop; delay = how late the loop got to its next callback), ` +
        (rate > 0 ? `rate ${rate}ns` : "stall detection off") +
        `; stalls under ${BLOCK_FLOOR_MS}ms are not detected; shorter-than-rate stalls sampled with probability d/rate and scaled by rate/d`,
    );
    if (this.#stoppedBy) {
      addComment(p, `coredeno: stall detection stopped: ${this.#stoppedBy}`);
    }
    addComment(
      p,
      `coredeno: ${this.#recordedStalls} stalls recorded, ${this.#sampledOut} skipped by rate sampling, ${this.#excludedOwn} were the profiler's own pauses`,
    );
    for (const line of maps.unmapped) {
      addComment(p, `raw JS positions: ${line}`);
    }
    return p;
  }

  /** Number of distinct stacks in the cumulative block profile. */
  count(): number {
    let n = 0;
    for (const r of this.#records.values()) {
      if (Math.round(r.contentions) > 0 || Math.round(r.delayNanos) > 0) n++;
    }
    return n;
  }
}

/** Code that both the profiler and the program call: Deno's runtime, npm and remote modules (by source file). */
function isDependency(source: string): boolean {
  return source === "" || source.startsWith("ext:") ||
    source.startsWith("node:") || source.startsWith("http:") ||
    source.startsWith("https:") ||
    /[\\/]npm[\\/]registry\.npmjs\.org[\\/]/.test(source);
}

function frameKey(f: CallFrame): string {
  return `${f.scriptId}:${f.url}:${f.lineNumber}:${f.columnNumber}:${f.functionName}`;
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

/**
 * A record's frame as shown: VM states and anonymous functions named as in
 * CPU profiles (`(anonymous:L#12:C#5)`, by `stacksToPprof`).
 */
function addFrame(
  table: FrameTable,
  f: CallFrame,
  depth: number,
  line: number,
  vmStateName: (name: string, style: "cpu") => string,
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
