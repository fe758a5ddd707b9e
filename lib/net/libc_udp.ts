/**
 * UDP sockets through libc (Deno's FFI) on Linux: connected client sockets
 * for upstream queries, and server sockets that read and answer queries in
 * batches (recvmmsg/sendmmsg), all waited on by one epoll loop whose
 * `epoll_wait` runs on a thread of Deno's blocking pool.
 *
 * Why, measured with Deno 2.9.6:
 * - Neither of Deno's UDP APIs can connect a socket. `Deno.listenDatagram`
 *   has no `connect()`; `node:dgram`'s `connect()` only remembers the peer in
 *   JavaScript (strace: no connect(2), every send a sendto with the
 *   address). An unconnected socket never hears the ICMP "port unreachable"
 *   of a dead upstream, so each query to it waited for the read timeout; a
 *   connected one gets ECONNREFUSED on its next recv, and the kernel drops
 *   datagrams from any other address or port before they reach us.
 * - Per query, under dnsperf (one client, 64 in flight), an echo through
 *   epoll + recvmmsg/sendmmsg cost 5.5–6.1 µs of CPU, unbound answering
 *   from its cache 5.0–5.2 µs, the same echo on `Deno.listenDatagram` 9.3–9.6
 *   µs: its send op was most of coredeno's cost per cache hit.
 *
 * The price is `--allow-ffi`, which takes the process out of Deno's
 * sandbox. Without it (or off Linux) `libcUdp()` is undefined and callers
 * use Deno's sockets.
 *
 * @module
 */

import * as ip from "npm:@leichtgewicht/ip-codec@2.0.5";

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_DGRAM = 2;
/** O_NONBLOCK and O_CLOEXEC: SOCK_NONBLOCK, EFD_NONBLOCK and the CLOEXEC flags are these. */
const NONBLOCK = 0o4000;
const CLOEXEC = 0o2000000;
const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLLIN = 0x1;
const EPOLLERR = 0x8;
const MSG_DONTWAIT = 0x40;
const MSG_TRUNC = 0x20;

/** errno values (Linux, the same on x86_64 and arm64). */
export const ERRNO = {
  EINTR: 4,
  EAGAIN: 11,
  EACCES: 13,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETUNREACH: 101,
  ECONNREFUSED: 111,
  EHOSTUNREACH: 113,
} as const;

/** Go's words for the errors a UDP exchange meets (`syscall.Errno.Error()`). */
const ERRNO_TEXT: Record<number, string> = {
  [ERRNO.EACCES]: "permission denied",
  [ERRNO.EADDRINUSE]: "address already in use",
  [ERRNO.EADDRNOTAVAIL]: "cannot assign requested address",
  [ERRNO.ENETUNREACH]: "network is unreachable",
  [ERRNO.ECONNREFUSED]: "connection refused",
  [ERRNO.EHOSTUNREACH]: "no route to host",
};

/** Node's error codes, which lib/net/listen_error.ts reads. */
const ERRNO_CODE: Record<number, string> = {
  [ERRNO.EACCES]: "EACCES",
  [ERRNO.EADDRINUSE]: "EADDRINUSE",
  [ERRNO.EADDRNOTAVAIL]: "EADDRNOTAVAIL",
  [ERRNO.ECONNREFUSED]: "ECONNREFUSED",
};

/** An errno as an Error, worded as Go words it: `connect: connection refused`. */
export class SocketError extends Error {
  readonly code: string | undefined;
  constructor(readonly op: string, readonly errno: number) {
    super(`${op}: ${ERRNO_TEXT[errno] ?? `errno ${errno}`}`);
    this.name = "SocketError";
    this.code = ERRNO_CODE[errno];
  }
}

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  setsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "u32"],
    result: "i32",
  },
  close: { parameters: ["i32"], result: "i32" },
  // ssize_t results are read as i32: DNS messages are far below 2 GiB, and
  // a number costs less than the BigInt an isize result would be.
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "i32" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "i32" },
  sendto: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
    result: "i32",
  },
  recvmmsg: {
    parameters: ["i32", "buffer", "u32", "i32", "pointer"],
    result: "i32",
  },
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  epoll_wait: {
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** `struct epoll_event` is packed on x86_64 (12 bytes), aligned elsewhere (16). */
const EVENT_SIZE = Deno.build.arch === "x86_64" ? 12 : 16;
const EVENT_DATA = Deno.build.arch === "x86_64" ? 4 : 8;
const MAX_EVENTS = 64;

/** What the loop calls when a registered socket is readable (or has an error). */
export type Readable = (error: boolean) => void;

/**
 * The epoll loop: `epoll_wait` runs on a blocking-pool thread while
 * anything holds a reference (a server socket, a query in flight), and
 * returns to this thread with the ready sockets; an eventfd wakes it when
 * the last reference goes, so no call is left pending (Deno's test
 * sanitizer, and a process that should exit, would wait on it).
 */
class Poller {
  readonly #epoll: number;
  readonly #wake: number;
  readonly #events = new Uint8Array(EVENT_SIZE * MAX_EVENTS);
  readonly #eventView = new DataView(this.#events.buffer);
  readonly #handlers = new Map<number, Readable>();
  readonly #one = new BigUint64Array([1n]);
  readonly #drain = new Uint8Array(8);
  #refs = 0;
  #running: Promise<void> | undefined;

  constructor(readonly libc: Libc, readonly errno: () => number) {
    this.#epoll = libc.epoll_create1(CLOEXEC);
    this.#wake = libc.eventfd(0, NONBLOCK | CLOEXEC);
    if (this.#epoll < 0 || this.#wake < 0) {
      throw new SocketError("epoll_create1", errno());
    }
    this.#control(EPOLL_CTL_ADD, this.#wake);
  }

  #control(op: number, fd: number): void {
    const event = new Uint8Array(EVENT_SIZE);
    const view = new DataView(event.buffer);
    view.setUint32(0, EPOLLIN, true);
    view.setUint32(EVENT_DATA, fd, true);
    if (this.libc.epoll_ctl(this.#epoll, op, fd, event) !== 0) {
      throw new SocketError("epoll_ctl", this.errno());
    }
  }

  add(fd: number, readable: Readable): void {
    this.#control(EPOLL_CTL_ADD, fd);
    this.#handlers.set(fd, readable);
  }

  /** Stops watching `fd` (before it is closed). */
  remove(fd: number): void {
    if (!this.#handlers.delete(fd)) return;
    try {
      this.#control(EPOLL_CTL_DEL, fd);
    } catch {
      // closed already: epoll forgot it then
    }
  }

  /** Keeps the loop waiting until the matching `unref`. */
  ref(): void {
    this.#refs++;
    this.#running ??= this.#run();
  }

  unref(): void {
    if (--this.#refs === 0 && this.#running !== undefined) {
      this.libc.write(this.#wake, new Uint8Array(this.#one.buffer), 8n);
    }
  }

  /** Resolves once the loop has stopped (nothing holds it). */
  async idle(): Promise<void> {
    while (this.#running !== undefined && this.#refs === 0) {
      await this.#running;
    }
  }

  async #run(): Promise<void> {
    try {
      while (this.#refs > 0) {
        const n = await this.libc.epoll_wait(
          this.#epoll,
          this.#events,
          MAX_EVENTS,
          -1,
        );
        // A signal for the process may land on the pool thread (EINTR);
        // its errno is that thread's, out of reach here. Wait again.
        if (n < 0) continue;
        for (let i = 0; i < n; i++) {
          const at = i * EVENT_SIZE;
          const flags = this.#eventView.getUint32(at, true);
          const fd = this.#eventView.getUint32(at + EVENT_DATA, true);
          if (fd === this.#wake) {
            this.libc.read(this.#wake, this.#drain, 8n);
            continue;
          }
          const readable = this.#handlers.get(fd);
          if (readable === undefined) continue;
          try {
            readable((flags & EPOLLERR) !== 0);
          } catch {
            // a handler's bug must not stop every other socket's loop
          }
        }
      }
    } finally {
      this.#running = undefined;
    }
  }
}

/** A socket address: its bytes for libc, and its text form. */
export interface SockAddr {
  bytes: Uint8Array;
  family: typeof AF_INET | typeof AF_INET6;
}

/** `sockaddr_in` or `sockaddr_in6` for an IP address (v6 when it has a `:`). */
export function sockaddr(host: string, port: number): SockAddr {
  if (host.includes(":")) {
    const bytes = new Uint8Array(28);
    new DataView(bytes.buffer).setUint16(0, AF_INET6, true);
    new DataView(bytes.buffer).setUint16(2, port);
    ip.v6.encode(host.replace(/^\[|\]$/g, ""), bytes, 8);
    return { bytes, family: AF_INET6 };
  }
  const bytes = new Uint8Array(16);
  new DataView(bytes.buffer).setUint16(0, AF_INET, true);
  new DataView(bytes.buffer).setUint16(2, port);
  ip.v4.encode(host, bytes, 4);
  return { bytes, family: AF_INET };
}

/** The port of a socket address. */
export function sockaddrPort(bytes: Uint8Array, at = 0): number {
  return bytes[at + 2]! << 8 | bytes[at + 3]!;
}

/** The last addresses decoded: most traffic comes from a few clients. */
const v4Names = new Map<number, string>();

/**
 * The IP address of a socket address as Go prints it: `127.0.0.1`, `::1`;
 * an IPv4 client of a dual-stack socket (`::ffff:a.b.c.d`) unmapped.
 */
export function sockaddrIp(bytes: Uint8Array, at = 0): string {
  const family = bytes[at]! | bytes[at + 1]! << 8;
  let v4At = at + 4;
  if (family === AF_INET6) {
    const mapped = bytes[at + 18] === 0xff && bytes[at + 19] === 0xff &&
      bytes.subarray(at + 8, at + 18).every((b) => b === 0);
    if (!mapped) return ip.v6.decode(bytes, at + 8);
    v4At = at + 20;
  }
  const key = (bytes[v4At]! << 24 | bytes[v4At + 1]! << 16 |
    bytes[v4At + 2]! << 8 | bytes[v4At + 3]!) >>> 0;
  let name = v4Names.get(key);
  if (name === undefined) {
    if (v4Names.size > 1024) v4Names.clear();
    name = `${bytes[v4At]}.${bytes[v4At + 1]}.${bytes[v4At + 2]}.${
      bytes[v4At + 3]
    }`;
    v4Names.set(key, name);
  }
  return name;
}

/** libc's sockets, or undefined where they cannot be had. */
export interface LibcUdp {
  /** A UDP socket connected to `host:port`, from a port the kernel picks at random. */
  connect(host: string, port: number, readable: Readable): ConnectedUdp;
  /** A UDP socket bound to `host:port` (`::` or `""`: every address, both families). */
  bind(host: string, port: number): BoundUdp;
  /** Resolves once no socket or query holds the epoll loop. */
  idle(): Promise<void>;
}

let loaded: LibcUdp | undefined | null = null;

/** libc's sockets: on Linux with `--allow-ffi` granted; else undefined. */
export function libcUdp(): LibcUdp | undefined {
  if (loaded !== null) return loaded;
  loaded = undefined;
  if (Deno.build.os !== "linux") return loaded;
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return loaded;
  }
  let libc: Libc;
  try {
    libc = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  } catch {
    return loaded; // musl, or no libc.so.6: Deno's sockets then
  }
  const errnoView = new Deno.UnsafePointerView(libc.__errno_location()!);
  const errno = () => errnoView.getInt32();
  const poller = new Poller(libc, errno);
  loaded = {
    connect: (host, port, readable) =>
      new ConnectedUdp(libc, errno, poller, host, port, readable),
    bind: (host, port) => new BoundUdp(libc, errno, poller, host, port),
    idle: () => poller.idle(),
  };
  return loaded;
}

function openSocket(libc: Libc, errno: () => number, family: number): number {
  const fd = libc.socket(family, SOCK_DGRAM | NONBLOCK | CLOEXEC, 0);
  if (fd < 0) throw new SocketError("socket", errno());
  return fd;
}

function setIntOption(
  libc: Libc,
  fd: number,
  level: number,
  option: number,
  value: number,
): void {
  libc.setsockopt(
    fd,
    level,
    option,
    new Uint8Array(new Int32Array([value]).buffer),
    4,
  );
}

/**
 * A UDP socket connected to one peer. Readable once registered: the loop
 * calls `readable` while it has queries in flight (`ref`/`unref`); the
 * owner then drains it with `recv`.
 */
export class ConnectedUdp {
  readonly fd: number;
  #closed = false;

  constructor(
    readonly libc: Libc,
    readonly errno: () => number,
    readonly poller: Poller,
    host: string,
    port: number,
    readable: Readable,
  ) {
    const peer = sockaddr(host, port);
    this.fd = openSocket(libc, errno, peer.family);
    if (libc.connect(this.fd, peer.bytes, peer.bytes.length) !== 0) {
      const error = new SocketError("connect", errno());
      libc.close(this.fd);
      throw error;
    }
    poller.add(this.fd, readable);
  }

  /** Sends one datagram; throws `SocketError` (ECONNREFUSED after an ICMP error). */
  send(bytes: Uint8Array): void {
    if (this.libc.send(this.fd, bytes, BigInt(bytes.length), 0) < 0) {
      throw new SocketError("write", this.errno());
    }
  }

  /** The next datagram's length in `into`, or -errno (-EAGAIN: none waiting). */
  recv(into: Uint8Array): number {
    const n = this.libc.recv(this.fd, into, BigInt(into.length), MSG_DONTWAIT);
    return n >= 0 ? n : -this.errno();
  }

  ref(): void {
    this.poller.ref();
  }

  unref(): void {
    this.poller.unref();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.poller.remove(this.fd);
    this.libc.close(this.fd);
  }
}

/** Datagrams read (and replies sent) per system call. */
const BATCH = 64;
/** A query's room: larger ones (DNS queries never are) are dropped, as truncated. */
const SLOT = 4096;
/** `struct mmsghdr`: a `struct msghdr` (56 bytes) and `msg_len`, padded. */
const MMSGHDR = 64;
const SOCKADDR = 28;

/** One datagram, as `BoundUdp.serve` hands it over. */
export interface Datagram {
  /** The bytes: valid only during the call (the next batch is read into them). */
  bytes: Uint8Array;
  ip: string;
  port: number;
  /** The sender's address, for `sendTo` after the call returns (copy it first). */
  address: Uint8Array;
}

/**
 * A bound UDP socket that reads datagrams in batches and sends the replies
 * given at once in one system call.
 */
export class BoundUdp {
  readonly fd: number;
  #closed = false;
  #serving = false;
  readonly #recvSlots = new Uint8Array(BATCH * SLOT);
  readonly #recvAddrs = new Uint8Array(BATCH * SOCKADDR);
  readonly #recvHeaders = new Uint8Array(BATCH * MMSGHDR);
  readonly #recvView = new DataView(this.#recvHeaders.buffer);
  readonly #sendSlots = new Uint8Array(BATCH * SLOT);
  readonly #sendAddrs = new Uint8Array(BATCH * SOCKADDR);
  readonly #sendHeaders = new Uint8Array(BATCH * MMSGHDR);
  readonly #sendView = new DataView(this.#sendHeaders.buffer);
  readonly #iovecs = new Uint8Array(2 * BATCH * 16);
  readonly #iovecView = new DataView(this.#iovecs.buffer);

  constructor(
    readonly libc: Libc,
    readonly errno: () => number,
    readonly poller: Poller,
    host: string,
    port: number,
  ) {
    const any = host === "" || host === "::";
    const address = sockaddr(any ? "::" : host, port);
    this.fd = openSocket(libc, errno, address.family);
    try {
      if (address.family === AF_INET6) {
        // `::` takes IPv4 clients too (Go's and Deno's default).
        setIntOption(libc, this.fd, IPPROTO_IPV6, IPV6_V6ONLY, any ? 0 : 1);
      }
      if (libc.bind(this.fd, address.bytes, address.bytes.length) !== 0) {
        throw new SocketError("bind", errno());
      }
    } catch (error) {
      libc.close(this.fd);
      throw error;
    }
    this.#layOut(
      this.#recvView,
      this.#recvSlots,
      this.#recvAddrs,
      0,
    );
    this.#layOut(this.#sendView, this.#sendSlots, this.#sendAddrs, BATCH);
  }

  /** Points each header at its address, its iovec and the iovec at its slot. */
  #layOut(
    headers: DataView,
    slots: Uint8Array,
    addresses: Uint8Array,
    firstIovec: number,
  ): void {
    const slotBase = pointer(slots);
    const addressBase = pointer(addresses);
    const iovecBase = pointer(this.#iovecs);
    for (let i = 0; i < BATCH; i++) {
      const iovec = (firstIovec + i) * 16;
      this.#iovecView.setBigUint64(
        iovec,
        slotBase + BigInt(i * SLOT),
        true,
      );
      this.#iovecView.setBigUint64(iovec + 8, BigInt(SLOT), true);
      const h = i * MMSGHDR;
      headers.setBigUint64(h, addressBase + BigInt(i * SOCKADDR), true);
      headers.setUint32(h + 8, SOCKADDR, true);
      headers.setBigUint64(h + 16, iovecBase + BigInt(iovec), true);
      headers.setBigUint64(h + 24, 1n, true);
    }
  }

  /**
   * Hands each datagram to `receive`; a reply it returns is sent with the
   * rest of its batch (it is copied: the caller may reuse it at once).
   */
  serve(receive: (d: Datagram) => Uint8Array | undefined): void {
    this.poller.add(this.fd, () => this.#read(receive));
    this.poller.ref();
    this.#serving = true;
  }

  #read(receive: (d: Datagram) => Uint8Array | undefined): void {
    // A few batches, then back to the loop: other sockets' replies wait too.
    for (let round = 0; round < 4 && !this.#closed; round++) {
      for (let i = 0; i < BATCH; i++) {
        this.#recvView.setUint32(i * MMSGHDR + 8, SOCKADDR, true);
      }
      const n = this.libc.recvmmsg(
        this.fd,
        this.#recvHeaders,
        BATCH,
        MSG_DONTWAIT,
        null,
      );
      if (n <= 0) return;
      let replies = 0;
      for (let i = 0; i < n; i++) {
        const h = i * MMSGHDR;
        if ((this.#recvView.getUint32(h + 48, true) & MSG_TRUNC) !== 0) {
          continue;
        }
        const length = this.#recvView.getUint32(h + 56, true);
        const address = this.#recvAddrs.subarray(
          i * SOCKADDR,
          (i + 1) * SOCKADDR,
        );
        let reply: Uint8Array | undefined;
        try {
          reply = receive({
            bytes: this.#recvSlots.subarray(i * SLOT, i * SLOT + length),
            ip: sockaddrIp(address),
            port: sockaddrPort(address),
            address,
          });
        } catch {
          continue; // the handler failed this one: the client retries
        }
        if (reply === undefined) continue;
        if (reply.length > SLOT) {
          this.sendTo(reply, address);
          continue;
        }
        this.#sendSlots.set(reply, replies * SLOT);
        this.#sendAddrs.set(address, replies * SOCKADDR);
        this.#sendView.setUint32(
          replies * MMSGHDR + 8,
          this.#recvView.getUint32(h + 8, true),
          true,
        );
        this.#iovecView.setUint32(
          (BATCH + replies) * 16 + 8,
          reply.length,
          true,
        );
        replies++;
      }
      this.#flush(replies);
      if (n < BATCH) return;
    }
  }

  /** Sends the first `count` prepared replies; one that fails is skipped. */
  #flush(count: number): void {
    let sent = 0;
    while (sent < count) {
      const n = this.libc.sendmmsg(
        this.fd,
        sent === 0
          ? this.#sendHeaders
          : this.#sendHeaders.subarray(sent * MMSGHDR),
        count - sent,
        MSG_DONTWAIT,
      );
      // A failed first message (the client's buffer is full, it is gone):
      // skip it, the client retries.
      sent += n > 0 ? n : 1;
    }
  }

  /** Sends one datagram to `address` (a socket address as `serve` gave it). */
  sendTo(bytes: Uint8Array, address: Uint8Array): void {
    if (this.#closed) return;
    const length = (address[0]! | address[1]! << 8) === AF_INET6 ? 28 : 16;
    this.libc.sendto(
      this.fd,
      bytes,
      BigInt(bytes.length),
      MSG_DONTWAIT,
      address,
      length,
    );
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.poller.remove(this.fd);
    this.libc.close(this.fd);
    if (this.#serving) this.poller.unref();
  }
}

/** The address of a typed array's first byte. */
function pointer(bytes: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
}
