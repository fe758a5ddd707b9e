/**
 * Attaches `/debug/pprof` to an unmodified program: preloaded before the
 * program's main module (`deno run --preload lib/pprof/attach.ts app.ts`,
 * which is what `coredeno run app.ts` does, with a private inspector), it
 * starts `servePprof()`, which in a process with a private inspector runs
 * in the watcher Worker, and waits until every isolate's profiler runs, so
 * the program's first line is profiled. The program stays the main module,
 * with its own `Deno.args`, `import.meta.main`, environment and exit code,
 * and the listener never keeps it running. It prints nothing.
 *
 * Options ride on the module's URL, so they need no permission and leave the
 * program's environment alone:
 * `--preload 'file:///…/lib/pprof/attach.ts?address=localhost:6060&block=1000000&allocations'`
 * (`block` without a value: every stall). Without any, the defaults.
 * `unsetLog`: `coredeno run` set `DENO_LOG` only to silence Deno's inspector
 * notes; it is removed from the program's environment (where the program
 * may touch its environment at all).
 *
 * @module
 */

import { servePprof, type ServePprofOptions } from "./mod.ts";

/** `?address=…&block[=RATE]&allocations` as `servePprof` options. */
function attachOptions(
  query: URLSearchParams,
): { options: ServePprofOptions; unsetLog: boolean } {
  const options: ServePprofOptions = {};
  let unsetLog = false;
  for (const [name, value] of query) {
    switch (name) {
      case "address":
        options.address = value;
        break;
      case "block":
        options.block = value === "" ? true : Number(value);
        break;
      case "allocations":
        options.allocations = value === "" || value === "true";
        break;
      case "unsetLog":
        unsetLog = true;
        break;
      default:
        throw new TypeError(
          `pprof: unknown attach option '${name}' (known: address, block, allocations)`,
        );
    }
  }
  return { options, unsetLog };
}

const { options, unsetLog } = attachOptions(
  new URL(import.meta.url).searchParams,
);
if (unsetLog) {
  const state =
    Deno.permissions.querySync({ name: "env", variable: "DENO_LOG" })
      .state;
  if (state === "granted") Deno.env.delete("DENO_LOG");
}
const server = servePprof(options);
// The program's first line runs once every isolate's profiler does.
await server.ready.catch(() => {}); // requests answer with the reason
