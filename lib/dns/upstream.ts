/**
 * A DNS client for one upstream server (CoreDNS's `proxy.Transport` and
 * `persistConn`): queries over UDP through one socket per upstream, with
 * replies matched by a fresh random id; over TCP (or DNS over TLS) through
 * cached connections, reused until they sat idle for `expire`, so a busy
 * forwarder does not pay a handshake per query.
 *
 * @module
 */

import dgram from "node:dgram";
import type { Buffer } from "node:buffer";
import { decodeMessage, encodeMessage, type Message } from "./wire.ts";

export type UpstreamProto = "udp" | "tcp";

export interface UpstreamOptions {
  /** How long a cached TCP connection (or idle UDP socket) may sit unused. */
  expireMs?: number;
  /** How long to wait for a reply. */
  readTimeoutMs?: number;
  /** DNS over TLS (port 853): SNI and certificate name, extra CA certificates. */
  tls?: { serverName: string; caCerts?: string[] };
}

/** The remote side closed a cached connection: CoreDNS retries on a new one. */
export class CachedClosedError extends Error {
  constructor() {
    super("cached connection was closed by peer");
    this.name = "CachedClosedError";
  }
}

export interface Exchanged {
  reply: Message;
  /** The protocol the query went over. */
  proto: UpstreamProto;
}

interface Pending {
  resolve(reply: Message): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

interface IdleConn {
  conn: Deno.Conn;
  used: number;
}

/** Go's `host:port`, with brackets for IPv6. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A random 16-bit message id (miekg/dns's `dns.Id`). */
export function randomId(): number {
  return crypto.getRandomValues(new Uint16Array(1))[0]!;
}

export class Upstream {
  /** `127.0.0.1:53`, as CoreDNS labels its metrics (`to`). */
  readonly addr: string;
  readonly expireMs: number;
  readonly readTimeoutMs: number;
  readonly #tls: UpstreamOptions["tls"];
  #udp: dgram.Socket | undefined;
  #udpIdle: ReturnType<typeof setTimeout> | undefined;
  readonly #pending = new Map<number, Pending>();
  readonly #idle: IdleConn[] = [];
  #stopped = false;
  /** Called for each dial: whether a cached connection served it. */
  onDial: (proto: string, cached: boolean) => void = () => {};

  constructor(
    readonly host: string,
    readonly port: number,
    options: UpstreamOptions = {},
  ) {
    this.addr = joinHostPort(host, port);
    this.expireMs = options.expireMs ?? 10_000;
    this.readTimeoutMs = options.readTimeoutMs ?? 2000;
    this.#tls = options.tls;
  }

  /** Whether queries go over TLS (and so always over TCP). */
  get tls(): boolean {
    return this.#tls !== undefined;
  }

  /**
   * Sends `query` (under a fresh id; the reply gets the query's id back) and
   * waits for the reply. Throws on timeouts and socket errors; a
   * `CachedClosedError` when a reused connection turned out closed.
   */
  async exchange(
    query: Message,
    proto: UpstreamProto,
    readTimeoutMs = this.readTimeoutMs,
  ): Promise<Exchanged> {
    if (this.#tls !== undefined) proto = "tcp";
    const id = query.id;
    const wire = { ...query, id: randomId() };
    const reply = proto === "udp"
      ? await this.#udpExchange(wire, readTimeoutMs)
      : await this.#tcpExchange(wire, readTimeoutMs);
    reply.id = id;
    return { reply, proto };
  }

  /**
   * Closes the sockets once the exchanges in flight are done (a reload stops
   * the old configuration while its last queries may still be waiting for
   * their replies); nothing is cached from then on.
   */
  stop(): void {
    this.#stopped = true;
    if (this.#pending.size === 0) this.#closeUdp(new Error("stopped"));
    for (const idle of this.#idle.splice(0)) closeQuietly(idle.conn);
  }

  // --- UDP: one socket, replies matched by id and source.

  #udpSocket(): dgram.Socket {
    if (this.#udp !== undefined) return this.#udp;
    const socket = dgram.createSocket(
      this.host.includes(":") ? "udp6" : "udp4",
    );
    socket.on("message", (bytes: Buffer, rinfo: dgram.RemoteInfo) => {
      if (rinfo.port !== this.port || bytes.length < 12) return;
      const id = bytes[0]! << 8 | bytes[1]!;
      const pending = this.#pending.get(id);
      if (pending === undefined) return;
      let reply: Message;
      try {
        reply = decodeMessage(new Uint8Array(bytes));
      } catch {
        return; // a malformed datagram: keep waiting, as miekg/dns does
      }
      if (!reply.response) return;
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      pending.resolve(reply);
    });
    socket.on("error", (error: Error) => {
      if (this.#udp === socket) this.#closeUdp(error);
    });
    socket.unref();
    this.#udp = socket;
    return socket;
  }

  #closeUdp(error: Error): void {
    const socket = this.#udp;
    this.#udp = undefined;
    clearTimeout(this.#udpIdle);
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    if (socket !== undefined) {
      try {
        socket.close();
      } catch {
        // already closed
      }
    }
  }

  #udpExchange(query: Message, timeoutMs: number): Promise<Message> {
    while (this.#pending.has(query.id)) query.id = randomId();
    const socket = this.#udpSocket();
    clearTimeout(this.#udpIdle);
    const bytes = encodeMessage(query);
    return new Promise<Message>((resolve, reject) => {
      const id = query.id;
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        this.#armUdpIdle();
        reject(new Error(`read udp ${this.addr}: i/o timeout`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (m) => {
          this.#armUdpIdle();
          resolve(m);
        },
        reject,
        timer,
      });
      socket.send(bytes, this.port, this.host, (error) => {
        if (error == null) return;
        const pending = this.#pending.get(id);
        if (pending === undefined) return;
        this.#pending.delete(id);
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  /** Closes the UDP socket once nothing is in flight for `expire` (at once when stopped). */
  #armUdpIdle(): void {
    if (this.#pending.size > 0 || this.#udp === undefined) return;
    if (this.#stopped) {
      this.#closeUdp(new Error("stopped"));
      return;
    }
    clearTimeout(this.#udpIdle);
    this.#udpIdle = setTimeout(() => {
      if (this.#pending.size === 0) this.#closeUdp(new Error("idle"));
    }, this.expireMs);
    Deno.unrefTimer(this.#udpIdle);
  }

  // --- TCP and TLS: cached connections, one query at a time each.

  async #dial(timeoutMs: number): Promise<[Deno.Conn, boolean]> {
    const now = Date.now();
    while (this.#idle.length > 0) {
      const idle = this.#idle.pop()!;
      if (now - idle.used > this.expireMs) {
        closeQuietly(idle.conn);
        continue;
      }
      this.onDial(this.#tls ? "tcp-tls" : "tcp", true);
      return [idle.conn, true];
    }
    this.onDial(this.#tls ? "tcp-tls" : "tcp", false);
    const dialing = (async () => {
      const conn = await Deno.connect({ hostname: this.host, port: this.port });
      if (this.#tls === undefined) return conn as Deno.Conn;
      return await Deno.startTls(conn, {
        hostname: this.#tls.serverName,
        ...(this.#tls.caCerts ? { caCerts: this.#tls.caCerts } : {}),
      }) as Deno.Conn;
    })();
    const conn = await withTimeout(
      dialing,
      timeoutMs,
      `dial tcp ${this.addr}: i/o timeout`,
      closeQuietly,
    );
    return [conn, false];
  }

  async #tcpExchange(query: Message, timeoutMs: number): Promise<Message> {
    const [conn, cached] = await this.#dial(timeoutMs);
    const body = encodeMessage(query);
    const framed = new Uint8Array(body.length + 2);
    new DataView(framed.buffer).setUint16(0, body.length);
    framed.set(body, 2);
    try {
      await writeAll(conn, framed);
      const reply = await withTimeout(
        (async () => {
          for (;;) {
            const length = new Uint8Array(2);
            await readFull(conn, length);
            const bytes = new Uint8Array(length[0]! << 8 | length[1]!);
            await readFull(conn, bytes);
            const m = decodeMessage(bytes);
            if (m.id === query.id) return m;
          }
        })(),
        timeoutMs,
        `read tcp ${this.addr}: i/o timeout`,
      );
      if (!this.#stopped) this.#idle.push({ conn, used: Date.now() });
      else closeQuietly(conn);
      return reply;
    } catch (error) {
      closeQuietly(conn);
      if (cached && (error instanceof EofError || isReset(error))) {
        throw new CachedClosedError();
      }
      throw error;
    }
  }
}

class EofError extends Error {
  constructor() {
    super("EOF");
    this.name = "EofError";
  }
}

function isReset(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.BadResource;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

async function readFull(conn: Deno.Conn, into: Uint8Array): Promise<void> {
  let got = 0;
  while (got < into.length) {
    const n = await conn.read(into.subarray(got));
    if (n === null) throw new EofError();
    got += n;
  }
}

/**
 * `work`, or an error after `ms`; a value that arrives too late goes to
 * `discard` (a connection that finished dialing after its deadline).
 */
function withTimeout<T>(
  work: Promise<T>,
  ms: number,
  message: string,
  discard?: (late: T) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(new Error(message));
    }, ms);
    work.then((value) => {
      clearTimeout(timer);
      if (done) discard?.(value);
      else resolve(value);
    }, (error) => {
      clearTimeout(timer);
      if (!done) reject(error);
    });
  });
}
