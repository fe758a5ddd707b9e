/**
 * The process-wide owner of the `node:inspector` session that every profiler
 * in this package shares (V8 has one CPU profiler and one sampling heap
 * profiler per isolate; one session keeps their state in one place).
 *
 * Needs the whole `--allow-sys` (Deno rejects `--allow-sys=inspector`). The
 * session connects on first use, so importing this module needs nothing.
 */

import { Session } from "node:inspector";

let session: Session | undefined;

function connected(): Session {
  if (session === undefined) {
    const s = new Session();
    s.connect();
    session = s;
  }
  return session;
}

/**
 * Sends one DevTools-protocol command and resolves with its result.
 *
 * Deno runs the command synchronously but delivers the answer on a later
 * turn, and a pending answer alone does not keep the event loop alive (a
 * script awaiting only this would exit with "Top-level await promise never
 * resolved"). A timer is therefore held for as long as the answer is pending.
 */
export function post<T = Record<string, unknown>>(
  method: string,
  params: Record<string, unknown> = {},
): Promise<T> {
  return postOn(connected(), method, params);
}

/** `post` on a given session (the block profiler keeps one of its own). */
export function postOn<T = Record<string, unknown>>(
  s: Session,
  method: string,
  params: Record<string, unknown> = {},
): Promise<T> {
  const keepAlive = setInterval(() => {}, 1 << 30);
  return new Promise<T>((resolve, reject) => {
    try {
      s.post(method, params, (error: Error | null, result?: unknown) => {
        clearInterval(keepAlive);
        if (error) reject(error);
        else resolve(result as T);
      });
    } catch (error) {
      clearInterval(keepAlive);
      reject(error);
    }
  });
}

/**
 * The commands that make V8 drop every function's optimized code, sent on a
 * session whose profiler is on (right after `Profiler.start`): V8 switches
 * code coverage to a precise mode (which deoptimizes everything) and back.
 * Hot code is then recompiled while the profiler listens.
 *
 * Why: a CPU profiler only knows the code it was told about. When it
 * starts, V8 logs the code attached to functions, but not on-stack
 * replacement (OSR) code that Maglev compiled earlier for a running loop,
 * and samples taken in that code are booked to the caller: measured in
 * Deno 2.9.6 (V8 15.0), 1 s profiles from a fresh process's first second,
 * a handler's hot function vanished from 8 of 16 (its time shown on the
 * handler) and the test workload's alpha or beta from 4 of 16; with V8's
 * inlining off, still 4 of 16. With this, 0 of 32. TurboFan's OSR code is
 * not announced either, so `--v8-flags=--no-maglev-osr` is no cure: with it
 * a rarely called function's 300 ms loop was booked to its caller in 2 of
 * 2 runs (and Deno ignores V8 flags set at run time). Numbers and costs:
 * plugins/pprof/README.md.
 *
 * Caveat: precise coverage is one isolate-wide mode; a coverage collector
 * running in the same process (`deno test --coverage`) is switched back to
 * best effort.
 */
export function discardOptimizedCode(
  send: (method: string, params?: Record<string, unknown>) => Promise<unknown>,
): Promise<unknown>[] {
  return [
    send("Profiler.startPreciseCoverage", {
      callCount: false,
      detailed: false,
    }),
    send("Profiler.stopPreciseCoverage"),
  ];
}

/** Subscribes to one protocol event; returns the unsubscribe function. */
export function on<T>(
  event: string,
  listener: (params: T) => void,
): () => void {
  const s = connected();
  const wrapped = (message: { params: T }) => listener(message.params);
  s.on(event, wrapped);
  return () => s.off(event, wrapped);
}

/** A CDP call frame (`Runtime.CallFrame`); line and column are 0-based. */
export interface CallFrame {
  functionName: string;
  scriptId: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

/** `Profiler.ProfileNode`. */
export interface CpuProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
  positionTicks?: { line: number; ticks: number }[];
}

/** `Profiler.Profile`; times are CLOCK_MONOTONIC microseconds. */
export interface CdpCpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** `HeapProfiler.SamplingHeapProfileNode`. */
export interface HeapProfileNode {
  callFrame: CallFrame;
  selfSize: number;
  id: number;
  children: HeapProfileNode[];
}

/** `HeapProfiler.SamplingHeapProfile`. */
export interface CdpHeapProfile {
  head: HeapProfileNode;
  samples: { size: number; nodeId: number; ordinal: number }[];
}
