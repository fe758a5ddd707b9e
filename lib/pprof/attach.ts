/**
 * Attaches `/debug/pprof` to an unmodified program: preloaded before the
 * program's main module (`deno run --preload lib/pprof/attach.ts app.ts`,
 * which is what `coredeno run app.ts` does, with a private inspector). It
 * starts the watcher Worker, which serves the listener, and waits until
 * every isolate's profiler runs, so the program's first line is profiled.
 * The program stays the main module, with its own `Deno.args`,
 * `import.meta.main`, environment and exit code, and the listener never
 * keeps it running. It prints nothing.
 *
 * What runs here, on the program's thread before its first line, is kept
 * small (the watcher, the process's profiler and the listener's address):
 * the profiler and the endpoints load in the watcher. Without a private
 * inspector (the program's own `--inspect`), it is `servePprof()`,
 * in-process.
 *
 * Options ride on the module's URL, so they need no permission and leave the
 * program's environment alone:
 * `--preload 'file:///…/lib/pprof/attach.ts?address=localhost:6060&block=1000000&allocations'`
 * (`block` without a value: every stall). Without any, the defaults.
 * `watch`: `coredeno run` started the private inspector (no need to ask).
 * `unsetLog`: `coredeno run` set `DENO_LOG` only to silence Deno's inspector
 * notes; it is removed from the program's environment (where the program
 * may touch its environment at all).
 *
 * @module
 */

import inspector from "node:inspector";
import { parsePort, splitHostPort } from "../net/host_port.ts";
import { ProcessProfiler, processProfiler } from "../profile/process.ts";
import { DEFAULT_ADDRESS } from "./listen.ts";
import { listenInWatcher, WatcherBackend } from "./watch.ts";

interface AttachOptions {
  address: string;
  blockRate: number;
  allocations: boolean;
  /** coredeno run started a private inspector. */
  watch: boolean;
  unsetLog: boolean;
}

/** `?address=…&block[=RATE]&allocations&watch&unsetLog` read. */
function attachOptions(query: URLSearchParams): AttachOptions {
  const options: AttachOptions = {
    address: DEFAULT_ADDRESS,
    blockRate: 0,
    allocations: false,
    watch: false,
    unsetLog: false,
  };
  for (const [name, value] of query) {
    switch (name) {
      case "address":
        options.address = value;
        break;
      case "block":
        options.blockRate = value === "" ? 1 : Number(value);
        if (
          !Number.isSafeInteger(options.blockRate) || options.blockRate <= 0
        ) {
          throw new TypeError(`pprof: attach option 'block' invalid: ${value}`);
        }
        break;
      case "allocations":
        options.allocations = value === "" || value === "true";
        break;
      case "watch":
        options.watch = true;
        break;
      case "unsetLog":
        options.unsetLog = true;
        break;
      default:
        throw new TypeError(
          `pprof: unknown attach option '${name}' (known: address, block, allocations, watch, unsetLog)`,
        );
    }
  }
  return options;
}

const options = attachOptions(new URL(import.meta.url).searchParams);
if (options.unsetLog) {
  const state =
    Deno.permissions.querySync({ name: "env", variable: "DENO_LOG" }).state;
  if (state === "granted") Deno.env.delete("DENO_LOG");
}
const url = options.watch ? inspector.url() : undefined;
if (url) {
  const { host, port } = splitHostPort(options.address);
  const at = {
    address: options.address,
    host,
    port: parsePort(options.address, port),
  };
  const settings = {
    blockRate: options.blockRate,
    allocations: options.allocations,
  };
  const process = processProfiler(() =>
    new ProcessProfiler(new WatcherBackend({ url, settings }))
  );
  const hold = process.hold(settings, { source: "coredeno run" });
  listenInWatcher(
    process.backend as WatcherBackend,
    at,
    { allow: [], path: "/debug/pprof" },
    "coredeno run",
  );
  // The program's first line runs once every isolate's profiler does.
  await hold.ready.catch(() => {}); // requests answer with the reason
} else {
  const { servePprof } = await import("./mod.ts");
  const server = servePprof({
    address: options.address,
    ...(options.blockRate > 0 ? { block: options.blockRate } : {}),
    allocations: options.allocations,
  });
  await server.ready.catch(() => {});
}
