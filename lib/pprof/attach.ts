/**
 * Attaches `/debug/pprof` to an unmodified program: preloaded before the
 * program's main module (`deno run --preload lib/pprof/attach.ts app.ts`,
 * which is what `coredeno run app.ts` does), it starts `servePprof()` in the
 * program's own isolate. The program stays the main module, with its own
 * `Deno.args`, `import.meta.main`, environment and exit code, and the
 * listener never keeps it running.
 *
 * Options ride on the module's URL, so they need no permission and leave the
 * program's environment alone:
 * `--preload 'file:///…/lib/pprof/attach.ts?address=localhost:6060&block=1000000&allocations'`
 * (`block` without a value: every stall). Without any, the defaults.
 *
 * @module
 */

import { servePprof, type ServePprofOptions } from "./mod.ts";

/** `?address=…&block[=RATE]&allocations` as `servePprof` options. */
function attachOptions(query: URLSearchParams): ServePprofOptions {
  const options: ServePprofOptions = {};
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
      default:
        throw new TypeError(
          `pprof: unknown attach option '${name}' (known: address, block, allocations)`,
        );
    }
  }
  return options;
}

const server = servePprof(attachOptions(new URL(import.meta.url).searchParams));
const host = server.addr.hostname.includes(":")
  ? `[${server.addr.hostname}]`
  : server.addr.hostname;
console.error(`pprof: serving http://${host}:${server.addr.port}/debug/pprof/`);
