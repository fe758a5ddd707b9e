/**
 * One pprof surface: every endpoint under one base path, the `allow` check,
 * and, for those that want their own socket, the listener. The Corefile
 * plugin, `pprofHandler()` and `servePprof()` are all built from it.
 *
 * Unlike CoreDNS there is no 5 s write timeout on the listener: a 30 s CPU
 * profile (what `go tool pprof URL` asks for) must be able to finish.
 */

import { pluginLogger } from "../log.ts";
import type { IPNet } from "../net/ip.ts";
import {
  acquireHttpListener,
  type HttpListener,
  type ListenAddress,
} from "../net/http_listeners.ts";
import { isAllowed, isLoopbackHost } from "./allow.ts";
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

const log = pluginLogger("pprof");

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

/** A client allowed by CIDR, as written and parsed. */
export interface AllowedNet {
  text: string;
  net: IPNet;
}

/** Answers one request; `info` gives the peer for `allow`, `shutdown` ends long captures. */
export type SurfaceHandler = (
  request: Request,
  info?: { remoteAddr: Deno.Addr },
  shutdown?: AbortSignal,
) => Promise<Response>;

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

/**
 * Serves `handler` on `at`, synchronously: a bind failure throws at once,
 * worded as Go's `net.Listen`. Listening beyond loopback is said in the log.
 */
export function listenPprof(
  at: ListenAddress,
  allow: readonly AllowedNet[],
  handler: SurfaceHandler,
  options: { exclusive?: string } = {},
): HttpListener {
  if (!isLoopbackHost(at.host)) {
    const who = allow.length === 0
      ? "anyone who reaches it"
      : `clients in ${allow.map((a) => a.text).join(" ")}`;
    log.warning(
      `listening on ${at.address}, beyond loopback: ${who} can read this process's profiles`,
    );
  }
  return acquireHttpListener(
    at,
    (request, shutdown, info) => handler(request, info, shutdown),
    options,
  );
}
