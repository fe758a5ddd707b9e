/**
 * DNS sockets (one TCP listener and one UDP socket per address), shared by
 * address across configurations as lib/net/shared_sockets.ts explains: a
 * port a reload keeps is the same pair of sockets throughout, answered by
 * the newest configuration's server.
 *
 * UDP goes through libc's sockets where FFI is allowed (lib/net/libc_udp.ts:
 * queries read and answered in batches, at about 60% of the CPU per query
 * of Deno's socket), else `Deno.listenDatagram` where it is enabled
 * (`--unstable-net`; deno.json turns it on), else `node:dgram`: the Deno
 * socket moves more queries a second than Node's (bench P6e measures it).
 *
 * @module
 */

import dgram from "node:dgram";
import type { Buffer } from "node:buffer";
import type { Endpoint } from "./handler.ts";
import type { DnsServer } from "./server.ts";
import { type LibcUdp, libcUdp } from "../net/libc_udp.ts";
import { listenError } from "../net/listen_error.ts";
import { type Shared, SharedSockets } from "../net/shared_sockets.ts";

export interface DnsListenAddress {
  /** Empty: every interface (IPv6 and IPv4 where the system allows). */
  host: string;
  /** 0: an ephemeral port, the same for TCP and UDP, never shared. */
  port: number;
}

export interface DnsListener {
  readonly port: number;
  /** Drops this holder; the sockets close when no holder is left. */
  release(): Promise<void>;
}

/** miekg/dns's defaults as CoreDNS sets them: first read, then idle between queries. */
const TCP_READ_TIMEOUT_MS = 3000;
const TCP_IDLE_TIMEOUT_MS = 10000;

/** What a UDP socket does with each datagram. */
interface UdpHandler {
  /**
   * The reply to send at once, or undefined to leave the datagram to
   * `later`; `bytes` may be read only during the call.
   */
  now(bytes: Uint8Array, remote: Endpoint): Uint8Array | undefined;
  /** Answers a datagram (`bytes`, its own copy) in its own time through `reply`. */
  later(
    bytes: Uint8Array,
    remote: Endpoint,
    reply: (bytes: Uint8Array) => Promise<void>,
  ): void;
}

/** A bound UDP socket, whichever API is underneath. */
interface UdpSocket {
  /** Hands each datagram to `handler` until closed. */
  serve(handler: UdpHandler): void;
  close(): Promise<void>;
}

/** A failed send: the socket closed meanwhile, or the client is unreachable; it retries. */
function ignore(): void {}

interface Entry extends Shared<DnsServer> {
  tcp: Deno.TcpListener;
  udp: UdpSocket;
  port: number;
  conns: Set<Deno.TcpConn>;
  accepting: Promise<void>;
}

const entries = new SharedSockets<Entry, DnsServer>(close);

/**
 * Serves `server` on `at` (or joins the sockets already there). Throws,
 * worded as CoreDNS's `Listen:`/`ListenPacket:` errors, when a socket cannot
 * be bound; nothing stays open then.
 */
export async function acquireDnsListener(
  at: DnsListenAddress,
  server: DnsServer,
): Promise<DnsListener> {
  const entry = entries.find(at) ?? await listen(at);
  return { port: entry.port, release: entries.hold(at, entry, server) };
}

/** Go's `host:port` for messages: `:1053`, `127.0.0.1:53`, `[::1]:53`. */
function goAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

async function listen(at: DnsListenAddress): Promise<Entry> {
  const address = goAddress(at.host, at.port);
  // caddy opens the TCP listener first, then the packet socket.
  let tcp: Deno.TcpListener;
  let hostname = at.host;
  try {
    if (at.host === "") {
      try {
        hostname = "::";
        tcp = Deno.listen({ hostname, port: at.port, transport: "tcp" });
      } catch (error) {
        if (error instanceof Deno.errors.AddrInUse) throw error;
        hostname = "0.0.0.0"; // no IPv6 on this host
        tcp = Deno.listen({ hostname, port: at.port, transport: "tcp" });
      }
    } else {
      tcp = Deno.listen({ hostname, port: at.port, transport: "tcp" });
    }
  } catch (error) {
    throw new Error(`Listen: ${listenError("tcp", address, error)}`, {
      cause: error,
    });
  }
  const port = tcp.addr.port;
  let udp: UdpSocket;
  try {
    udp = await bindUdp(hostname, port);
  } catch (error) {
    tcp.close();
    throw new Error(
      `ListenPacket: ${listenError("udp", goAddress(at.host, port), error)}`,
      { cause: error },
    );
  }
  const entry: Entry = {
    tcp,
    udp,
    port,
    holders: [],
    conns: new Set(),
    accepting: Promise.resolve(),
  };
  const local: Endpoint = { ip: unmap(hostname), port };
  udp.serve({
    now: (bytes, remote) =>
      entry.holders.at(-1)?.answerPlain(bytes, "udp", remote),
    later(bytes, remote, reply) {
      const server = entry.holders.at(-1);
      if (server === undefined) return;
      void server.serve(bytes, { proto: "udp", remote, local, send: reply });
    },
  });
  entry.accepting = accept(entry);
  return entry;
}

/** `Deno.listenDatagram`, present only with `--unstable-net`. */
const listenDatagram = (Deno as {
  listenDatagram?: (
    options: Deno.UdpListenOptions & { transport: "udp" },
  ) => Deno.DatagramConn;
}).listenDatagram;

function bindUdp(hostname: string, port: number): Promise<UdpSocket> {
  const libc = libcUdp();
  if (libc !== undefined) {
    return Promise.resolve(bindLibcUdp(libc, hostname, port));
  }
  return listenDatagram
    ? Promise.resolve(bindDenoUdp(listenDatagram, hostname, port))
    : bindNodeUdp(hostname, port);
}

function bindLibcUdp(libc: LibcUdp, hostname: string, port: number): UdpSocket {
  const socket = libc.bind(hostname, port);
  return {
    serve(handler) {
      socket.serve((d) => {
        const remote = { ip: d.ip, port: d.port };
        const now = handler.now(d.bytes, remote);
        if (now !== undefined) return now;
        const address = d.address.slice();
        handler.later(d.bytes.slice(), remote, (reply) => {
          socket.sendTo(reply, address);
          return Promise.resolve();
        });
        return undefined;
      });
    },
    async close() {
      socket.close();
      await libc.idle();
    },
  };
}

/** Receives started at once, so one datagram is read while others are handled. */
const UDP_RECEIVERS = 4;
/** The largest DNS message. */
const UDP_BUFFER = 65535;

function bindDenoUdp(
  listen: NonNullable<typeof listenDatagram>,
  hostname: string,
  port: number,
): UdpSocket {
  const conn = listen({ hostname, port, transport: "udp" });
  const receivers: Promise<void>[] = [];
  let closed = false;
  return {
    serve(handler) {
      const receive = async () => {
        const buffer = new Uint8Array(UDP_BUFFER);
        while (!closed) {
          let received: [Uint8Array, Deno.Addr];
          try {
            received = await conn.receive(buffer);
          } catch {
            // Closed, or a failed read (the datagram is lost; the client
            // retries): a receiver only ever stops with the socket.
            if (!closed) await new Promise((r) => setTimeout(r, 10));
            continue;
          }
          const [view, from] = received;
          const addr = from as Deno.NetAddr;
          const remote = { ip: unmap(addr.hostname), port: addr.port };
          // `view` is read into again by the next receive: only `now` sees it.
          const now = handler.now(view, remote);
          if (now !== undefined) {
            conn.send(now, addr).then(ignore, ignore);
            continue;
          }
          handler.later(
            view.slice(),
            remote,
            (reply) => conn.send(reply, addr).then(ignore, ignore),
          );
        }
      };
      for (let i = 0; i < UDP_RECEIVERS; i++) receivers.push(receive());
    },
    async close() {
      closed = true;
      try {
        conn.close();
      } catch { /* already closed */ }
      await Promise.all(receivers);
    },
  };
}

function bindNodeUdp(hostname: string, port: number): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({
      type: hostname.includes(":") ? "udp6" : "udp4",
    });
    const onError = (error: Error) => {
      socket.close();
      reject(error);
    };
    socket.once("error", onError);
    socket.bind(port, hostname, () => {
      socket.off("error", onError);
      socket.on("error", () => {}); // per-datagram send errors: nothing to do
      resolve({
        serve(handler) {
          socket.on("message", (msg: Buffer, rinfo: dgram.RemoteInfo) => {
            const bytes = new Uint8Array(
              msg.buffer,
              msg.byteOffset,
              msg.byteLength,
            );
            const remote = { ip: unmap(rinfo.address), port: rinfo.port };
            const send = (reply: Uint8Array) =>
              new Promise<void>((done) => {
                try {
                  socket.send(reply, rinfo.port, rinfo.address, () => done());
                } catch {
                  done(); // the socket closed meanwhile: the client retries
                }
              });
            const now = handler.now(bytes, remote);
            if (now !== undefined) void send(now);
            else handler.later(bytes, remote, send);
          });
        },
        close: () => new Promise<void>((done) => socket.close(() => done())),
      });
    });
  });
}

async function accept(entry: Entry): Promise<void> {
  await acceptStreams(entry.tcp, entry.conns, () => entry.holders.at(-1));
}

/**
 * Accepts connections on `listener` (plain TCP, or TLS) until it closes and
 * serves each with `serveStream`, keeping it in `conns` while it is open.
 */
export async function acceptStreams(
  listener: AsyncIterable<Deno.Conn<Deno.NetAddr> | Deno.TlsConn>,
  conns: Set<Deno.Conn<Deno.NetAddr> | Deno.TlsConn>,
  current: () => DnsServer | undefined,
): Promise<void> {
  try {
    for await (const conn of listener) {
      conns.add(conn);
      void serveStream(conn, current).finally(() => {
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* already closed */ }
      });
    }
  } catch { /* the listener closed */ }
}

/**
 * Length-prefixed queries, one at a time per connection, as miekg/dns serves
 * them (DNS over TCP and over TLS alike), answered by the server `current`
 * names at each query.
 */
export async function serveStream(
  conn: Deno.Conn<Deno.NetAddr> | Deno.TlsConn,
  current: () => DnsServer | undefined,
): Promise<void> {
  if ("handshake" in conn) {
    try {
      await conn.handshake();
    } catch {
      return; // not a TLS client, or it went away: nothing to answer
    }
  }
  const remote: Endpoint = {
    ip: unmap(conn.remoteAddr.hostname),
    port: conn.remoteAddr.port,
  };
  const local: Endpoint = {
    ip: unmap(conn.localAddr.hostname),
    port: conn.localAddr.port,
  };
  const reader = new FrameReader(conn);
  let timeout = TCP_READ_TIMEOUT_MS;
  for (;;) {
    const query = await reader.next(timeout);
    if (query === undefined) return;
    timeout = TCP_IDLE_TIMEOUT_MS;
    const server = current();
    if (server === undefined) return;
    const answer = server.answerPlain(query, "tcp", remote);
    if (answer !== undefined) {
      try {
        await send(answer);
      } catch {
        return; // the client went away
      }
      continue;
    }
    await server.serve(query, { proto: "tcp", remote, local, send });
  }

  async function send(reply: Uint8Array): Promise<void> {
    const framed = new Uint8Array(reply.length + 2);
    new DataView(framed.buffer).setUint16(0, reply.length);
    framed.set(reply, 2);
    let written = 0;
    while (written < framed.length) {
      written += await conn.write(framed.subarray(written));
    }
  }
}

/** Length-prefixed DNS messages from a stream (TCP, TLS). */
export class FrameReader {
  #buffer = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  /** The next message; undefined at end of stream, on error or after `timeoutMs` idle. */
  async next(timeoutMs: number): Promise<Uint8Array | undefined> {
    const timer = setTimeout(() => {
      try {
        this.conn.close();
      } catch { /* already closed */ }
    }, timeoutMs);
    try {
      for (;;) {
        if (this.#buffer.length >= 2) {
          const length = this.#buffer[0]! << 8 | this.#buffer[1]!;
          if (this.#buffer.length >= 2 + length) {
            const message = this.#buffer.slice(2, 2 + length);
            this.#buffer = this.#buffer.slice(2 + length);
            return message;
          }
        }
        const chunk = new Uint8Array(65537);
        let n: number | null;
        try {
          n = await this.conn.read(chunk);
        } catch {
          return undefined;
        }
        if (n === null) return undefined;
        const joined = new Uint8Array(this.#buffer.length + n);
        joined.set(this.#buffer);
        joined.set(chunk.subarray(0, n), this.#buffer.length);
        this.#buffer = joined;
      }
    } finally {
      clearTimeout(timer);
    }
  }
}

async function close(entry: Entry): Promise<void> {
  try {
    entry.tcp.close();
  } catch { /* already closed */ }
  for (const conn of entry.conns) {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
  await entry.udp.close();
  await entry.accepting;
}

/** `::ffff:127.0.0.1` → `127.0.0.1`, as Go prints an IPv4 client of a dual-stack socket. */
export function unmap(ip: string): string {
  if (ip.charCodeAt(0) !== 0x3a) return ip; // not `:`: per query, skip the regex
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m === null ? ip : m[1]!;
}
