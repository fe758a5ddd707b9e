/**
 * The watcher Worker (started by watch.ts): the process's profiler and its
 * `/debug/pprof` listeners, on a thread of their own. It reaches every
 * isolate through the private inspector's WebSocket, so a main thread that
 * never yields and busy Workers are profiled all the same, and it answers
 * HTTP while they spin.
 *
 * It prints nothing: its console is silenced (Deno's own notes, such as the
 * one about `request.signal`, would land in the program's stderr) and its
 * log lines are dropped; errors reach clients as Go's HTTP errors.
 */

import { parentPort, workerData } from "node:worker_threads";
import { BLOCK_SAMPLING_INTERVAL_MICROS } from "../profile/block.ts";
import { Profiler } from "../profile/profiler.ts";
import {
  type AgreedSettings,
  DEFAULT_INTERVAL_MICROS,
} from "../profile/types.ts";
import { RemoteIsolates } from "../profile/remote.ts";
import { setProgram } from "../profile/program.ts";
import { type Stall, StallFanOut } from "../profile/stalls.ts";
import { setLogSink } from "../log.ts";
import type { HttpListener } from "../net/http_listeners.ts";
import { parseAllowed } from "./allow.ts";
import { engineOf } from "./engine.ts";
import { type Message, Rpc, Transfer } from "./rpc.ts";
import { listenPprof } from "./listen.ts";
import type { SurfaceHandler } from "./surface.ts";
import type { SurfaceSpec } from "./watch.ts";

interface Start {
  url: string;
  settings: AgreedSettings;
  program: { mainModule: string; argv: string[] };
  mainTimeOrigin: number;
}

const start = workerData as Start;
setProgram(start.program);
setLogSink(() => {});
for (const name of ["log", "info", "warn", "error", "debug"] as const) {
  console[name] = () => {};
}

const port = parentPort!;
const rpc = new Rpc((message, transfer) => port.postMessage(message, transfer));
port.on("message", (message: Message) => rpc.receive(message));

let agreed: AgreedSettings = start.settings;
let profiler: Profiler | undefined;
const engine = engineOf(() => profiler, () => agreed);

/** Stalls of the main loop come from its lag monitor, run on the main thread. */
let reportStall: ((stall: Stall) => void) | undefined;
rpc.handle("stall", (m) => reportStall?.(m.stall as Stall));
const stalls = new StallFanOut((report) => {
  reportStall = report;
  rpc.notify("lag.start");
  return {
    stop: () => {
      reportStall = undefined;
      rpc.notify("lag.stop");
    },
    flush: () => rpc.call<void>("lag.flush"),
  };
});

const setup = (async () => {
  const isolates = await RemoteIsolates.connect(start.url, {
    // The watcher's own isolate is not the program's.
    ignore: (url) => url === import.meta.url,
  });
  profiler = new Profiler(isolates, {
    intervalMicros: start.settings.blockRate > 0
      ? BLOCK_SAMPLING_INTERVAL_MICROS
      : DEFAULT_INTERVAL_MICROS,
    heap: start.settings.allocations ? "allocations" : "inuse",
    mainTimeOrigin: start.mainTimeOrigin,
    stalls,
  });
  await isolates.start();
  await profiler.apply(agreed);
  return profiler;
})();
setup.then(
  () => rpc.notify("ready"),
  (error) => rpc.notify("failed", { message: String(error?.message ?? error) }),
);

/**
 * The endpoints (and the profile builders under them) load with the first
 * request: the program's first line waits for the profilers, not for these,
 * and a program nobody profiles never holds them in memory.
 */
let surfaces: Promise<typeof import("./surface.ts")> | undefined;

/** A surface's handler; requests wait for the profiler (or get its failure as Go's 500). */
function surfaceFor(spec: SurfaceSpec): SurfaceHandler {
  let handler: Promise<SurfaceHandler> | undefined;
  const load = () =>
    handler ??= (surfaces ??= import("./surface.ts")).then((
      { pprofSurface },
    ) =>
      pprofSurface({
        allow: spec.allow.map((text) => ({ text, net: parseAllowed(text)! })),
        path: spec.path,
        clientSignal: true,
      }, engine)
    );
  return async (request, info, shutdown) => {
    try {
      await setup;
    } catch (error) {
      return new Response(
        `profiler did not start: ${(error as Error).message}\n`,
        {
          status: 500,
          headers: {
            "Content-Type": "text/plain; charset=utf-8",
            "X-Go-Pprof": "1",
          },
        },
      );
    }
    return await (await load())(request, info, shutdown);
  };
}

rpc.handle("apply", async (m) => {
  agreed = m.settings as AgreedSettings;
  await (await setup).apply(agreed);
});

const listeners = new Map<number, HttpListener>();

// Answered through shared memory: the main thread waits for it (servePprof
// binds before it returns), so nothing here may wait for the main thread.
rpc.handle("listen", (m) => {
  const flag = new Int32Array(m.shared as SharedArrayBuffer, 0, 3);
  const text = new Uint8Array(m.shared as SharedArrayBuffer, 12);
  let state = 2;
  let reply: string;
  try {
    const spec = m.surface as SurfaceSpec;
    const at = m.at as { address: string; host: string; port: number };
    const allow = spec.allow.map((t) => ({ text: t, net: parseAllowed(t)! }));
    const listener = listenPprof(at, allow, surfaceFor(spec), {
      exclusive: String(m.exclusive),
    });
    listeners.set(m.id as number, listener);
    flag[1] = listener.port;
    reply = listener.hostname;
    state = 1;
  } catch (error) {
    const e = error as Error;
    reply = `${e.name}\n${e.message}`;
  }
  const bytes = new TextEncoder().encode(reply).subarray(0, text.length);
  text.set(bytes);
  flag[2] = bytes.length;
  Atomics.store(flag, 0, state);
  Atomics.notify(flag, 0);
});

rpc.handle("unlisten", async (m) => {
  const listener = listeners.get(m.id as number);
  listeners.delete(m.id as number);
  await listener?.release();
});

/** Surfaces of main-thread handlers, by their spec. */
const forwarded = new Map<string, SurfaceHandler>();

rpc.handle("serve", async (m) => {
  const spec = m.surface as SurfaceSpec;
  const key = JSON.stringify(spec);
  let surface = forwarded.get(key);
  if (!surface) forwarded.set(key, surface = surfaceFor(spec));
  const request = new Request(m.url as string, {
    method: m.method as string,
    headers: m.headers as [string, string][],
    body: (m.body as ArrayBuffer | undefined) ?? null,
  });
  const peer = m.peer as { hostname: string; port: number } | undefined;
  const response = await surface(
    request,
    peer ? { remoteAddr: { transport: "tcp", ...peer } } : undefined,
  );
  const body = response.body ? await response.arrayBuffer() : null;
  return new Transfer(
    { status: response.status, headers: [...response.headers], body },
    body ? [body] : [],
  );
});

let cpu: { stop(): Promise<unknown> } | undefined;
rpc.handle("cpu.start", async () => {
  const p = await setup;
  cpu = p.startCpu();
});
rpc.handle("cpu.stop", async () => {
  const running = cpu;
  cpu = undefined;
  if (!running) throw new Error("Wall profiler is not started");
  return await running.stop();
});
rpc.handle(
  "heap.read",
  async (m) => await (await setup).readHeap({ gc: Boolean(m.gc) }),
);
rpc.handle("heap.set", async (m) => {
  await (await setup).setHeapMode(
    m.mode as "inuse" | "allocations",
    m.options as { intervalBytes?: number; stackDepth?: number },
  );
});
