/**
 * The isolates a profiler can reach, and the DevTools-protocol types they
 * answer with. Two ways in, one shape (`Isolates`):
 *
 * - {@link LocalIsolates}: a `node:inspector` session on this very isolate,
 *   the main thread. Needs nothing but `--allow-sys`; sees the main isolate
 *   only, and is served only when the main thread yields.
 * - `RemoteIsolates` (remote.ts): a WebSocket client of Deno's inspector
 *   server, from a watcher Worker; reaches the main isolate while it is busy
 *   and every Worker, nested ones too.
 */

import { Session } from "node:inspector";
import { program } from "./program.ts";

/** One isolate: the main thread's or a Worker's. */
export interface IsolateTarget {
  /** "main", or the inspector's session id for a worker. */
  readonly id: string;
  readonly kind: "main" | "worker";
  /** A small number for people: 0 for main, then 1, 2, … in order of attach. */
  readonly number: number;
  /** The main module or the worker's script. */
  readonly url: string;
  /** "main", or the worker's `name` option ("" when it has none). */
  name: string;
  /** When it was attached (Unix ms). */
  readonly attachedAt: number;
  /** Sends one protocol command; rejects when the isolate is gone. */
  send<T = Record<string, unknown>>(
    method: string,
    params?: Record<string, unknown>,
  ): Promise<T>;
  /** Subscribes to one protocol event of this isolate; returns the unsubscribe. */
  on<T>(event: string, listener: (params: T) => void): () => void;
  /** Whether the isolate still runs (a worker ends; main lasts). */
  readonly alive: boolean;
}

/** Every isolate a profiler reaches, as they come and go. */
export interface Isolates {
  /** "local": this isolate only, in-process; "remote": every isolate, from a watcher. */
  readonly reach: "local" | "remote";
  readonly main: IsolateTarget;
  /** Live isolates, main first. */
  list(): IsolateTarget[];
  /**
   * Calls `prepare` for every isolate, those live now and each new one
   * before it runs any code (a worker waits for it). Commands it sends run
   * in order, before the worker's first line; it must not wait for answers.
   */
  onAttach(prepare: (target: IsolateTarget) => void): void;
  /** Calls `listener` when an isolate ends. */
  onDetach(listener: (target: IsolateTarget) => void): void;
  /** Ends the connection (sessions close; a remote program may exit). */
  close(): void;
}

/** The label a profile gives an isolate's samples: `main`, the worker's name, or its script. */
export function isolateLabel(target: IsolateTarget): string {
  return target.kind === "main" ? "main" : target.name || target.url;
}

/**
 * A `node:inspector` session on this isolate. Needs the whole `--allow-sys`
 * (Deno rejects `--allow-sys=inspector`); connects on construction.
 *
 * Deno runs a command synchronously but delivers the answer on a later turn,
 * and a pending answer alone does not keep the event loop alive (a script
 * awaiting only this would exit with "Top-level await promise never
 * resolved"), so a timer is held while an answer is pending.
 *
 * While this session is connected, Deno makes each new Worker of the
 * process wait up to a second for a debugger (Deno ≥ 2.9.1); an in-process
 * session cannot release it (`Target.*` is not served here). The watcher
 * (remote.ts) does not have that cost.
 */
export class LocalIsolates implements Isolates {
  readonly reach = "local";
  readonly main: IsolateTarget;
  readonly #session: Session;
  /** Answers awaited: a closed session never gives them, so they are failed. */
  readonly #pending = new Set<(error: Error) => void>();

  constructor() {
    const session = new Session();
    session.connect();
    this.#session = session;
    this.main = {
      id: "main",
      kind: "main",
      number: 0,
      url: program.mainModule,
      name: "main",
      attachedAt: Date.now(),
      alive: true,
      send: (method, params = {}) =>
        postOn(session, method, params, this.#pending),
      on: (event, listener) => {
        const wrapped = (message: { params: never }) =>
          listener(message.params);
        session.on(event, wrapped);
        return () => session.off(event, wrapped);
      },
    };
  }

  list(): IsolateTarget[] {
    return [this.main];
  }

  onAttach(prepare: (target: IsolateTarget) => void): void {
    prepare(this.main);
  }

  onDetach(): void {}

  close(): void {
    this.#session.disconnect();
    const closed = new Error("the inspector session is closed");
    for (const fail of [...this.#pending]) fail(closed);
  }
}

function postOn<T>(
  session: Session,
  method: string,
  params: Record<string, unknown>,
  pending: Set<(error: Error) => void>,
): Promise<T> {
  const keepAlive = setInterval(() => {}, 1 << 30);
  return new Promise<T>((resolve, reject) => {
    const fail = (error: Error) => settle(error);
    const settle = (error: Error | null, result?: unknown) => {
      if (!pending.delete(fail)) return;
      clearInterval(keepAlive);
      if (error) reject(error);
      else resolve(result as T);
    };
    pending.add(fail);
    try {
      session.post(method, params, settle);
    } catch (error) {
      settle(error as Error);
    }
  });
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
