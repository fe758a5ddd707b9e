/**
 * The profiler: one object that owns every piece of a process's profiling
 * state, for every isolate it reaches (main and Workers): their CPU
 * profilers, heap samplers, the running captures, the stall detector, the
 * source maps it has read.
 *
 * How a capture tells the truth without touching the program: V8's CPU
 * profiler knows only the code it was told about, and when it starts it is
 * not told about on-stack-replacement code compiled earlier, whose samples
 * then go to the caller (Deno 2.9.6: a handler's hot function lost in 8 of
 * 16 fresh 1 s profiles; a busy loop shown as 100% `(program)`). So each
 * isolate's profiler starts as soon as the isolate is reached (before a
 * Worker's first line) and keeps running at {@link DEFAULT_INTERVAL_MICROS}
 * (the "keepalive" profile); a capture is one more profile on that same
 * profiler (a titled one, `console.profile`'s kind, which V8 runs beside
 * others), so it starts with every code object known. Nothing is
 * deoptimized and no isolate-wide mode (precise coverage) is switched.
 * The keepalive's samples are dropped every {@link KEEPALIVE_MAX_AGE_MS}
 * (after a capture when one runs), which bounds its memory.
 *
 * Worker churn: V8's CPU profiler takes about 10 ms to start in a fresh
 * isolate (Deno 2.9.6), which a worker pays before its first line. A
 * program that starts and ends workers as it goes (a pool of one-task
 * workers) would pay it per task, so once most recently ended workers
 * lived less than {@link CHURN_LIFETIME_MS}, a new worker's CPU profiler
 * starts when it has lived that long, or at once when a capture starts.
 * The cost of that: on-stack-replacement code the worker compiled in its
 * first {@link CHURN_LIFETIME_MS} is not known to its profiler (a loop
 * entered then and never left is booked to its caller). Heap sampling
 * always starts before the worker's first line (it costs nothing there).
 */

import process from "node:process";
import {
  abortableSleep,
  nowNanos,
  unrefInterval,
  unrefTimeout,
} from "./sleep.ts";
import type {
  CdpCpuProfile,
  CdpHeapProfile,
  Isolates,
  IsolateTarget,
} from "./inspector.ts";
import { isolateLabel } from "./inspector.ts";
import { SourceMaps } from "./sourcemap.ts";

import { localStallSource, OwnPauses, type StallSource } from "./stalls.ts";
import { BlockProfiler } from "./block.ts";
import { warmUpConverter } from "./warm.ts";
import type { Trace } from "./trace.ts";
import type { Profile } from "../deps.ts";
import {
  type AgreedSettings,
  type CapturePart,
  CHURN_LIFETIME_MS,
  CHURN_WINDOW,
  CpuProfilerBusyError,
  DEFAULT_HEAP_INTERVAL_BYTES,
  DEFAULT_INTERVAL_MICROS,
  type HeapSamplingMode,
  type IsolateHeap,
  type IsolateInfo,
  KEEPALIVE_MAX_AGE_MS,
  MIN_INTERVAL_MICROS,
  type MultiProfile,
  type ProfilerCore,
  type RawCpuCapture,
  type RawHeapProfile,
  WORKER_CHUNK_MS,
} from "./types.ts";

export {
  CpuProfilerBusyError,
  DEFAULT_HEAP_INTERVAL_BYTES,
  DEFAULT_INTERVAL_MICROS,
  MIN_INTERVAL_MICROS,
};
export type { HeapSamplingMode, RawCpuCapture, RawHeapProfile };

/** What the profiler does in every isolate it reaches. */
export interface ProfilerOptions {
  /** CPU sampling interval, µs, fixed for the process (default 10 ms). */
  intervalMicros?: number;
  /** Heap sampling: live objects (default), every allocation, or off. */
  heap?: HeapSamplingMode;
  heapIntervalBytes?: number;
  heapStackDepth?: number;
  /** The main thread's `performance.timeOrigin` (the watcher's differs). */
  mainTimeOrigin?: number;
  /** Where the main loop's stalls come from (default: a lag monitor on this thread). */
  stalls?: StallSource;
}

/** A titled profile running on one isolate's profiler. */
interface Titled {
  title: string;
  /** That isolate's `performance.now()` just after the profile started. */
  anchor: Promise<number>;
}

/** An isolate the profiler has set up. */
class IsolateState {
  /** Titles whose `consoleProfileFinished` is awaited. */
  readonly finished: Map<
    string,
    { resolve(p: CdpCpuProfile): void; reject(e: Error): void }
  > = new Map();
  keepaliveSince: number = performance.now();
  /** The profiler and heap sampler are set up (or failed). */
  ready: Promise<unknown> = Promise.resolve();
  #keepalive: Promise<unknown> | undefined;
  /** The timer of a late start (worker churn). */
  lateStart: number | undefined;
  endedAt = 0;

  constructor(readonly target: IsolateTarget) {}

  /** Whether the keepalive runs (a churned worker's starts late). */
  get keepaliveRuns(): boolean {
    return this.#keepalive !== undefined;
  }

  /** Starts the isolate's CPU profiler (the keepalive) at `intervalMicros`, once. */
  startKeepalive(intervalMicros: number): Promise<unknown> {
    if (this.#keepalive === undefined) {
      this.keepaliveSince = performance.now();
      const t = this.target;
      this.#keepalive = Promise.all([
        t.send("Profiler.enable"),
        t.send("Profiler.setSamplingInterval", { interval: intervalMicros }),
        t.send("Profiler.start"),
      ]);
    }
    return this.#keepalive;
  }

  info(): IsolateInfo {
    const t = this.target;
    return {
      id: t.id,
      number: t.number,
      kind: t.kind,
      url: t.url,
      name: t.name,
      label: isolateLabel(t),
      attachedAt: t.attachedAt,
      alive: t.alive,
    };
  }
}

/** A profile running on several isolates at once: a capture, a block chunk, a trace. */
export class MultiCapture implements MultiProfile {
  readonly #parts = new Map<IsolateState, {
    current: Titled;
    chunks: CdpCpuProfile[];
    anchors: number[];
    incomplete?: string;
  }>();
  #chunkTimer: number | undefined;
  #ended = false;

  constructor(
    readonly owner: Profiler,
    readonly name: string,
    /** Which isolates take part; new ones join when they attach. */
    readonly includes: (target: IsolateTarget) => boolean,
    /** Workers' parts are collected every WORKER_CHUNK_MS. */
    chunkWorkers: boolean,
  ) {
    if (chunkWorkers) {
      this.#chunkTimer = unrefInterval(
        () => this.#rotateWorkers(),
        WORKER_CHUNK_MS,
      );
    }
  }

  join(state: IsolateState): void {
    if (this.#ended || !this.includes(state.target)) return;
    if (this.#parts.has(state)) return;
    // Before the titled profile.
    state.startKeepalive(this.owner.intervalMicros).catch(() => {});
    this.#parts.set(state, {
      current: this.owner.startTitled(state, this.name),
      chunks: [],
      anchors: [],
    });
  }

  #rotateWorkers(): void {
    for (const [state, part] of this.#parts) {
      if (state.target.kind !== "worker" || part.incomplete) continue;
      const previous = part.current;
      part.current = this.owner.startTitled(state, this.name);
      this.#collect(state, part, previous);
    }
  }

  #pending: Promise<void>[] = [];

  #collect(
    state: IsolateState,
    part: { chunks: CdpCpuProfile[]; anchors: number[]; incomplete?: string },
    titled: Titled,
  ): void {
    this.#pending.push(
      Promise.all([this.owner.stopTitled(state, titled), titled.anchor]).then(
        ([profile, anchor]) => {
          part.chunks.push(profile);
          part.anchors.push(anchor);
        },
        (error) => {
          part.incomplete ??= error instanceof Error
            ? error.message
            : String(error);
        },
      ),
    );
  }

  #end: Promise<CapturePart[]> | undefined;

  /** Stops every part; resolves with what each isolate gave (the same for every call). */
  end(): Promise<CapturePart[]> {
    return this.#end ??= this.#collectAll();
  }

  async #collectAll(): Promise<CapturePart[]> {
    this.#ended = true;
    clearInterval(this.#chunkTimer);
    this.owner.captures.delete(this);
    for (const [state, part] of this.#parts) {
      if (!part.incomplete) this.#collect(state, part, part.current);
    }
    await Promise.all(this.#pending);
    return [...this.#parts].map(([state, part]) => ({
      info: state.info(),
      chunks: part.chunks.sort((a, b) => a.startTime - b.startTime),
      anchors: part.anchors,
      incomplete: part.incomplete,
    }));
  }
}

/**
 * The profiler of one process. Constructed over the isolates it reaches;
 * sets each up as it is attached.
 */
export class Profiler implements ProfilerCore {
  readonly isolates: Isolates;
  readonly intervalMicros: number;
  readonly sourceMaps: SourceMaps;
  /** The main thread's `performance.timeOrigin`: its clock in absolute ms. */
  readonly mainTimeOrigin: number;
  /** The profiler's own pauses of the main isolate (block profile, trace). */
  readonly pauses: OwnPauses = new OwnPauses();
  /** Stalls of the main isolate's loop, as its lag monitor reports them. */
  readonly stalls: StallSource;
  /** The event-loop stall profile of the main isolate. */
  readonly block: BlockProfiler;
  /** Running multi-isolate profiles, which isolates attached later join. */
  readonly captures: Set<MultiCapture> = new Set();
  #heapMode: HeapSamplingMode;
  #heapIntervalBytes: number;
  #heapStackDepth: number | undefined;
  readonly #states = new Map<IsolateTarget, IsolateState>();
  /** Every isolate ever attached (threadcreate), ended ones included. */
  readonly #history: IsolateState[] = [];
  #titles = 0;
  /** Titled profiles start in every session of an isolate: titles are this profiler's alone. */
  readonly #titlePrefix = `coredeno-${crypto.randomUUID().slice(0, 8)}`;
  #cpuBusy = false;
  /** A trace runs (trace.ts): one at a time. */
  traceBusy = false;
  #keepaliveTimer: number | undefined;
  #closed = false;
  readonly #warmUp = new AbortController();
  /** Settles true once the first-profile warm-up ran (warm.ts). */
  readonly warmedUp: Promise<boolean>;

  constructor(isolates: Isolates, options: ProfilerOptions = {}) {
    const interval = options.intervalMicros ?? DEFAULT_INTERVAL_MICROS;
    if (!Number.isFinite(interval) || interval < MIN_INTERVAL_MICROS) {
      throw new RangeError(
        `CPU sampling interval must be at least ${MIN_INTERVAL_MICROS} µs, got ${interval}`,
      );
    }
    this.isolates = isolates;
    this.intervalMicros = Math.round(interval);
    this.#heapMode = options.heap ?? "inuse";
    this.#heapIntervalBytes = options.heapIntervalBytes ??
      DEFAULT_HEAP_INTERVAL_BYTES;
    this.#heapStackDepth = options.heapStackDepth;
    this.sourceMaps = new SourceMaps(isolates);
    this.mainTimeOrigin = options.mainTimeOrigin ?? performance.timeOrigin;
    this.stalls = options.stalls ?? localStallSource();
    this.block = new BlockProfiler(this, this.stalls, this.pauses);
    isolates.onAttach((target) => this.#attach(target));
    isolates.onDetach((target) => this.#detach(target));
    // Unscraped for a long time, the keepalive is still restarted.
    this.#keepaliveTimer = unrefInterval(
      () => this.#renewKeepalives(),
      KEEPALIVE_MAX_AGE_MS,
    );
    this.warmedUp = warmUpConverter(this, this.#warmUp.signal);
  }

  /** The isolates reached now, main first. */
  live(): IsolateInfo[] {
    return this.isolates.list().flatMap((t) => {
      const s = this.#states.get(t);
      return s ? [s.info()] : [];
    });
  }

  /** Every isolate attached since start, ended ones included. */
  history(): IsolateInfo[] {
    return this.#history.map((s) => s.info());
  }

  /** Settles once every isolate reached so far is set up. */
  async ready(): Promise<void> {
    await Promise.all([...this.#states.values()].map((s) => s.ready));
  }

  get heapMode(): HeapSamplingMode {
    return this.#heapMode;
  }

  get heapIntervalBytes(): number {
    return this.#heapIntervalBytes;
  }

  get cpuBusy(): boolean {
    return this.#cpuBusy;
  }

  #attach(target: IsolateTarget): void {
    if (this.#closed) return;
    const state = new IsolateState(target);
    this.#states.set(target, state);
    this.#history.push(state);
    target.on<{ title: string; profile: CdpCpuProfile }>(
      "Profiler.consoleProfileFinished",
      ({ title, profile }) => {
        const waiter = state.finished.get(title);
        if (!waiter) return;
        state.finished.delete(title);
        waiter.resolve(profile);
      },
    );
    // Sent without waiting: a worker runs only after these (remote.ts).
    const heap = this.#heapCommands(target, this.#heapMode);
    const late = target.kind === "worker" && this.captures.size === 0 &&
      this.#churning();
    if (late) {
      state.lateStart = unrefTimeout(() => {
        if (target.alive) {
          state.startKeepalive(this.intervalMicros).catch(() => {});
        }
      }, CHURN_LIFETIME_MS);
    }
    state.ready = Promise.all([
      ...(late ? [] : [state.startKeepalive(this.intervalMicros)]),
      ...heap,
    ]);
    state.ready.catch(() => {}); // reported where a profile needs it
    for (const capture of this.captures) capture.join(state);
  }

  /** Lifetimes of the last {@link CHURN_WINDOW} workers that ended: short or not. */
  readonly #endedShort: boolean[] = [];

  /** Most recently ended workers lived less than {@link CHURN_LIFETIME_MS}. */
  #churning(): boolean {
    const short = this.#endedShort.filter(Boolean).length;
    return short * 2 > CHURN_WINDOW;
  }

  #detach(target: IsolateTarget): void {
    const state = this.#states.get(target);
    if (!state) return;
    this.#states.delete(target);
    state.endedAt = Date.now();
    clearTimeout(state.lateStart);
    if (target.kind === "worker") {
      this.#endedShort.push(
        state.endedAt - target.attachedAt < CHURN_LIFETIME_MS,
      );
      if (this.#endedShort.length > CHURN_WINDOW) this.#endedShort.shift();
    }
    for (const [title, waiter] of state.finished) {
      state.finished.delete(title);
      waiter.reject(new Error(`${isolateLabel(target)} ended`));
    }
  }

  #heapCommands(
    target: IsolateTarget,
    mode: HeapSamplingMode,
  ): Promise<unknown>[] {
    if (mode === "off") return [];
    const allocations = mode === "allocations";
    return [
      target.send("HeapProfiler.enable"),
      target.send("HeapProfiler.startSampling", {
        samplingInterval: this.#heapIntervalBytes,
        ...(this.#heapStackDepth ? { stackDepth: this.#heapStackDepth } : {}),
        includeObjectsCollectedByMajorGC: allocations,
        includeObjectsCollectedByMinorGC: allocations,
      }),
    ];
  }

  /**
   * Starts a titled profile on `state`'s profiler (`console.profile`'s
   * kind, through the command-line API so the program's own `console` is
   * not used). Its anchor is that isolate's `performance.now()` right after.
   */
  startTitled(state: IsolateState, name: string): Titled {
    const title = `${this.#titlePrefix}-${name}-${++this.#titles}`;
    const anchor = this.#onIsolate(
      state.target,
      () =>
        state.target.send<{ result: { value?: number } }>(
          "Runtime.evaluate",
          {
            expression: `profile(${JSON.stringify(title)}), performance.now()`,
            includeCommandLineAPI: true,
            silent: true,
            returnByValue: true,
          },
        ),
    ).then(({ result }) => Number(result.value ?? 0));
    anchor.catch(() => {});
    return { title, anchor };
  }

  /**
   * Notes a build step as the profiler's own pause when the profiler runs on
   * the profiled thread (in-process); in the watcher it runs on its own.
   */
  buildPause<T>(step: () => T): T {
    return this.isolates.reach === "local" ? this.pauses.around(step) : step();
  }

  readonly #buildPause = <T>(step: () => T): T => this.buildPause(step);

  /**
   * Sends commands to `target`, noting the time as the profiler's own pause
   * when it is the main isolate: the part Deno runs on the spot when the
   * session is in-process, the round trip when it is remote (V8 does the
   * work on the main thread meanwhile).
   */
  #onIsolate<T>(target: IsolateTarget, send: () => Promise<T>): Promise<T> {
    if (target.kind !== "main") return send();
    return this.isolates.reach === "local"
      ? this.pauses.around(send)
      : this.pauses.during(send());
  }

  /** Ends a titled profile; resolves with V8's profile. */
  stopTitled(state: IsolateState, titled: Titled): Promise<CdpCpuProfile> {
    const done = new Promise<CdpCpuProfile>((resolve, reject) => {
      if (!state.target.alive) {
        reject(new Error(`${isolateLabel(state.target)} ended`));
        return;
      }
      state.finished.set(titled.title, { resolve, reject });
    });
    this.#onIsolate(state.target, () =>
      state.target.send("Runtime.evaluate", {
        expression: `profileEnd(${JSON.stringify(titled.title)})`,
        includeCommandLineAPI: true,
        silent: true,
      })).catch((error) => {
        const waiter = state.finished.get(titled.title);
        state.finished.delete(titled.title);
        waiter?.reject(error);
      });
    return done;
  }

  /**
   * Starts a profile on every isolate `includes` picks (and those attached
   * while it runs). Workers' parts are collected in chunks with `chunkWorkers`.
   */
  startMulti(
    name: string,
    includes: (target: IsolateTarget) => boolean,
    chunkWorkers: boolean,
  ): MultiCapture {
    const capture = new MultiCapture(this, name, includes, chunkWorkers);
    this.captures.add(capture);
    for (const state of this.#states.values()) capture.join(state);
    return capture;
  }

  /**
   * A CPU capture of every isolate for `durationMillis`, or until `signal`
   * aborts (then with what was collected). One at a time.
   */
  async captureCpu(
    options: { durationMillis: number; signal?: AbortSignal },
  ): Promise<RawCpuCapture> {
    const capture = this.startCpu();
    try {
      await abortableSleep(options.durationMillis, options.signal);
    } finally {
      // stop() runs however the wait ended
    }
    return await capture.stop();
  }

  /** Starts a CPU capture of every isolate; `stop` ends it. Throws when one runs. */
  startCpu(): { stop(): Promise<RawCpuCapture> } {
    if (this.#closed) throw new Error("the profiler is closed");
    if (this.#cpuBusy) throw new CpuProfilerBusyError();
    this.#cpuBusy = true;
    const capture = this.#startCpu();
    this.#cpu = capture;
    return capture;
  }

  /** The running CPU capture: closing ends it, and its caller gets what there was. */
  #cpu: { stop(): Promise<RawCpuCapture> } | undefined;

  #startCpu(): { stop(): Promise<RawCpuCapture> } {
    const cpu0 = process.cpuUsage();
    const startNanos = nowNanos();
    const started = performance.now();
    const multi = this.startMulti("cpu", () => true, true);
    let stopping: Promise<RawCpuCapture> | undefined;
    return {
      stop: () =>
        stopping ??= (async () => {
          try {
            const parts = await multi.end();
            const used = process.cpuUsage(cpu0);
            const main = parts.find((p) => p.info.kind === "main");
            if (main?.incomplete && main.chunks.length === 0) {
              throw new Error(
                `the main isolate's profile failed: ${main.incomplete}`,
              );
            }
            this.#renewKeepalives(KEEPALIVE_MAX_AGE_MS / 10);
            return {
              isolates: parts.map((p) => ({
                isolate: p.info,
                chunks: p.chunks,
                incomplete: p.incomplete,
              })),
              intervalMicros: this.intervalMicros,
              startNanos,
              durationNanos: Math.round((performance.now() - started) * 1e6),
              processCpuMicros: used.user + used.system,
            };
          } finally {
            this.#cpuBusy = false;
            this.#cpu = undefined;
          }
        })(),
    };
  }

  /** A CPU profile of every isolate over the next `durationMillis`, in pprof form. */
  async cpuProfile(
    options: { durationMillis: number; signal?: AbortSignal },
  ): Promise<Profile> {
    // The builders load when first used: the profiler itself starts light.
    const { cpuProfileToPprof } = await import("./cpu.ts");
    return await cpuProfileToPprof(
      await this.captureCpu(options),
      this.sourceMaps,
      { pause: this.#buildPause },
    );
  }

  /** Heap profiles being read and built, by `gc`. */
  readonly #heapReads = new Map<boolean, Promise<Profile>>();

  /**
   * The heap profile of every isolate, in pprof form. Requests that come
   * while one is read share it (`heap` and `allocs` alike, from every
   * surface): each read holds the main thread a moment, and a scraper asks
   * for both at once.
   */
  heapProfile(options: { gc?: boolean } = {}): Promise<Profile> {
    const gc = options.gc ?? false;
    let pending = this.#heapReads.get(gc);
    if (pending === undefined) {
      pending = this.#buildHeapProfile(gc)
        .finally(() => this.#heapReads.delete(gc));
      this.#heapReads.set(gc, pending);
    }
    return pending;
  }

  async #buildHeapProfile(gc: boolean): Promise<Profile> {
    const { heapProfileToPprof } = await import("./heap.ts");
    return await heapProfileToPprof(
      await this.readHeap({ gc }),
      this.sourceMaps,
      { pause: this.#buildPause },
    );
  }

  /** A trace of every isolate over the next `durationMillis`. */
  async trace(
    options: { durationMillis: number; signal?: AbortSignal },
  ): Promise<Trace> {
    const { captureTrace } = await import("./trace.ts");
    return await captureTrace(this, this.stalls, options);
  }

  /**
   * Restarts the keepalive profiles older than `maxAgeMs`, dropping their
   * samples. A titled profile bridges the gap, so the isolate's profiler
   * (and what it knows of compiled code) lives on.
   */
  #renewKeepalives(maxAgeMs = KEEPALIVE_MAX_AGE_MS): void {
    const now = performance.now();
    for (const state of this.#states.values()) {
      if (!state.keepaliveRuns || now - state.keepaliveSince < maxAgeMs) {
        continue;
      }
      state.keepaliveSince = now;
      const bridge = this.startTitled(state, "bridge");
      const t = state.target;
      this.#onIsolate(t, () =>
        Promise.all([
          t.send("Profiler.stop"),
          t.send("Profiler.start"),
          this.stopTitled(state, bridge),
        ])).catch(() => {});
    }
  }

  /**
   * Switches heap sampling in every isolate (V8 has one sampler per isolate:
   * what was sampled so far is dropped). A no-op when nothing changes.
   */
  async setHeapMode(
    mode: HeapSamplingMode,
    options: { intervalBytes?: number; stackDepth?: number } = {},
  ): Promise<void> {
    const interval = options.intervalBytes ?? this.#heapIntervalBytes;
    if (!Number.isInteger(interval) || interval <= 0) {
      throw new RangeError(
        `heap sampling interval must be a positive integer, got ${interval}`,
      );
    }
    const depth = options.stackDepth ?? this.#heapStackDepth;
    if (
      mode === this.#heapMode && interval === this.#heapIntervalBytes &&
      depth === this.#heapStackDepth
    ) return;
    const previous = this.#heapMode;
    this.#heapMode = mode;
    this.#heapIntervalBytes = interval;
    this.#heapStackDepth = depth;
    await Promise.all(
      [...this.#states.values()].map((s) =>
        Promise.all([
          ...(previous !== "off"
            ? [s.target.send("HeapProfiler.stopSampling").catch(() => {})]
            : []),
          ...this.#heapCommands(s.target, mode),
        ]).catch(() => {})
      ),
    );
  }

  /** Reads every isolate's heap sampler (after a GC in each, with `gc`). */
  async readHeap(options: { gc?: boolean } = {}): Promise<RawHeapProfile> {
    const mode = this.#heapMode;
    if (mode === "off") throw new Error("heap sampling is off");
    const states = [...this.#states.values()];
    const reads = await Promise.all(states.map(async (s) => {
      await s.ready;
      const t = s.target;
      try {
        const [, { profile }] = await this.#onIsolate(t, () =>
          Promise.all([
            options.gc ? t.send("HeapProfiler.collectGarbage") : undefined,
            t.send<{ profile: CdpHeapProfile }>(
              "HeapProfiler.getSamplingProfile",
            ),
          ]));
        return { isolate: s.info(), profile };
      } catch (error) {
        if (t.kind === "main") throw error;
        return undefined; // a worker that ended meanwhile
      }
    }));
    return {
      isolates: reads.filter((r): r is IsolateHeap => r !== undefined),
      mode,
      intervalBytes: this.#heapIntervalBytes,
      timeNanos: nowNanos(),
    };
  }

  /** Runs a full garbage collection in every isolate. */
  async collectGarbage(): Promise<void> {
    await Promise.all(
      [...this.#states.values()].map((s) =>
        s.target.send("HeapProfiler.collectGarbage").catch((error) => {
          if (s.target.kind === "main") throw error;
        })
      ),
    );
  }

  /** Samples as the surfaces agreed: the heap sampler's mode, block profiling. */
  async apply(settings: AgreedSettings): Promise<void> {
    await this.setHeapMode(settings.allocations ? "allocations" : "inuse");
    if (settings.blockRate > 0) this.block.start(settings.blockRate);
    else await this.block.stop();
    await this.ready();
  }

  /**
   * Stops every profiler and sampler, and the connection. Running captures
   * end first, with what they have (a listener's shutdown ends them too).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#warmUp.abort();
    await this.block.stop();
    await Promise.allSettled([
      this.#cpu?.stop(),
      ...[...this.captures].map((c) => c.end()),
    ]);
    this.#closed = true;
    clearInterval(this.#keepaliveTimer);
    for (const state of this.#states.values()) {
      const t = state.target;
      Promise.all([
        t.send("Profiler.stop"),
        t.send("Profiler.disable"),
        ...(this.#heapMode !== "off"
          ? [t.send("HeapProfiler.stopSampling")]
          : []),
      ]).catch(() => {});
    }
    this.isolates.close();
  }
}
