/**
 * The pprof HTTP listener. Unlike CoreDNS there is no 5 s write timeout: a
 * 30 s CPU profile (what `go tool pprof URL` asks for) must be able to finish.
 */

import {
  acquireHttpListener,
  type HttpListener,
} from "../../lib/net/http_listeners.ts";
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

export interface ListenerOptions {
  /** The process-wide block-profile rate (0: off), read at request time. */
  blockRate(): number;
}

/** Every endpoint this build serves, in no particular order (the index sorts). */
export function pprofEndpoints(options: ListenerOptions): Endpoint[] {
  return [
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
}

/**
 * Starts serving on the configured address, synchronously: a bind failure
 * throws at once with the address, so the whole start fails and rolls back.
 */
export function startPprofListener(
  config: PprofConfig,
  options: ListenerOptions,
): HttpListener {
  const handler = createPprofHandler(pprofEndpoints(options));
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
