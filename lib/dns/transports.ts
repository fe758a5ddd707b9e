/**
 * The listeners of every transport a server block may name: `dns://` (UDP
 * and TCP, listeners.ts), `tls://` (DNS over TLS, RFC 7858: length-prefixed
 * messages on `Deno.listenTls`) and `https://` (DNS over HTTPS, RFC 8484:
 * GET `?dns=` and POST `application/dns-message` at `/dns-query`, on
 * `Deno.serve`). TLS and HTTPS need a certificate from the *tls* plugin,
 * registered per zone key. QUIC, gRPC and unix sockets are refused with the
 * reason. Like DNS sockets, TLS and HTTPS listeners are shared by address
 * across reloads (the newest configuration answers; the certificate stays
 * the one the socket was opened with).
 *
 * @module
 */

import { log } from "../log.ts";
import { listenError } from "../net/listen_error.ts";
import { type Shared, SharedSockets } from "../net/shared_sockets.ts";
import type { Endpoint } from "./handler.ts";
import {
  acceptStreams,
  acquireDnsListener,
  type DnsListener,
  unmap,
} from "./listeners.ts";
import { counter } from "./metrics.ts";
import type { DnsServer } from "./server.ts";
import { decodeHeader, decodeMessage } from "./wire.ts";

/** A certificate and its key, PEM text, as the *tls* plugin read them. */
export interface TlsCertificate {
  cert: string;
  key: string;
}

/** What `acquireServerListener` needs of a server group. */
export interface TransportGroup {
  /** `tls://:853`, for messages. */
  address: string;
  transport: string;
  host: string;
  port: number;
  /** The zone keys served here (`tls://example.org.:853`). */
  keys: readonly string[];
}

const certificates = new Map<string, TlsCertificate[]>();

/**
 * Registers the certificate of a zone key (the *tls* plugin, at startup);
 * the returned function takes it back (at shutdown). The newest
 * registration of a key wins, so a reload's new certificate is the one used
 * for sockets it opens.
 */
export function registerCertificate(
  key: string,
  certificate: TlsCertificate,
): () => void {
  const list = certificates.get(key) ?? [];
  list.push(certificate);
  certificates.set(key, list);
  return () => {
    const index = list.indexOf(certificate);
    if (index >= 0) list.splice(index, 1);
    if (list.length === 0 && certificates.get(key) === list) {
      certificates.delete(key);
    }
  };
}

function certificateFor(group: TransportGroup): TlsCertificate {
  for (const key of group.keys) {
    const certificate = certificates.get(key)?.at(-1);
    if (certificate !== undefined) return certificate;
  }
  throw new Error(
    `cannot serve ${group.address}: no TLS certificate; add "tls CERT KEY" to its server block`,
  );
}

/** Why a transport is not served. */
const UNAVAILABLE: Record<string, string> = {
  quic:
    "DNS over QUIC is not available in coredeno: Deno 2.9.6's QUIC API (Deno.QuicEndpoint) is unstable, " +
    "and there is no DNS-over-QUIC client here (dig 9.18 has none) to prove an implementation against; " +
    "serve tls:// (DNS over TLS) or https:// (DNS over HTTPS) instead",
  https3:
    "DNS over HTTP/3 is not available in coredeno: Deno.serve speaks HTTP/1.1 and HTTP/2 only; serve https:// instead",
  grpc:
    "the grpc transport is not available in coredeno (no gRPC server in Deno's runtime); serve tls:// or https:// instead",
  unix: "the unix transport is not available in coredeno",
};

/** Throws the reason when `transport` cannot be served; at setup, before anything listens. */
export function checkTransport(group: TransportGroup): void {
  const reason = UNAVAILABLE[group.transport];
  if (reason !== undefined) {
    throw new Error(`cannot serve ${group.address}: ${reason}`);
  }
  if (group.transport === "tls" || group.transport === "https") {
    certificateFor(group);
  }
}

/** Serves `server` on the group's address, over the group's transport. */
export function acquireServerListener(
  group: TransportGroup,
  server: DnsServer,
): Promise<DnsListener> {
  checkTransport(group);
  const at = { host: group.host, port: group.port };
  switch (group.transport) {
    case "dns":
      return acquireDnsListener(at, server);
    case "tls":
      return Promise.resolve(holdShared(tlsEntries, listenTls, group, server));
    case "https":
      return Promise.resolve(
        holdShared(httpsEntries, listenHttps, group, server),
      );
  }
  throw new Error(
    `cannot serve ${group.address}: the ${group.transport} transport is not available in coredeno`,
  );
}

/** Holds the address's shared TLS or HTTPS entry, listening first if none is open. */
function holdShared<E extends Shared<DnsServer> & { port: number }>(
  entries: SharedSockets<E, DnsServer>,
  listen: (group: TransportGroup, certificate: TlsCertificate) => E,
  group: TransportGroup,
  server: DnsServer,
): DnsListener {
  const at = { host: group.host, port: group.port };
  const entry = entries.find(at) ?? listen(group, certificateFor(group));
  return { port: entry.port, release: entries.hold(at, entry, server) };
}

// --- DNS over TLS.

interface TlsEntry extends Shared<DnsServer> {
  listener: Deno.TlsListener;
  port: number;
  conns: Set<Deno.TlsConn>;
  accepting: Promise<void>;
}

const tlsEntries = new SharedSockets<TlsEntry, DnsServer>(async (entry) => {
  try {
    entry.listener.close();
  } catch { /* already closed */ }
  for (const conn of entry.conns) {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
  await entry.accepting;
});

function listenTls(group: TransportGroup, cert: TlsCertificate): TlsEntry {
  let listener: Deno.TlsListener;
  try {
    listener = Deno.listenTls({
      hostname: group.host === "" ? "0.0.0.0" : group.host,
      port: group.port,
      cert: cert.cert,
      key: cert.key,
    });
  } catch (error) {
    throw new Error(
      `Listen: ${
        listenError("tcp", group.address.replace(/^\w+:\/\//, ""), error)
      }`,
      { cause: error },
    );
  }
  const entry: TlsEntry = {
    listener,
    port: (listener.addr as Deno.NetAddr).port,
    conns: new Set(),
    holders: [],
    accepting: Promise.resolve(),
  };
  entry.accepting = acceptStreams(
    listener,
    entry.conns,
    () => entry.holders.at(-1),
  );
  return entry;
}

// --- DNS over HTTPS.

interface HttpsEntry extends Shared<DnsServer> {
  server: Deno.HttpServer<Deno.NetAddr>;
  port: number;
}

const httpsEntries = new SharedSockets<HttpsEntry, DnsServer>(
  async (entry) => {
    await entry.server.shutdown();
  },
);

const httpsResponses = counter(
  "coredns_dns_https_responses_total",
  "Counter of DoH responses per server and http status code.",
  ["server", "status"],
);

export const DOH_PATH = "/dns-query";
export const DOH_MIME = "application/dns-message";

function listenHttps(group: TransportGroup, cert: TlsCertificate): HttpsEntry {
  const entry: HttpsEntry = { server: undefined!, port: 0, holders: [] };
  try {
    entry.server = Deno.serve({
      hostname: group.host === "" ? "0.0.0.0" : group.host,
      port: group.port,
      cert: cert.cert,
      key: cert.key,
      onListen() {},
      onError(error) {
        log("ERROR", `${group.address}: ${String(error)}`);
        return new Response("Internal Server Error\n", { status: 500 });
      },
    }, async (request, info) => {
      const local = {
        ip: unmap(entry.server.addr.hostname),
        port: entry.server.addr.port,
      };
      const response = await dohHandler(
        request,
        info,
        local,
        entry.holders.at(-1),
      );
      httpsResponses.inc({
        server: group.address,
        status: String(response.status),
      });
      return response;
    });
  } catch (error) {
    throw new Error(
      `Listen: ${
        listenError("tcp", group.address.replace(/^\w+:\/\//, ""), error)
      }`,
      { cause: error },
    );
  }
  entry.port = entry.server.addr.port;
  return entry;
}

function plain(status: number, text: string): Response {
  return new Response(`${text}\n`, {
    status,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "x-content-type-options": "nosniff",
    },
  });
}

/** base64url without padding (RFC 8484 §4.1) → bytes; undefined when malformed. */
function fromBase64Url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  try {
    return Uint8Array.from(
      atob(text.replaceAll("-", "+").replaceAll("_", "/")),
      (c) => c.charCodeAt(0),
    );
  } catch {
    return undefined;
  }
}

/** The query of a DoH request: GET `?dns=`, or a POST body of `application/dns-message`. */
async function dohQuery(request: Request): Promise<Uint8Array | undefined> {
  if (request.method === "GET") {
    const dns = new URL(request.url).searchParams.get("dns");
    return dns === null ? undefined : fromBase64Url(dns);
  }
  if (request.method === "POST") {
    const type = request.headers.get("content-type")?.split(";")[0]?.trim();
    if (type !== DOH_MIME) return undefined;
    const body = new Uint8Array(await request.arrayBuffer());
    return body.length > 65535 ? undefined : body;
  }
  return undefined;
}

/** The smallest TTL of a reply's records, for Cache-Control (CoreDNS: 5 s when none, at most 1 h). */
function maxAge(reply: Uint8Array): number {
  try {
    const m = decodeMessage(reply);
    const records = [...m.answer, ...m.ns, ...m.extra];
    if (records.length === 0) return 5;
    return Math.min(3600, ...records.map((rr) => rr.ttl ?? 0));
  } catch {
    return 0;
  }
}

async function dohHandler(
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  local: Endpoint,
  server: DnsServer | undefined,
): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname !== DOH_PATH) return plain(404, "404 page not found");
  if (request.method !== "GET" && request.method !== "POST") {
    return plain(405, "Method Not Allowed");
  }
  const query = await dohQuery(request);
  const header = query === undefined ? undefined : decodeHeader(query);
  if (query === undefined || header === undefined || header.response) {
    return plain(400, "invalid request");
  }
  if (server === undefined) return plain(503, "Service Unavailable");
  let reply: Uint8Array | undefined;
  await server.serve(query, {
    proto: "tcp",
    remote: { ip: unmap(info.remoteAddr.hostname), port: info.remoteAddr.port },
    local,
    send(bytes) {
      reply = bytes;
      return Promise.resolve();
    },
  });
  if (reply === undefined) return plain(500, "No response");
  return new Response(reply as Uint8Array<ArrayBuffer>, {
    headers: {
      "content-type": DOH_MIME,
      "cache-control": `max-age=${maxAge(reply)}`,
    },
  });
}
