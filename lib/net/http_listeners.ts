/**
 * HTTP listeners (pprof, health, ready), shared by address across
 * configurations as shared_sockets.ts explains: a reload keeps the socket and
 * hands it to the new configuration's handler.
 */

import { log, pluginLogger } from "../log.ts";
import { listenError } from "./listen_error.ts";
import { type Shared, SharedSockets } from "./shared_sockets.ts";

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
  /** Who holds it alone, for the conflict message; undefined: shareable (a Corefile's reload). */
  exclusive?: string;
}

/** An address another holder keeps to itself. */
export class ListenerConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ListenerConflictError";
  }
}

interface Entry extends Shared<Holder> {
  server: Deno.HttpServer<Deno.NetAddr>;
  shutdown: AbortController;
}

const listeners = new SharedSockets<Entry, Holder>(close);

/**
 * Listens on `at` (or joins the listener already there) with `handler`.
 * Throws at once, worded as Go's `net.Listen`, when the address cannot be bound.
 */
export function acquireHttpListener(
  at: ListenAddress,
  handler: HttpHandler,
  options: { exclusive?: string } = {},
): HttpListener {
  const found = listeners.find(at);
  const owner = found?.holders.find((h) => h.exclusive)?.exclusive;
  if (found && (owner || options.exclusive)) {
    // Two surfaces on one address would answer with one's settings only
    // (its allow list among them): the second is refused.
    throw new ListenerConflictError(
      `${at.address} is already served by ${owner ?? "the Corefile"}`,
    );
  }
  const entry = found ?? listen(at);
  const release = listeners.hold(at, entry, {
    handler,
    exclusive: options.exclusive,
  });
  return {
    hostname: entry.server.addr.hostname,
    port: entry.server.addr.port,
    unref: () => entry.server.unref(),
    release,
  };
}

/**
 * Logs `[INFO] plugin/NAME: Listening on HOST:PORT` when the Corefile asked
 * for port 0, the one way to learn which port the kernel gave; a port
 * written out prints nothing, as in CoreDNS.
 */
export function reportPort(
  plugin: string,
  at: ListenAddress,
  listener: HttpListener,
): void {
  if (at.port !== 0) return;
  const host = listener.hostname.includes(":")
    ? `[${listener.hostname}]`
    : listener.hostname;
  pluginLogger(plugin).info(`Listening on ${host}:${listener.port}`);
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
