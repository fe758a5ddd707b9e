/**
 * The watcher, seen from the main thread: a Worker (watcher.ts) that runs
 * the process's profiler and its `/debug/pprof` listeners outside the
 * program's event loop, over the process's private inspector.
 *
 * Why a Worker on the inspector's WebSocket (decided by measurement, Deno
 * 2.9.6; README "How the watcher works"): the inspector thread hands each
 * message to its isolate at once, interrupting JavaScript that never yields
 * (`Profiler.start` answered in 11 ms while the main thread spun), and
 * `Target.setAutoAttach` reaches every Worker. An in-process `node:inspector`
 * session is served only when the main thread yields, sees no Worker, and
 * makes Deno hold each new Worker for a second. A supervising process would
 * need the same WebSocket, plus a way to learn its secret address.
 *
 * The door: the inspector runs code for whoever reaches it. A private one
 * is started by Deno's flags `--inspect=127.0.0.1:0 --inspect-publish-uid=none`
 * (what `coredeno run` passes): its WebSocket address carries a random UUID
 * (122 bits) that Deno publishes nowhere (no `/json/list`, nothing printed),
 * and only this process reads it (`inspector.url()`). A program cannot make
 * one itself: `inspector.open()` always publishes the UUID over HTTP and
 * prints it (Deno's ext/node/ops/inspector.rs passes
 * `InspectPublishUid::default()`), so the watcher never opens one; without a
 * private inspector, profiling stays in-process (the local backend).
 */

import inspector from "node:inspector";
import process from "node:process";
import { Worker } from "node:worker_threads";
import type { SourceMaps } from "../profile/sourcemap.ts";
import { type Stall, startLagMonitor } from "../profile/stalls.ts";
import type { Backend } from "../profile/process.ts";
import type {
  AgreedSettings,
  RawCpuCapture,
  RawHeapProfile,
} from "../profile/types.ts";
import { program } from "../profile/program.ts";
import { PprofConflictError } from "../profile/process.ts";
import { type Message, Rpc } from "./rpc.ts";

/** How long the main thread waits for the watcher to bind a listener. */
const LISTEN_TIMEOUT_MS = 30_000;

/** The watcher's entry module, and the probe's. */
const WATCHER = new URL("./watcher.ts", import.meta.url);
const PROBE = new URL("./probe.ts", import.meta.url);

/** Whether a module is a file on disk (a bundle carries no Worker modules). */
function onDisk(url: URL): boolean {
  try {
    return url.protocol === "file:" && Deno.statSync(url).isFile;
  } catch {
    return false;
  }
}

/**
 * The process's private inspector URL, if it has one: an inspector whose
 * targets are not listed at `/json/list`. Synchronous (a surface decides at
 * once): a small Worker asks, while this thread waits.
 */
export function privateInspectorUrl(): string | undefined {
  let url: string | undefined;
  try {
    url = inspector.url();
  } catch {
    return undefined; // no --allow-sys
  }
  if (!url) return undefined;
  const list = new URL(url);
  list.protocol = "http:";
  list.pathname = "/json/list";
  if (!onDisk(WATCHER) || !onDisk(PROBE)) return undefined;
  const flag = new Int32Array(new SharedArrayBuffer(8));
  const probe = new Worker(PROBE, {
    workerData: { url: list.href, flag: flag.buffer },
  });
  probe.unref();
  Atomics.wait(flag, 0, 0, 10_000);
  void probe.terminate();
  // 404: Deno serves no list (--inspect-publish-uid without http).
  return flag[1] === 404 ? url : undefined;
}

/** Options the watcher starts with. */
export interface WatcherStart {
  /** The inspector's WebSocket URL (`privateInspectorUrl()`). */
  url: string;
  /** Settings of the first hold, which fix the sampling rate. */
  settings: AgreedSettings;
}

/** A listener the watcher serves a surface on. */
export interface WatcherListener {
  hostname: string;
  port: number;
  release(): Promise<void>;
}

/** What a forwarded surface is: its clients and path, as `pprofSurface` takes them. */
export interface SurfaceSpec {
  allow: readonly string[];
  path: string;
}

export class WatcherBackend implements Backend {
  readonly kind = "watcher";
  readonly profiler = undefined;
  #maps: Promise<SourceMaps> | undefined;
  /** Settles once every isolate's profiler runs; rejects if the watcher failed. */
  readonly ready: Promise<void>;
  readonly #worker: Worker;
  readonly #rpc: Rpc;
  #lag: ReturnType<typeof startLagMonitor> | undefined;
  #nextListener = 1;

  constructor(start: WatcherStart) {
    const worker = new Worker(WATCHER, {
      workerData: {
        url: start.url,
        settings: start.settings,
        program: { mainModule: program.mainModule, argv: process.argv },
        mainTimeOrigin: performance.timeOrigin,
      },
    });
    // The watcher never keeps the program alive.
    worker.unref();
    this.#worker = worker;
    const rpc = new Rpc((message, transfer) =>
      worker.postMessage(message, transfer)
    );
    this.#rpc = rpc;
    let ready: () => void;
    let failed: (error: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      ready = resolve;
      failed = reject;
    });
    this.ready.catch(() => {}); // surfaces report it
    rpc.handle("ready", () => ready());
    rpc.handle("failed", (m) => failed(new Error(String(m.message))));
    // The main loop's lag monitor, for the block profile and the trace.
    rpc.handle("lag.start", () => {
      this.#lag ??= startLagMonitor((stall: Stall) =>
        rpc.notify("stall", { stall })
      );
    });
    rpc.handle("lag.stop", () => {
      this.#lag?.stop();
      this.#lag = undefined;
    });
    rpc.handle("lag.flush", () => this.#lag?.check());
    worker.on("message", (message: Message) => rpc.receive(message));
    worker.on("error", (error: Error) => {
      failed(error);
      rpc.close(new Error(`the pprof watcher failed: ${error.message}`));
    });
    worker.on("exit", () => {
      this.#lag?.stop();
      rpc.close(new Error("the pprof watcher has ended"));
    });
  }

  /** Maps for profiles built here (the `@datadog/pprof`-shaped API's), loaded when first needed. */
  sourceMaps(): Promise<SourceMaps> {
    return this.#maps ??= import("../profile/sourcemap.ts").then((m) =>
      new m.SourceMaps()
    );
  }

  prepare(): void {
    // The watcher's profiler runs from its start.
  }

  async apply(settings: AgreedSettings | undefined): Promise<void> {
    await this.ready;
    if (settings) await this.#rpc.call("apply", { settings });
  }

  startCpu(): { stop(): Promise<RawCpuCapture> } {
    const started = this.#rpc.call("cpu.start");
    started.catch(() => {}); // stop() reports it
    return {
      stop: async () => {
        await started;
        return await this.#rpc.call<RawCpuCapture>("cpu.stop");
      },
    };
  }

  readHeap(options: { gc?: boolean } = {}): Promise<RawHeapProfile> {
    return this.#rpc.call("heap.read", { gc: options.gc ?? false });
  }

  setHeapSampling(
    mode: "inuse" | "allocations",
    options: { intervalBytes?: number; stackDepth?: number },
  ): Promise<void> {
    return this.#rpc.call("heap.set", { mode, options });
  }

  /**
   * Binds a listener in the watcher serving `surface`, synchronously (this
   * thread waits for the watcher): an address in use throws at once.
   */
  listen(
    at: { address: string; host: string; port: number },
    surface: SurfaceSpec,
    exclusive: string,
  ): WatcherListener {
    const id = this.#nextListener++;
    // [state, port, text length, text bytes...]; state 1 bound, 2 failed.
    const shared = new SharedArrayBuffer(4096);
    const flag = new Int32Array(shared, 0, 3);
    this.#rpc.notify("listen", { id, at, surface, exclusive, shared });
    if (Atomics.wait(flag, 0, 0, LISTEN_TIMEOUT_MS) === "timed-out") {
      throw new Error(
        `pprof: the watcher did not bind ${at.address} within ${LISTEN_TIMEOUT_MS} ms`,
      );
    }
    const text = new TextDecoder().decode(
      new Uint8Array(shared, 12, flag[2]).slice(),
    );
    if (flag[0] !== 1) {
      const [name, ...rest] = text.split("\n");
      const error = new Error(rest.join("\n"));
      error.name = name ?? "Error";
      throw error;
    }
    return {
      hostname: text,
      port: flag[1]!,
      release: () => this.#rpc.call("unlisten", { id }).then(() => {}),
    };
  }

  /**
   * Answers one request with the watcher's surface (an app's own
   * `pprofHandler` in a watched process). The body crosses once each way.
   */
  async serve(
    request: Request,
    info: { remoteAddr: Deno.Addr } | undefined,
    surface: SurfaceSpec,
  ): Promise<Response> {
    const body = request.body && request.method !== "GET" &&
        request.method !== "HEAD"
      ? await request.arrayBuffer()
      : undefined;
    const peer = info?.remoteAddr;
    const reply = await this.#rpc.call<{
      status: number;
      headers: [string, string][];
      body: ArrayBuffer | null;
    }>(
      "serve",
      {
        surface,
        method: request.method,
        url: request.url,
        headers: [...request.headers],
        body,
        peer: peer && "hostname" in peer
          ? { hostname: peer.hostname, port: peer.port }
          : undefined,
      },
      body ? [body] : undefined,
    );
    return new Response(
      request.method === "HEAD" ? null : reply.body,
      { status: reply.status, headers: reply.headers },
    );
  }

  /** Ends the watcher (its listeners close; the program is left alone). */
  async close(): Promise<void> {
    this.#lag?.stop();
    await this.#worker.terminate();
  }
}

/**
 * A surface served from the watcher on `at` for `source` (`servePprof()`,
 * `coredeno run`): a bind failure throws at once, an address another
 * surface serves is a `PprofConflictError`.
 */
export function listenInWatcher(
  backend: WatcherBackend,
  at: { address: string; host: string; port: number },
  spec: SurfaceSpec,
  source: string,
): WatcherListener {
  try {
    return backend.listen(at, spec, source);
  } catch (error) {
    if ((error as Error).name !== "ListenerConflictError") throw error;
    throw new PprofConflictError(
      `pprof: ${source}: ${(error as Error).message}`,
    );
  }
}
