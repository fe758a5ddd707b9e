/**
 * What the `/debug/pprof` endpoints serve from: the process's profiler on
 * the thread they run on (the main thread in-process, the watcher Worker
 * otherwise), and the settings the surfaces agreed on.
 */

import type { Profiler } from "../profile/profiler.ts";
import type { AgreedSettings } from "../profile/types.ts";

export interface Engine {
  /** The running profiler; throws when it is not running. */
  profiler(): Profiler;
  /** The settings in force (undefined: nobody holds the profiler). */
  agreed(): AgreedSettings | undefined;
  /** Which isolates profiles hold, in words for the index page. */
  reachText(): string;
  /** The profilers' sampling rate, in words. */
  profilerRateText(): string;
}

/** An engine over `current()`, the profiler when it runs. */
export function engineOf(
  current: () => Profiler | undefined,
  agreed: () => AgreedSettings | undefined,
): Engine {
  const profiler = () => {
    const p = current();
    if (!p) throw new Error("the profiler is not running");
    return p;
  };
  return {
    profiler,
    agreed,
    reachText() {
      const p = current();
      return p?.isolates.reach === "remote"
        ? "every isolate: the main thread and each Web Worker, nested ones too"
        : "the main isolate (Web Workers are not visible without the watcher: run under coredeno run, see the README)";
    },
    profilerRateText() {
      const p = current();
      return p ? `${Math.round(1e6 / p.intervalMicros)} Hz` : "100 Hz";
    },
  };
}
