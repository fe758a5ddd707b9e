/**
 * The stall detector's parts that the block profile and the trace share: the
 * profiler's own pauses (so they are never shown as the application's
 * stalls), the event-loop lag monitor, and a private inspector session.
 */

import { Session } from "node:inspector";
import { postOn } from "./inspector.ts";

/** The lag monitor's tick. */
export const BLOCK_TICK_MS = 5;
/** The shortest stall the monitor reports (about two ticks). */
export const BLOCK_FLOOR_MS = 10;
/** The block profiler restarts V8's profiler this often, to bound each `Profiler.stop` pause. */
export const BLOCK_CHUNK_MS = 10_000;

// ---------------------------------------------------------------------------
// Our own pauses.

interface Span {
  /** performance.now() ms */
  start: number;
  end: number;
}

const pauses: Span[] = [];

/**
 * Records that this package held the event loop from `start` to `end`
 * (`performance.now()` ms), so the block profile does not book it to the
 * application. Cheap; a no-op when no stall detector runs.
 */
export function noteProfilerPause(start: number, end: number): void {
  if (lagMonitors === 0) return;
  if (end - start < 0.5) return;
  pauses.push({ start, end });
  const horizon = end - 2 * BLOCK_CHUNK_MS - 60_000;
  while (pauses.length > 0 && pauses[0]!.end < horizon) pauses.shift();
}

/** Whether perf time `t` (ms) is inside one of our own pauses. */
export function inOwnPause(t: number): boolean {
  return pauses.some((p) => t >= p.start && t <= p.end);
}

/** How much of [start, end] our own pauses cover, ms. */
export function ownPauseOverlap(start: number, end: number): number {
  let covered = 0;
  for (const p of pauses) {
    const s = Math.max(start, p.start);
    const e = Math.min(end, p.end);
    if (e > s) covered += e - s;
  }
  return Math.min(covered, end - start);
}

/** Runs `fn` (synchronous) and notes its duration as our own pause. */
export function asOwnPause<T>(fn: () => T): T {
  const t0 = performance.now();
  try {
    return fn();
  } finally {
    noteProfilerPause(t0, performance.now());
  }
}

// ---------------------------------------------------------------------------
// Stall windows, shared with trace.ts.

/** One detected stall: the loop was late by `lagMs`; window in perf ms. */
export interface Stall extends Span {
  lagMs: number;
}

/** Lag monitors running now (block profiling, trace captures). */
let lagMonitors = 0;

/**
 * A lag monitor: calls `onStall` for every tick at least `floorMs` late,
 * with our own pauses subtracted. Returns the stop function and a `check`
 * that measures up to now (used before our own pauses).
 */
export function startLagMonitor(
  onStall: (stall: Stall) => void,
  onOwnPause: () => void = () => {},
  floorMs = BLOCK_FLOOR_MS,
): { stop(): void; check(): void; reset(): void } {
  let last = performance.now();
  const check = () => {
    const now = performance.now();
    const window = now - last;
    last = now;
    const late = window - BLOCK_TICK_MS;
    if (late < floorMs) return;
    const lag = late - ownPauseOverlap(now - window, now);
    if (lag >= floorMs) onStall({ start: now - window, end: now, lagMs: lag });
    else onOwnPause();
  };
  const timer = setInterval(check, BLOCK_TICK_MS);
  Deno.unrefTimer(timer);
  lagMonitors++;
  let stopped = false;
  return {
    stop: () => {
      if (stopped) return;
      stopped = true;
      lagMonitors--;
      clearInterval(timer);
    },
    check,
    reset: () => {
      last = performance.now();
    },
  };
}

// ---------------------------------------------------------------------------
// A private inspector session: V8 runs several CPU profiles at once, one per
// session, so this one does not take the `/debug/pprof/profile` lock.

/** Opens a session of its own, with a `post` that keeps the loop alive. */
export function privateSession(): {
  post<T>(method: string, params?: Record<string, unknown>): Promise<T>;
  /** Dispatches now (Deno runs commands synchronously); answer later. */
  send<T>(method: string, params?: Record<string, unknown>): Promise<T>;
  close(): void;
} {
  const session = new Session();
  session.connect();
  const send = <T>(method: string, params: Record<string, unknown> = {}) =>
    postOn<T>(session, method, params);
  return { post: send, send, close: () => session.disconnect() };
}
