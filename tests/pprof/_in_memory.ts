/**
 * The pprof surface answered in memory, as Hono tests an app: a Request
 * in, a Response out, no socket. `pprofHandler()` serves the surface the
 * plugin serves (`pprofSurface`), with the profiler held as the plugin
 * holds it.
 */

import { pprofHandler } from "../../lib/pprof/mod.ts";

export function inMemoryPprof() {
  const handler = pprofHandler();
  return {
    base: "http://127.0.0.1",
    /** `fetch`'s signature, answered by the handler. */
    fetch: (url: string, init?: RequestInit) => handler(new Request(url, init)),
    close: () => handler.close(),
  };
}
