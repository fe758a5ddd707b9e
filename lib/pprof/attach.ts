/**
 * Attaches `/debug/pprof` to an unmodified program: preloaded before the
 * program's main module (`deno run --preload lib/pprof/attach.ts app.ts`,
 * which is what `coredeno run app.ts` does), it starts `servePprof()` in the
 * program's own isolate. The program stays the main module, with its own
 * `Deno.args`, `import.meta.main` and exit code, and the listener never
 * keeps it running.
 *
 * Options come from `COREDENO_PPROF`, a JSON `ServePprofOptions`
 * (`{"address":"localhost:6060","block":true}`); unset means the defaults.
 * The variable is removed before the program starts, so it sees its own
 * environment.
 *
 * @module
 */

import { ATTACH_ENV, servePprof, type ServePprofOptions } from "./mod.ts";

const text = Deno.env.get(ATTACH_ENV);
let options: ServePprofOptions = {};
if (text !== undefined) {
  try {
    options = JSON.parse(text);
  } catch (error) {
    throw new TypeError(
      `pprof: ${ATTACH_ENV} is not JSON: ${(error as Error).message}`,
    );
  }
  Deno.env.delete(ATTACH_ENV);
}
const server = servePprof(options);
const host = server.addr.hostname.includes(":")
  ? `[${server.addr.hostname}]`
  : server.addr.hostname;
console.error(
  `pprof: serving http://${host}:${server.addr.port}${
    options.path ?? "/debug/pprof"
  }/`,
);
