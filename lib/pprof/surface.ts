/**
 * One pprof surface: every endpoint under one base path, the `allow` check,
 * and, for those that want their own socket, the listener. The Corefile
 * plugin, `pprofHandler()` and `servePprof()` are all built from it.
 *
 * Unlike CoreDNS there is no 5 s write timeout on the listener: a 30 s CPU
 * profile (what `go tool pprof URL` asks for) must be able to finish.
 */

import { isAllowed } from "./allow.ts";
import type { AllowedNet, SurfaceHandler } from "./listen.ts";
import {
  cmdlineEndpoint,
  createPprofHandler,
  type Endpoint,
  PPROF_PATH,
  symbolEndpoint,
} from "./handler.ts";
import { goError } from "./http.ts";
import type { Engine } from "./engine.ts";
import { cpuProfileEndpoint, heapEndpoint } from "./profiles.ts";
import {
  blockEndpoint,
  goroutineEndpoint,
  mutexEndpoint,
  threadcreateEndpoint,
  traceEndpoint,
} from "./runtime.ts";
import { uiEndpoint } from "./ui/mod.ts";

/** Every endpoint this build serves, in no particular order (the index sorts). */
export function pprofEndpoints(engine: Engine): Endpoint[] {
  const endpoints: Endpoint[] = [
    cmdlineEndpoint,
    symbolEndpoint,
    cpuProfileEndpoint(engine),
    heapEndpoint(engine, "heap"),
    heapEndpoint(engine, "allocs"),
    blockEndpoint(engine),
    goroutineEndpoint(engine),
    mutexEndpoint,
    threadcreateEndpoint(engine),
    traceEndpoint(engine),
  ];
  // The flame graph takes its profiles through the endpoints above.
  return [...endpoints, uiEndpoint(endpoints)];
}

/**
 * The handler for one surface. With an `allow` list, a request whose peer is
 * unknown (no `info`) or outside it gets Go's 403.
 */
export function pprofSurface(
  options: {
    allow: readonly AllowedNet[];
    path?: string;
    /** End long captures when the client goes away (reads `request.signal`). */
    clientSignal?: boolean;
  },
  engine: Engine,
): SurfaceHandler {
  const pprof = createPprofHandler(
    pprofEndpoints(engine),
    options.path ?? PPROF_PATH,
    options.clientSignal ?? false,
  );
  const nets = options.allow.map((a) => a.net);
  if (nets.length === 0) {
    return (request, _info, shutdown) => pprof(request, shutdown);
  }
  return (request, info, shutdown) => {
    const peer = info?.remoteAddr;
    return peer && "hostname" in peer && isAllowed(nets, peer.hostname)
      ? pprof(request, shutdown)
      : Promise.resolve(goError(403, "Forbidden"));
  };
}

export { type AllowedNet, listenPprof, type SurfaceHandler } from "./listen.ts";
