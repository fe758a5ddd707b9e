/**
 * The stall detector's parts that the block profile and the trace share: the
 * profiler's own pauses (so they are never shown as the application's
 * stalls) and the event-loop lag monitor.
 *
 * Times here are absolute milliseconds (`performance.timeOrigin +
 * performance.now()`), the one clock the main thread and the watcher Worker
 * share.
 */

import { unrefInterval } from "./sleep.ts";

/** The lag monitor's tick. */
export const BLOCK_TICK_MS = 5;
/** The shortest stall the monitor reports (about two ticks). */
export const BLOCK_FLOOR_MS = 10;
/** The block profiler restarts its profile this often, to bound each stop's pause. */
export const BLOCK_CHUNK_MS = 10_000;

/** Now, in absolute milliseconds (comparable across threads). */
export function absoluteNow(): number {
  return performance.timeOrigin + performance.now();
}

interface Span {
  /** absolute ms */
  start: number;
  end: number;
}

/**
 * The spans during which the profiler itself held the main isolate (its
 * profiles started and stopped, its heap reads, its builds on the main
 * thread), so the block profile does not book them to the application.
 */
export class OwnPauses {
  readonly #spans: Span[] = [];
  /** Pauses are kept only while something reads them. */
  watching = 0;

  /** Records that the profiler held the loop from `start` to `end` (absolute ms). */
  note(start: number, end: number): void {
    if (this.watching === 0 || end - start < 0.5) return;
    this.#spans.push({ start, end });
    const horizon = end - 2 * BLOCK_CHUNK_MS - 60_000;
    while (this.#spans.length > 0 && this.#spans[0]!.end < horizon) {
      this.#spans.shift();
    }
  }

  /** Runs `fn` (synchronous) and notes its duration. */
  around<T>(fn: () => T): T {
    const t0 = absoluteNow();
    try {
      return fn();
    } finally {
      this.note(t0, absoluteNow());
    }
  }

  /** Notes the time from now until `work` settles (an inspector round trip). */
  during<T>(work: Promise<T>): Promise<T> {
    const t0 = absoluteNow();
    const done = () => this.note(t0, absoluteNow());
    work.then(done, done);
    return work;
  }

  /** Whether absolute time `t` is inside a pause. */
  covers(t: number): boolean {
    return this.#spans.some((p) => t >= p.start && t <= p.end);
  }

  /** How much of [start, end] the pauses cover, ms. */
  overlap(start: number, end: number): number {
    let covered = 0;
    for (const p of this.#spans) {
      const s = Math.max(start, p.start);
      const e = Math.min(end, p.end);
      if (e > s) covered += e - s;
    }
    return Math.min(covered, end - start);
  }
}

/** One detected stall: the loop was late by `lagMs`; window in absolute ms. */
export interface Stall extends Span {
  lagMs: number;
}

/**
 * An event-loop lag monitor on the thread that calls it: reports every tick
 * at least `floorMs` late as a stall [previous tick, this tick]. The
 * receiver subtracts the profiler's own pauses. Returns `stop` and `check`
 * (measures up to now).
 */
export function startLagMonitor(
  onStall: (stall: Stall) => void,
  floorMs = BLOCK_FLOOR_MS,
): { stop(): void; check(): void } {
  let last = absoluteNow();
  const check = () => {
    const now = absoluteNow();
    const window = now - last;
    last = now;
    const late = window - BLOCK_TICK_MS;
    if (late >= floorMs) {
      onStall({ start: now - window, end: now, lagMs: late });
    }
  };
  const timer = unrefInterval(check, BLOCK_TICK_MS);
  let stopped = false;
  return {
    stop: () => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
    },
    check,
  };
}

/** Where stalls of the main isolate's loop come from: a lag monitor on the main thread. */
export interface StallSource {
  /** Reports stalls to `onStall` until the returned function is called. */
  subscribe(onStall: (stall: Stall) => void): () => void;
  /** Asks for stalls up to now to be reported; settles once they are. */
  flush(): Promise<void>;
}

/**
 * Fans one lag monitor out to its subscribers; `run(report)` starts it on
 * the main thread and returns its controls (locally or by message).
 */
export class StallFanOut implements StallSource {
  readonly #listeners = new Set<(stall: Stall) => void>();
  #monitor: { stop(): void; flush(): Promise<void> } | undefined;

  constructor(
    readonly run: (
      report: (stall: Stall) => void,
    ) => { stop(): void; flush(): Promise<void> },
  ) {}

  subscribe(onStall: (stall: Stall) => void): () => void {
    this.#listeners.add(onStall);
    this.#monitor ??= this.run((stall) => {
      for (const listener of this.#listeners) listener(stall);
    });
    return () => {
      this.#listeners.delete(onStall);
      if (this.#listeners.size === 0) {
        this.#monitor?.stop();
        this.#monitor = undefined;
      }
    };
  }

  flush(): Promise<void> {
    return this.#monitor?.flush() ?? Promise.resolve();
  }
}

/** The lag monitor on this thread (the profiler runs on the main thread). */
export function localStallSource(): StallSource {
  return new StallFanOut((report) => {
    const monitor = startLagMonitor(report);
    return {
      stop: monitor.stop,
      flush: () => {
        monitor.check();
        return Promise.resolve();
      },
    };
  });
}
