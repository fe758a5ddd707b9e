/**
 * One pprof HTTP listener over `Deno.serve`. Unlike CoreDNS there is no 5 s
 * write timeout: a 30 s CPU profile (what `go tool pprof URL` asks for) must
 * be able to finish.
 */

import { pluginLogger } from "../../lib/log.ts";
import {
  cmdlineEndpoint,
  createPprofHandler,
  type Endpoint,
  symbolEndpoint,
} from "./handler.ts";
import type { PprofConfig } from "./setup.ts";

const log = pluginLogger("pprof");

/** How long shutdown waits for in-flight requests after asking them to end. */
const SHUTDOWN_GRACE_MS = 5000;

export interface ListenerOptions {
  /** The process-wide block-profile rate (0: off), read at request time. */
  blockRate(): number;
}

/** Where a listener ended up, e.g. when port 0 picked one. */
export interface RunningListener {
  readonly hostname: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Every endpoint this build serves, in no particular order (the index sorts). */
export function pprofEndpoints(_options: ListenerOptions): Endpoint[] {
  return [cmdlineEndpoint, symbolEndpoint];
}

/**
 * Starts listening, synchronously: a bind failure throws at once, with the
 * address in Go's wording, so the whole start fails and rolls back.
 */
export function startPprofListener(
  config: PprofConfig,
  options: ListenerOptions,
): RunningListener {
  const handler = createPprofHandler(pprofEndpoints(options));
  const shutdown = new AbortController();
  // A hostname binds its first address only, as CoreDNS; an empty host is every interface.
  const hostname = config.host === "" ? "0.0.0.0" : config.host;
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname,
      port: config.port,
      onListen() {},
      onError(error) {
        log.error(`${error instanceof Error ? error.message : String(error)}`);
        return new Response("Internal Server Error\n", { status: 500 });
      },
    }, (request) => handler(request, shutdown.signal));
  } catch (error) {
    throw new Error(
      `plugin/pprof: Failed to start pprof handler: ${
        listenError(config, error)
      }`,
      { cause: error },
    );
  }
  return {
    hostname: server.addr.hostname,
    port: server.addr.port,
    async stop() {
      shutdown.abort(); // long captures end now and answer with what they have
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<void>((resolve) =>
        timer = setTimeout(resolve, SHUTDOWN_GRACE_MS)
      );
      await Promise.race([server.shutdown(), deadline]);
      clearTimeout(timer);
    },
  };
}

/** Deno's bind errors, worded as Go's `net.Listen` errors that CoreDNS prints. */
function listenError(config: PprofConfig, error: unknown): string {
  const where = `listen tcp ${config.address}`;
  if (error instanceof Deno.errors.AddrInUse) {
    return `${where}: bind: address already in use`;
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return `${where}: bind: cannot assign requested address`;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `${where}: bind: permission denied`;
  }
  if (error instanceof Deno.errors.NotCapable) {
    return `${where}: ${(error as Error).message}`;
  }
  return `${where}: ${error instanceof Error ? error.message : String(error)}`;
}
