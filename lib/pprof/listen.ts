/**
 * A pprof surface's own listener (`servePprof()`, the Corefile's `pprof`,
 * the watcher's), in a module of its own: it loads no endpoint, so the
 * watcher binds before its endpoints have loaded.
 */

import { pluginLogger } from "../log.ts";
import {
  acquireHttpListener,
  type HttpListener,
  type ListenAddress,
} from "../net/http_listeners.ts";
import type { IPNet } from "../net/ip.ts";
import { isLoopbackHost } from "./allow.ts";

const log = pluginLogger("pprof");

/** Where `servePprof()`, `coredeno run` and the Corefile's bare `pprof` listen. */
export const DEFAULT_ADDRESS = "localhost:6053";

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
