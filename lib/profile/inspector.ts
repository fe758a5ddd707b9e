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
