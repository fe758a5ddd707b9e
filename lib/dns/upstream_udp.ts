/**
 * One UDP socket to one upstream, used by one query at a time
 * (lib/dns/upstream.ts pools them): a connected libc socket where FFI is
 * allowed (lib/net/libc_udp.ts says why), else an unconnected Deno socket
 * on a fresh random port that drops, in JavaScript, what comes from any
 * other address or port.
 *
 * The fallback cannot hear ICMP errors: a dead upstream costs each query
 * its read timeout there, where the connected socket fails it at once.
 *
 * @module
 */

import dgram from "node:dgram";
import type { Buffer } from "node:buffer";
import { ConnectedUdp, ERRNO, libcUdp, SocketError } from "../net/libc_udp.ts";

/** Where a socket delivers what it hears. */
export interface UdpSink {
  /** A datagram from the upstream; `bytes` is valid only during the call. */
  datagram(bytes: Uint8Array): void;
  /** A datagram from anywhere else (only the fallback sees these). */
  stray(): void;
  /** The socket failed (ECONNREFUSED: the upstream's port is closed); it is closed. */
  failed(error: Error): void;
}

export interface UpstreamUdp {
  /** Sends one datagram; throws when the system refuses it. */
  send(bytes: Uint8Array): void;
  /** While a query waits: keeps the socket heard (the epoll loop running). */
  ref(): void;
  unref(): void;
  close(): void;
}

/** Whether upstream sockets are connected (libc through FFI). */
export function connectedUdp(): boolean {
  return libcUdp() !== undefined;
}

/** Opens a socket to `host:port`. Throws `SocketError` when it cannot connect. */
export function openUpstreamUdp(
  host: string,
  port: number,
  sink: UdpSink,
): UpstreamUdp {
  const libc = libcUdp();
  if (libc !== undefined) {
    return libcSocket(libc.connect.bind(libc), host, port, sink);
  }
  return listenDatagram
    ? denoSocket(listenDatagram, host, port, sink)
    : nodeSocket(host, port, sink);
}

/** Every datagram a libc socket reads lands here, then is copied by whoever keeps it. */
const scratch = new Uint8Array(65535);

function libcSocket(
  connect: (
    host: string,
    port: number,
    readable: (error: boolean) => void,
  ) => ConnectedUdp,
  host: string,
  port: number,
  sink: UdpSink,
): UpstreamUdp {
  let closed = false;
  const socket: ConnectedUdp = connect(host, port, () => {
    while (!closed) {
      const n = socket.recv(scratch);
      if (n >= 0) {
        sink.datagram(scratch.subarray(0, n));
        continue;
      }
      if (n === -ERRNO.EAGAIN || n === -ERRNO.EINTR) return;
      closed = true;
      socket.close();
      sink.failed(new SocketError("read", -n));
      return;
    }
  });
  return {
    send(bytes) {
      socket.send(bytes);
    },
    ref: () => socket.ref(),
    unref: () => socket.unref(),
    close() {
      closed = true;
      socket.close();
    },
  };
}

/** `Deno.listenDatagram`, present only with `--unstable-net`. */
const listenDatagram = (Deno as {
  listenDatagram?: (
    options: Deno.UdpListenOptions & { transport: "udp" },
  ) => Deno.DatagramConn;
}).listenDatagram;

/** Whether a datagram's source is the upstream (Deno spells IPv6 without brackets). */
function fromUpstream(
  hostname: string,
  fromPort: number,
  host: string,
  port: number,
): boolean {
  return fromPort === port &&
    (hostname === host || hostname.replace(/^::ffff:/i, "") === host);
}

function denoSocket(
  listen: NonNullable<typeof listenDatagram>,
  host: string,
  port: number,
  sink: UdpSink,
): UpstreamUdp {
  const v6 = host.includes(":");
  const conn = listen({
    hostname: v6 ? "::" : "0.0.0.0",
    port: 0,
    transport: "udp",
  });
  const to: Deno.NetAddr = { transport: "udp", hostname: host, port };
  // Its own buffer: a receive writes into it whenever a datagram comes.
  const buffer = new Uint8Array(65535);
  let closed = false;
  void (async () => {
    while (!closed) {
      let from: Deno.NetAddr;
      let bytes: Uint8Array;
      try {
        const [view, addr] = await conn.receive(buffer);
        bytes = view;
        from = addr as Deno.NetAddr;
      } catch {
        if (closed) return;
        continue; // a failed read: the datagram is lost
      }
      if (fromUpstream(from.hostname, from.port, host, port)) {
        sink.datagram(bytes);
      } else sink.stray();
    }
  })();
  return unconnected(
    (bytes) => {
      conn.send(bytes, to).catch(ignore); // a lost datagram: the query times out
    },
    () => {
      closed = true;
      conn.close();
    },
  );
}

function ignore(): void {}

function nodeSocket(host: string, port: number, sink: UdpSink): UpstreamUdp {
  const socket = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
  socket.on("message", (bytes: Buffer, rinfo: dgram.RemoteInfo) => {
    if (fromUpstream(rinfo.address, rinfo.port, host, port)) {
      sink.datagram(
        new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      );
    } else sink.stray();
  });
  socket.on("error", () => {}); // a lost datagram: the query times out
  socket.bind(0);
  return unconnected(
    (bytes) => socket.send(bytes, port, host),
    () => socket.close(),
  );
}

/**
 * An unconnected socket as an `UpstreamUdp`: its receive loop keeps it
 * heard (nothing to ref), and it closes once.
 */
function unconnected(
  send: (bytes: Uint8Array) => void,
  close: () => void,
): UpstreamUdp {
  let closed = false;
  return {
    send,
    ref() {},
    unref() {},
    close() {
      if (closed) return;
      closed = true;
      try {
        close();
      } catch { /* already closed */ }
    },
  };
}
