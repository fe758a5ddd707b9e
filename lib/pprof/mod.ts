/**
 * `/debug/pprof` for any Deno program, as Go's `net/http/pprof` is for Go:
 * CPU, heap, allocation, event-loop (block) profiles and a trace, in the
 * pprof format that `go tool pprof`, Parca, Pyroscope and speedscope read,
 * plus a flame graph at `/debug/pprof/ui/`.
 *
 * Mount it in your own server, in two lines:
 *
 * ```ts ignore
 * import { withPprof } from "./lib/pprof/mod.ts";
 * Deno.serve(withPprof((request) => new Response("hello")));
 * ```
 *
 * or, in a framework (Hono here), route `/debug/pprof/*` to `pprofHandler()`:
 *
 * ```ts ignore
 * const pprof = pprofHandler();
 * app.all("/debug/pprof/*", (c) => pprof(c.req.raw, c.env));
 * ```
 *
 * or give it a listener of its own, like Go's
 * `go http.ListenAndServe("localhost:6060", nil)`:
 *
 * ```ts ignore
 * import { servePprof } from "./lib/pprof/mod.ts";
 * servePprof(); // http://localhost:6053/debug/pprof/
 * ```
 *
 * Every surface in a process shares one profiler (one heap sampler, one
 * stall detector). Permissions: `--allow-sys` (the inspector; Deno accepts
 * only the whole flag), `--allow-net` for `servePprof`, and `--allow-read`
 * with `--allow-env` so frames get TypeScript lines from Deno's cache.
 *
 * @module
 */

import { message } from "../errors.ts";
import { parsePort, splitHostPort } from "../net/host_port.ts";
import { ListenerConflictError } from "../net/http_listeners.ts";
import { PprofConflictError } from "../profile/process.ts";
import { parseAllowed } from "./allow.ts";
import { PPROF_PATH } from "./handler.ts";
import { goError } from "./http.ts";
import { pprofProcess, surfaceHandler } from "./process.ts";
import { DEFAULT_ADDRESS } from "./listen.ts";
import { type AllowedNet, listenPprof } from "./surface.ts";
import { listenInWatcher, WatcherBackend } from "./watch.ts";

export { PprofConflictError };

export { DEFAULT_ADDRESS };

/** What a pprof surface serves; the same as the Corefile's `pprof` block. */
export interface PprofOptions {
  /**
   * Event-loop stall profiling (`/debug/pprof/block`): `true` records every
   * detectable stall, a number is Go's rate in nanoseconds (stalls at least
   * that long always, shorter ones with probability delay/rate). Off by
   * default, like the Corefile's `block [RATE]`.
   */
  block?: boolean | number;
  /**
   * Sample every allocation, so `allocs` is cumulative `alloc_space`, instead
   * of live objects. V8 has one heap sampler: one mode for the process.
   */
  allocations?: boolean;
  /**
   * Clients answered, as CIDRs or bare addresses (`127.0.0.1`,
   * `10.0.0.0/8`); others get Go's 403. Empty or absent: everyone who can
   * connect. A handler needs the `info` argument to know the peer.
   */
  allow?: readonly string[];
  /** The base path, `/debug/pprof` by default (where every pprof client looks). */
  path?: string;
}

/** `servePprof()`'s options: a `PprofOptions` and where to listen. */
export interface ServePprofOptions extends PprofOptions {
  /**
   * `host:port` as Go writes it (`localhost:6060`, `:6060`, `[::1]:6060`),
   * default `localhost:6053`; port 0 takes a free one (see `addr`).
   */
  address?: string;
}

/** A request handler for `/debug/pprof` that any fetch-style server can call. */
export interface PprofHandler {
  /**
   * Answers a request under the base path (404 elsewhere). Pass `info`
   * (Deno.serve's second argument) when `allow` is set.
   */
  (request: Request, info?: { remoteAddr: Deno.Addr }): Promise<Response>;
  /** Whether `request` is for this handler (its path is under the base). */
  matches(request: Request): boolean;
  /** Settles once the profiler samples as asked (requests wait for it anyway). */
  readonly ready: Promise<void>;
  /** Releases this handler's hold on the profiler; later requests get 503. */
  close(): Promise<void>;
}

/** A `servePprof()` listener. */
export interface PprofServer {
  /** Where it listens (the port chosen when 0 was asked for). */
  readonly addr: Deno.NetAddr;
  /** Settles once the profiler samples as asked. */
  readonly ready: Promise<void>;
  /** Ends running captures (they answer with what they have), closes the socket. */
  shutdown(): Promise<void>;
}

const KNOWN_OPTIONS = new Set(["block", "allocations", "allow", "path"]);

/**
 * A handler that answers every path under `/debug/pprof` (or `path`), for
 * use inside `Deno.serve` or any fetch-style framework (Hono, Oak, Fresh).
 * Throws a `TypeError` for unknown or invalid options and a
 * `PprofConflictError` when another surface of this process holds the
 * profiler with other settings.
 *
 * @example Mount pprof beside an app
 * ```ts
 * import { pprofHandler } from "./mod.ts";
 *
 * const pprof = pprofHandler();
 * const app = (request: Request, info?: Deno.ServeHandlerInfo) =>
 *   pprof.matches(request) ? pprof(request, info) : new Response("app");
 *
 * const index = await app(new Request("http://localhost/debug/pprof/"));
 * if (index.status !== 200) throw new Error(`index: ${index.status}`);
 * await index.body?.cancel();
 * await pprof.close();
 * ```
 */
export function pprofHandler(options: PprofOptions = {}): PprofHandler {
  const settings = readOptions(options, KNOWN_OPTIONS);
  const process = pprofProcess(settings.profiler);
  const hold = process.hold(settings.profiler, { source: "pprofHandler()" });
  const surface = surfaceHandler(process, hold.ready, settings);
  let closed = false;
  const handler = (
    request: Request,
    info?: { remoteAddr: Deno.Addr },
  ): Promise<Response> =>
    closed
      ? Promise.resolve(goError(503, "pprof handler closed"))
      : surface(request, info);
  return Object.assign(handler, {
    matches: (request: Request) => underBase(request, settings.path),
    ready: hold.ready,
    async close() {
      closed = true;
      await hold.release();
    },
  });
}

/**
 * Wraps a `Deno.serve` handler so that `/debug/pprof` (or `path`) answers
 * beside it: `Deno.serve(withPprof(app))`. Everything else goes to `app`.
 *
 * @example
 * ```ts
 * import { withPprof } from "./mod.ts";
 *
 * const app = (_request: Request) => new Response("app");
 * const handler = withPprof(app);
 *
 * const info = {
 *   remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
 * } as Deno.ServeHandlerInfo<Deno.NetAddr>;
 * const page = await handler(new Request("http://localhost/"), info);
 * if (await page.text() !== "app") throw new Error("the app answers");
 * const heap = await handler(
 *   new Request("http://localhost/debug/pprof/heap"),
 *   info,
 * );
 * if (heap.status !== 200) throw new Error(`heap: ${heap.status}`);
 * await heap.body?.cancel();
 * await handler.close();
 * ```
 */
export function withPprof<Info extends { remoteAddr: Deno.Addr }>(
  app: (request: Request, info: Info) => Response | Promise<Response>,
  options: PprofOptions = {},
): ((request: Request, info: Info) => Response | Promise<Response>) & {
  close(): Promise<void>;
} {
  const pprof = pprofHandler(options);
  const handler = (request: Request, info: Info) =>
    pprof.matches(request) ? pprof(request, info) : app(request, info);
  return Object.assign(handler, { close: () => pprof.close() });
}

/**
 * Serves `/debug/pprof` on a listener of its own, like Go's
 * `go http.ListenAndServe("localhost:6060", nil)`: it answers while the
 * program runs and, like Go's, never keeps the program running by itself.
 * Binds before it returns: an address in use throws at once, worded as Go's
 * `net.Listen`.
 *
 * @example A listener of its own on a free port
 * ```ts
 * import { servePprof } from "./mod.ts";
 *
 * const server = servePprof({ address: "127.0.0.1:0" });
 * const url = `http://127.0.0.1:${server.addr.port}/debug/pprof/heap`;
 * const heap = await fetch(url);
 * if (heap.status !== 200) throw new Error(`heap: ${heap.status}`);
 * await heap.body?.cancel();
 * await server.shutdown();
 * ```
 */
export function servePprof(options: ServePprofOptions = {}): PprofServer {
  const settings = readOptions(
    options,
    new Set([...KNOWN_OPTIONS, "address"]),
  );
  const address = options.address ?? DEFAULT_ADDRESS;
  let at;
  try {
    const { host, port } = splitHostPort(address);
    at = { address, host, port: parsePort(address, port) };
  } catch (error) {
    throw new TypeError(`pprof: ${message(error)}`);
  }
  const process = pprofProcess(settings.profiler);
  const hold = process.hold(settings.profiler, { source: "servePprof()" });
  const backend = process.backend;
  let listener: { hostname: string; port: number; release(): Promise<void> };
  try {
    if (backend instanceof WatcherBackend) {
      // Served by the watcher, where a busy main thread cannot hold it up.
      listener = listenInWatcher(backend, at, {
        allow: settings.allow.map((a) => a.text),
        path: settings.path,
      }, "servePprof()");
    } else {
      const local = listenPprof(
        at,
        settings.allow,
        surfaceHandler(process, hold.ready, settings),
        { exclusive: "servePprof()" },
      );
      local.unref();
      listener = local;
    }
  } catch (error) {
    void hold.release();
    if (error instanceof ListenerConflictError) {
      throw new PprofConflictError(
        `pprof: servePprof(): ${(error as Error).message}`,
      );
    }
    if (error instanceof PprofConflictError) throw error;
    throw new Error(`pprof: ${message(error)}`, { cause: error });
  }
  return {
    addr: {
      transport: "tcp",
      hostname: listener.hostname,
      port: listener.port,
    },
    ready: hold.ready,
    async shutdown() {
      await listener.release();
      await hold.release();
    },
  };
}

interface Settings {
  profiler: { blockRate: number; allocations: boolean };
  allow: AllowedNet[];
  path: string;
}

/** Validates options as the Corefile's setup validates the directive. */
function readOptions(options: object, known: ReadonlySet<string>): Settings {
  for (const key of Object.keys(options)) {
    if (!known.has(key)) {
      throw new TypeError(
        `pprof: unknown option '${key}' (known: ${[...known].join(", ")})`,
      );
    }
  }
  const { block, allocations, allow, path } = options as PprofOptions;
  return {
    profiler: {
      blockRate: blockRate(block),
      allocations: readBoolean("allocations", allocations),
    },
    allow: (allow ?? []).map((text) => {
      const net = typeof text === "string" ? parseAllowed(text) : undefined;
      if (net === undefined) {
        throw new TypeError(
          `pprof: option 'allow' invalid address or CIDR '${text}'`,
        );
      }
      return { text, net };
    }),
    path: basePath(path),
  };
}

function blockRate(block: unknown): number {
  if (block === undefined || block === false) return 0;
  if (block === true) return 1;
  if (typeof block === "number" && Number.isSafeInteger(block) && block > 0) {
    return block;
  }
  throw new TypeError(
    `pprof: option 'block' invalid value '${
      String(block)
    }': true, or a RATE that is a positive integer (nanoseconds)`,
  );
}

function readBoolean(name: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value === "boolean") return value;
  throw new TypeError(
    `pprof: option '${name}' invalid value '${String(value)}': true or false`,
  );
}

function basePath(path: unknown): string {
  if (path === undefined) return PPROF_PATH;
  if (typeof path !== "string" || !/^\/[^?#]*[^/?#]$/.test(path)) {
    throw new TypeError(
      `pprof: option 'path' invalid value '${
        String(path)
      }': an absolute path without a trailing slash, such as /debug/pprof`,
    );
  }
  return path;
}

function underBase(request: Request, base: string): boolean {
  const path = new URL(request.url).pathname;
  return path === base || path.startsWith(`${base}/`);
}
