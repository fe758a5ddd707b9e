/**
 * The pprof HTTP listener. Unlike CoreDNS there is no 5 s write timeout: a
 * 30 s CPU profile (what `go tool pprof URL` asks for) must be able to finish.
 */

import { pluginLogger } from "../../lib/log.ts";
import {
  acquireHttpListener,
  type HttpHandler,
  type HttpListener,
} from "../../lib/net/http_listeners.ts";
import { isAllowed, isLoopbackHost } from "./allow.ts";
import { goError } from "./http.ts";
import {
  cmdlineEndpoint,
  createPprofHandler,
  type Endpoint,
  symbolEndpoint,
} from "./handler.ts";
import { cpuProfileEndpoint, heapEndpoint } from "./profiles.ts";
import {
  blockEndpoint,
  goroutineEndpoint,
  mutexEndpoint,
  threadcreateEndpoint,
  traceEndpoint,
} from "./runtime.ts";
import type { PprofConfig } from "./setup.ts";
import { uiEndpoint } from "./ui/mod.ts";

const log = pluginLogger("pprof");

export interface ListenerOptions {
  /** The process-wide block-profile rate (0: off), read at request time. */
  blockRate(): number;
}

/** Every endpoint this build serves, in no particular order (the index sorts). */
export function pprofEndpoints(options: ListenerOptions): Endpoint[] {
  const endpoints: Endpoint[] = [
    cmdlineEndpoint,
    symbolEndpoint,
    cpuProfileEndpoint,
    heapEndpoint("heap"),
    heapEndpoint("allocs"),
    blockEndpoint(options),
    goroutineEndpoint,
    mutexEndpoint,
    threadcreateEndpoint,
    traceEndpoint,
  ];
  // The flame graph takes its profiles through the endpoints above.
  return [...endpoints, uiEndpoint(endpoints)];
}

/**
 * Starts serving on the configured address, synchronously: a bind failure
 * throws at once with the address, so the whole start fails and rolls back.
 */
export function startPprofListener(
  config: PprofConfig,
  options: ListenerOptions,
): HttpListener {
  const pprof = createPprofHandler(pprofEndpoints(options));
  const nets = config.allow.map((a) => a.net);
  const handler: HttpHandler = nets.length === 0
    ? pprof
    : (request, shutdown, info) =>
      isAllowed(nets, info.remoteAddr.hostname)
        ? pprof(request, shutdown)
        : goError(403, "Forbidden");
  if (!isLoopbackHost(config.host)) {
    const who = nets.length === 0
      ? "anyone who reaches it"
      : `clients in ${config.allow.map((a) => a.text).join(" ")}`;
    log.warning(
      `listening on ${config.address}, beyond loopback: ${who} can read this process's profiles`,
    );
  }
  try {
    return acquireHttpListener(config, handler);
  } catch (error) {
    throw new Error(
      `plugin/pprof: Failed to start pprof handler: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
}
