/**
 * HTTP listeners shared by address across configurations. A reload starts
 * the new configuration before stopping the old one (CoreDNS's order); an
 * address both keep is the same socket throughout, now answered by the new
 * configuration's handler, so a reload never drops it or races a second bind.
 */

import { log } from "../log.ts";
import { listenError } from "./listen_error.ts";

export type HttpHandler = (
  request: Request,
  shutdown: AbortSignal,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

export interface ListenAddress {
  /** As written, for messages: `localhost:6053`, `:6060`. */
  address: string;
  /** Empty: every interface. */
  host: string;
  /** 0: a fresh ephemeral port, never shared. */
  port: number;
}

export interface HttpListener {
  readonly hostname: string;
  readonly port: number;
  /** Lets the process exit while the socket is open (Deno's `unref`). */
  unref(): void;
  /** Drops this holder; the socket closes when no holder is left. */
  release(): Promise<void>;
}

/** How long a closing listener waits for in-flight requests after asking them to end. */
const SHUTDOWN_GRACE_MS = 5000;

interface Holder {
  handler: HttpHandler;
}

interface Entry {
  server: Deno.HttpServer<Deno.NetAddr>;
  shutdown: AbortController;
  /** In acquisition order; the newest answers. */
  holders: Holder[];
}

const listeners = new Map<string, Entry>();

/**
 * Listens on `at` (or joins the listener already there) with `handler`.
 * Throws at once, worded as Go's `net.Listen`, when the address cannot be bound.
 */
export function acquireHttpListener(
  at: ListenAddress,
  handler: HttpHandler,
): HttpListener {
  const key = at.port === 0 ? undefined : `${at.host.toLowerCase()}:${at.port}`;
  let entry = key === undefined ? undefined : listeners.get(key);
  if (entry === undefined) {
    entry = listen(at);
    if (key !== undefined) listeners.set(key, entry);
  }
  const holder: Holder = { handler };
  entry.holders.push(holder);
  const owned = entry;
  return {
    hostname: owned.server.addr.hostname,
    port: owned.server.addr.port,
    unref: () => owned.server.unref(),
    async release() {
      const index = owned.holders.indexOf(holder);
      if (index < 0) return;
      owned.holders.splice(index, 1);
      if (owned.holders.length > 0) return;
      if (key !== undefined) listeners.delete(key);
      await close(owned);
    },
  };
}

function listen(at: ListenAddress): Entry {
  const shutdown = new AbortController();
  const entry: Entry = { server: undefined!, shutdown, holders: [] };
  try {
    entry.server = Deno.serve(
      {
        // A hostname binds its first address only, as Go does.
        hostname: at.host === "" ? "0.0.0.0" : at.host,
        port: at.port,
        onListen() {},
        onError(error) {
          log(
            "ERROR",
            `${at.address}: ${
              error instanceof Error ? error.stack : String(error)
            }`,
          );
          return new Response("Internal Server Error\n", { status: 500 });
        },
      },
      (request, info) =>
        entry.holders.at(-1)!.handler(request, shutdown.signal, info),
    );
  } catch (error) {
    throw new Error(listenError("tcp", at.address, error), { cause: error });
  }
  return entry;
}

async function close(entry: Entry): Promise<void> {
  entry.shutdown.abort(); // long captures end now and answer with what they have
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<void>((resolve) =>
    timer = setTimeout(resolve, SHUTDOWN_GRACE_MS)
  );
  await Promise.race([entry.server.shutdown(), deadline]);
  clearTimeout(timer);
}
