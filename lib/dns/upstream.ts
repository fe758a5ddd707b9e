/**
 * A DNS client for one upstream server (CoreDNS's `proxy.Transport` and
 * `persistConn`). Each query has a connection of its own while it waits:
 * a UDP socket connected to the upstream from a random port
 * (upstream_udp.ts), a TCP or DNS-over-TLS connection. Connections are
 * reused, oldest first (CoreDNS's FIFO, for source port diversity), until
 * they sat idle for `expire`; a timer sweeps them, and at most
 * `maxIdleConns` wait per protocol.
 *
 * A reply is taken only when it carries the query's (random) id, the QR bit
 * and the query's question (name without regard to case, type, class:
 * CoreDNS's `state.Match`). Anything else is dropped, reported to `onDrop`,
 * and the query keeps waiting for its true reply: a forger who guesses the
 * id but not the question, or sends from elsewhere, neither answers it nor
 * ends it.
 *
 * @module
 */

import { decodeMessage, encodeMessage, type Message } from "./wire.ts";
import { openUpstreamUdp, type UpstreamUdp } from "./upstream_udp.ts";

export type UpstreamProto = "udp" | "tcp";

export interface UpstreamOptions {
  /** How long a cached connection may sit unused. */
  expireMs?: number;
  /** How long to wait for a reply. */
  readTimeoutMs?: number;
  /** Idle connections kept per protocol; 0: no limit (CoreDNS's `max_idle_conns`). */
  maxIdleConns?: number;
  /** DNS over TLS (port 853): SNI and certificate name, extra CA certificates. */
  tls?: { serverName: string; caCerts?: string[] };
}

/** Why a datagram or message was dropped instead of taken as a reply. */
export type DropReason =
  /** It came from another address or port (only unconnected sockets see these). */
  | "address"
  /** Not a reply with the id of the query waiting on its connection (or none waited). */
  | "id"
  /** The right id, but another question. */
  | "question";

/** The default bound on idle connections per upstream and protocol. */
export const DEFAULT_MAX_IDLE_CONNS = 128;

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

export interface ExchangedWire {
  /** The reply as the upstream sent it, with the query's own id. */
  reply: Uint8Array;
  proto: UpstreamProto;
}

/** Go's `host:port`, with brackets for IPv6. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

const ids = new Uint16Array(1024);
let nextId = ids.length;

/** A random 16-bit message id (miekg/dns's `dns.Id`), drawn from a batch. */
export function randomId(): number {
  if (nextId === ids.length) {
    crypto.getRandomValues(ids);
    nextId = 0;
  }
  return ids[nextId++]!;
}

/**
 * Where the question of a wire query ends (after its type and class), or
 * undefined when it has none or it is malformed (compressed names included:
 * a query's first name has nothing to point back to).
 */
export function questionEnd(query: Uint8Array): number | undefined {
  if (query.length < 17 || query[4] !== 0 || query[5] !== 1) return undefined;
  let at = 12;
  for (;;) {
    const label = query[at];
    if (label === undefined || label > 63) return undefined;
    at += 1 + label;
    if (label === 0) break;
  }
  return at + 4 <= query.length ? at + 4 : undefined;
}

/**
 * Whether `reply` answers `query` (its question ending at `end`): a
 * response, with `id`, one question, the same name (ASCII case folded:
 * length bytes are below 0x41 and fold to themselves), type and class.
 */
export function answersQuery(
  reply: Uint8Array,
  query: Uint8Array,
  end: number,
): boolean {
  if (reply.length < end || (reply[2]! & 0x80) === 0) return false;
  if (reply[4] !== 0 || reply[5] !== 1) return false;
  for (let i = 12; i < end - 4; i++) {
    const a = reply[i]!;
    const b = query[i]!;
    if (a === b) continue;
    const folded = a | 0x20;
    if (folded !== (b | 0x20) || folded < 0x61 || folded > 0x7a) return false;
  }
  for (let i = end - 4; i < end; i++) {
    if (reply[i] !== query[i]) return false;
  }
  return true;
}

/** A read deadline: `expire` runs once `at` (performance.now()) has passed. */
interface Deadline {
  at: number;
  expire(): void;
}

/** How often read deadlines are checked: a query may wait this much past its timeout. */
const DEADLINE_TICK_MS = 20;

/**
 * The UDP queries' read deadlines, all checked by one interval timer while
 * any is pending: a timer per query was ~5% of a forwarded query's CPU
 * (profile under dnsperf: Deno's node-compatible `Timeout` objects).
 */
class Deadlines {
  readonly #pending = new Set<Deadline>();
  #timer: ReturnType<typeof setInterval> | undefined;

  add(ms: number, expire: () => void): Deadline {
    const deadline = { at: performance.now() + ms, expire };
    this.#pending.add(deadline);
    this.#timer ??= setInterval(() => this.#tick(), DEADLINE_TICK_MS);
    return deadline;
  }

  remove(deadline: Deadline): void {
    this.#pending.delete(deadline);
    if (this.#pending.size === 0) this.#stop();
  }

  #tick(): void {
    const now = performance.now();
    for (const deadline of this.#pending) {
      if (deadline.at > now) continue;
      this.#pending.delete(deadline);
      deadline.expire();
    }
    if (this.#pending.size === 0) this.#stop();
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

const deadlines = new Deadlines();

interface Waiting {
  query: Uint8Array;
  end: number;
  resolve(reply: Uint8Array): void;
  fail(error: Error): void;
}

interface UdpConn {
  socket: UpstreamUdp;
  waiting: Waiting | undefined;
  failed: Error | undefined;
}

interface Idle<C> {
  conn: C;
  used: number;
}

/** Idle connections, oldest first, at most `max` (0: any number). */
class IdlePool<C> {
  readonly #idle: Idle<C>[] = [];
  constructor(
    readonly max: number,
    readonly expireMs: number,
    readonly close: (conn: C) => void,
  ) {}

  get size(): number {
    return this.#idle.length;
  }

  /** The oldest connection not yet expired; expired ones are closed. */
  take(now: number): C | undefined {
    for (;;) {
      const idle = this.#idle.shift();
      if (idle === undefined) return undefined;
      if (now - idle.used <= this.expireMs) return idle.conn;
      this.close(idle.conn);
    }
  }

  /** Keeps `conn` for reuse, or closes it when the pool is full. */
  put(conn: C, now: number): void {
    const full = this.max > 0 && this.#idle.length >= this.max;
    if (full || this.expireMs <= 0) this.close(conn);
    else this.#idle.push({ conn, used: now });
  }

  /** Closes the connections idle for longer than `expire`. */
  sweep(now: number): void {
    while (this.#idle.length > 0 && now - this.#idle[0]!.used > this.expireMs) {
      this.close(this.#idle.shift()!.conn);
    }
  }

  clear(): void {
    for (const idle of this.#idle.splice(0)) this.close(idle.conn);
  }
}

export class Upstream {
  /** `127.0.0.1:53`, as CoreDNS labels its metrics (`to`). */
  readonly addr: string;
  readonly expireMs: number;
  readonly readTimeoutMs: number;
  readonly #tls: UpstreamOptions["tls"];
  readonly #udpIdle: IdlePool<UdpConn>;
  readonly #tcpIdle: IdlePool<Deno.Conn>;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  /** Open connections, idle or in use. */
  #openUdp = 0;
  #openTcp = 0;
  #stopped = false;
  /** Called for each dial: whether a cached connection served it. */
  onDial: (proto: string, cached: boolean) => void = () => {};
  /** Called for each datagram or message dropped as no reply to its query. */
  onDrop: (reason: DropReason) => void = () => {};

  constructor(
    readonly host: string,
    readonly port: number,
    options: UpstreamOptions = {},
  ) {
    this.addr = joinHostPort(host, port);
    this.expireMs = options.expireMs ?? 10_000;
    this.readTimeoutMs = options.readTimeoutMs ?? 2000;
    this.#tls = options.tls;
    const max = options.maxIdleConns ?? DEFAULT_MAX_IDLE_CONNS;
    this.#udpIdle = new IdlePool(max, this.expireMs, (c) => this.#closeUdp(c));
    this.#tcpIdle = new IdlePool(max, this.expireMs, (c) => this.#closeTcp(c));
  }

  /** Whether queries go over TLS (and so always over TCP). */
  get tls(): boolean {
    return this.#tls !== undefined;
  }

  /** Open connections by protocol, in use or idle. */
  get open(): { udp: number; tcp: number } {
    return { udp: this.#openUdp, tcp: this.#openTcp };
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
    const exchanged = await this.exchangeWire(
      encodeMessage(query),
      proto,
      readTimeoutMs,
    );
    return { reply: decodeMessage(exchanged.reply), proto: exchanged.proto };
  }

  /** `exchange` for a query on the wire, the reply left on the wire. */
  async exchangeWire(
    query: Uint8Array,
    proto: UpstreamProto,
    readTimeoutMs = this.readTimeoutMs,
  ): Promise<ExchangedWire> {
    if (this.#tls !== undefined) proto = "tcp";
    const end = questionEnd(query);
    if (end === undefined) throw new Error("a query without one question");
    const wire = query.slice();
    const id = randomId();
    wire[0] = id >> 8;
    wire[1] = id & 0xff;
    const reply = proto === "udp"
      ? await this.#udpExchange(wire, end, readTimeoutMs)
      : await this.#tcpExchange(wire, end, readTimeoutMs);
    reply[0] = query[0]!;
    reply[1] = query[1]!;
    return { reply, proto };
  }

  /**
   * Closes the idle connections, and each one in use once its exchange is
   * done (a reload stops the old configuration while its last queries may
   * still wait for their replies); nothing is cached from then on.
   */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    this.#udpIdle.clear();
    this.#tcpIdle.clear();
  }

  /** Gives a connection back for reuse, with the sweeper running. */
  #yield<C>(pool: IdlePool<C>, conn: C): void {
    if (this.#stopped) {
      pool.close(conn);
      return;
    }
    pool.put(conn, performance.now());
    if (this.#sweeper === undefined) {
      // CoreDNS sweeps every 10 s whatever `expire` is; every `expire`
      // keeps an idle connection from living much past it.
      this.#sweeper = setInterval(
        () => this.#sweep(),
        Math.max(this.expireMs, 50),
      );
      Deno.unrefTimer(this.#sweeper);
    }
  }

  #sweep(): void {
    const now = performance.now();
    this.#udpIdle.sweep(now);
    this.#tcpIdle.sweep(now);
    if (this.#udpIdle.size === 0 && this.#tcpIdle.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  /**
   * Whether `bytes` answers `query` (sent with its id, question ending at
   * `end`); a reply that does not is dropped and counted by why.
   */
  #accepts(bytes: Uint8Array, query: Uint8Array, end: number): boolean {
    if (bytes[0] !== query[0] || bytes[1] !== query[1]) {
      this.onDrop("id");
      return false;
    }
    if (!answersQuery(bytes, query, end)) {
      this.onDrop("question");
      return false;
    }
    return true;
  }

  // --- UDP: a connected socket per query in flight.

  #openUdpConn(): UdpConn {
    const conn: UdpConn = {
      socket: undefined as unknown as UpstreamUdp,
      waiting: undefined,
      failed: undefined,
    };
    conn.socket = openUpstreamUdp(this.host, this.port, {
      datagram: (bytes) => {
        const waiting = conn.waiting;
        if (waiting === undefined || bytes.length < 12) {
          this.onDrop("id");
        } else if (this.#accepts(bytes, waiting.query, waiting.end)) {
          waiting.resolve(bytes.slice());
        }
      },
      stray: () => this.onDrop("address"),
      failed: (error) => {
        conn.failed = error;
        conn.waiting?.fail(error);
      },
    });
    this.#openUdp++;
    return conn;
  }

  #closeUdp(conn: UdpConn): void {
    conn.socket.close();
    this.#openUdp--;
  }

  #udpExchange(
    wire: Uint8Array,
    end: number,
    timeoutMs: number,
  ): Promise<Uint8Array> {
    let conn = this.#udpIdle.take(performance.now());
    // An ICMP error may have come to an idle socket: it is closed already.
    while (conn?.failed !== undefined) {
      this.#closeUdp(conn);
      conn = this.#udpIdle.take(performance.now());
    }
    this.onDial("udp", conn !== undefined);
    conn ??= this.#openUdpConn();
    const socket = conn.socket;
    const where = `udp ${this.addr}`;
    return new Promise<Uint8Array>((resolve, reject) => {
      const done = (error: Error | undefined, reply?: Uint8Array) => {
        deadlines.remove(deadline);
        conn.waiting = undefined;
        socket.unref();
        if (error === undefined && conn.failed === undefined) {
          this.#yield(this.#udpIdle, conn);
          resolve(reply!);
        } else {
          this.#closeUdp(conn);
          reject(error ?? conn.failed);
        }
      };
      const deadline = deadlines.add(
        timeoutMs,
        () => done(new Error(`read ${where}: i/o timeout`)),
      );
      conn.waiting = {
        query: wire,
        end,
        resolve: (reply) => done(undefined, reply),
        fail: (error) => done(new Error(`read ${where}: ${error.message}`)),
      };
      socket.ref();
      try {
        socket.send(wire);
      } catch (error) {
        done(new Error(`write ${where}: ${(error as Error).message}`));
      }
    });
  }

  // --- TCP and TLS: cached connections, one query at a time each.

  #closeTcp(conn: Deno.Conn): void {
    closeQuietly(conn);
    this.#openTcp--;
  }

  async #dial(timeoutMs: number): Promise<[Deno.Conn, boolean]> {
    const proto = this.#tls ? "tcp-tls" : "tcp";
    const idle = this.#tcpIdle.take(performance.now());
    if (idle !== undefined) {
      this.onDial(proto, true);
      return [idle, true];
    }
    this.onDial(proto, false);
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
    this.#openTcp++;
    return [conn, false];
  }

  async #tcpExchange(
    wire: Uint8Array,
    end: number,
    timeoutMs: number,
  ): Promise<Uint8Array> {
    const [conn, cached] = await this.#dial(timeoutMs);
    const framed = new Uint8Array(wire.length + 2);
    new DataView(framed.buffer).setUint16(0, wire.length);
    framed.set(wire, 2);
    try {
      await writeAll(conn, framed);
      const reply = await withTimeout(
        (async () => {
          for (;;) {
            const length = new Uint8Array(2);
            await readFull(conn, length);
            const bytes = new Uint8Array(length[0]! << 8 | length[1]!);
            await readFull(conn, bytes);
            if (this.#accepts(bytes, wire, end)) return bytes;
          }
        })(),
        timeoutMs,
        `read tcp ${this.addr}: i/o timeout`,
      );
      this.#yield(this.#tcpIdle, conn);
      return reply;
    } catch (error) {
      this.#closeTcp(conn);
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
