/** DNS test clients: a small JS client over UDP and TCP, and `dig` with its CI gate. */

import { toolAvailable } from "../_helpers.ts";
import dgram from "node:dgram";
import {
  decodeMessage,
  type Edns,
  encodeMessage,
  type Message,
  newQuery,
} from "../../lib/dns/wire.ts";

export interface Exchanged {
  reply: Message;
  /** The reply's size on the wire. */
  size: number;
  /** The client's own port, which whoami reports. */
  clientPort: number;
}

/** Sends one query over UDP and waits for the reply (3 s). */
export function udpQuery(
  port: number,
  query: Message,
  host = "127.0.0.1",
): Promise<Exchanged> {
  const socket = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
  return new Promise<Exchanged>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no UDP reply from ${host}:${port}`)),
      3000,
    );
    socket.on("error", reject);
    socket.on("message", (bytes) => {
      clearTimeout(timer);
      try {
        resolve({
          reply: decodeMessage(new Uint8Array(bytes)),
          size: bytes.length,
          clientPort: socket.address().port,
        });
      } catch (error) {
        reject(error);
      }
    });
    socket.bind(0, () => socket.send(encodeMessage(query), port, host));
  }).finally(() => socket.close());
}

/** Sends raw bytes over UDP; resolves with the reply bytes, or undefined after `waitMs`. */
export function udpRaw(
  port: number,
  bytes: Uint8Array,
  waitMs = 500,
): Promise<Uint8Array | undefined> {
  const socket = dgram.createSocket("udp4");
  return new Promise<Uint8Array | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), waitMs);
    socket.on("message", (reply) => {
      clearTimeout(timer);
      resolve(new Uint8Array(reply));
    });
    socket.bind(0, () => socket.send(bytes, port, "127.0.0.1"));
  }).finally(() => socket.close());
}

/** Sends one query over a fresh TCP connection. */
export async function tcpQuery(
  port: number,
  query: Message,
  host = "127.0.0.1",
): Promise<Exchanged> {
  const conn = await Deno.connect({ hostname: host, port });
  try {
    const body = encodeMessage(query);
    const framed = new Uint8Array(body.length + 2);
    new DataView(framed.buffer).setUint16(0, body.length);
    framed.set(body, 2);
    await conn.write(framed);
    const length = new Uint8Array(2);
    await readFull(conn, length);
    const reply = new Uint8Array(length[0]! << 8 | length[1]!);
    await readFull(conn, reply);
    return {
      reply: decodeMessage(reply),
      size: reply.length,
      clientPort: conn.localAddr.port,
    };
  } finally {
    conn.close();
  }
}

async function readFull(conn: Deno.Conn, into: Uint8Array): Promise<void> {
  let got = 0;
  while (got < into.length) {
    const n = await conn.read(into.subarray(got));
    if (n === null) throw new Error("connection closed mid-message");
    got += n;
  }
}

/** Whether `dig` is installed. CI installs it, so there its absence is a failure. */
export function digAvailable(): boolean {
  return toolAvailable("dig", ["-v"], {
    install: "dnsutils",
    purpose: "the dig tests",
  });
}

/** Runs `dig @127.0.0.1 -p PORT ARGS...`; returns stdout. */
export async function dig(port: number, ...args: string[]): Promise<string> {
  const output = await new Deno.Command("dig", {
    args: ["@127.0.0.1", "-p", String(port), "+time=2", "+tries=1", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(output.stdout);
}

/** A query, as a client sends it. */
export function queryMessage(
  name: string,
  type: string,
  { id = 0, edns, recursionDesired = true, klass = "IN" }: {
    id?: number;
    edns?: Edns;
    recursionDesired?: boolean;
    klass?: string;
  } = {},
): Message {
  const m = newQuery({ name, type, class: klass }, { id, recursionDesired });
  if (edns !== undefined) m.edns = edns;
  return m;
}
