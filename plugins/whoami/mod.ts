/**
 * *whoami*: answers every query with the client's address and port, in the
 * additional section as CoreDNS does: an A (IPv4 client) or AAAA record
 * owned by the query name, and an SRV record `_udp.NAME`/`_tcp.NAME` whose
 * port is the client's. No arguments; a second `whoami` line is ignored.
 */

import {
  type DnsRequest,
  family,
  type Handler,
  type HandlerResult,
  type ResponseWriter,
} from "../../lib/dns/handler.ts";
import type { PlainAnswer, PlainQuery } from "../../lib/dns/plain.ts";
import { replyTo, type Rr } from "../../lib/dns/wire.ts";
import * as ip from "npm:@leichtgewicht/ip-codec@2.0.5";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";

/** The whoami handler; it never calls the rest of the chain. */
export function whoamiHandler(): Handler {
  return {
    name: "whoami",
    async serveDNS(w: ResponseWriter, r: DnsRequest): Promise<HandlerResult> {
      const reply = replyTo(r.msg);
      reply.authoritative = true;
      const question = r.msg.question[0]!;
      const name = question.name;
      const klass = question.class;
      const address: Rr = family(r) === 1
        ? { type: "A", name, class: klass, ttl: 0, data: r.remote.ip }
        : { type: "AAAA", name, class: klass, ttl: 0, data: r.remote.ip };
      const srv: Rr = {
        type: "SRV",
        name: name === "." ? `_${r.proto}.` : `_${r.proto}.${name}`,
        class: klass,
        ttl: 0,
        data: { priority: 0, weight: 0, port: r.remote.port, target: "." },
      };
      reply.extra = [address, srv];
      await w.writeMsg(reply);
      return [0];
    },
    answerPlain,
  };
}

/** The last client address encoded (dnsperf and most clients ask from one). */
let lastIp = "";
let lastAddress = new Uint8Array(4);

/** The client's address as A or AAAA data, encoded as the general path's encoder does. */
function addressOf(remote: string): Uint8Array {
  if (remote !== lastIp) {
    lastAddress = remote.includes(":")
      ? ip.v6.encode(remote, new Uint8Array(16))
      : ip.v4.encode(remote, new Uint8Array(4));
    lastIp = remote;
  }
  return lastAddress;
}

/** The question's name, which starts at offset 12, as a compression pointer. */
const POINTER_TO_QUESTION = [0xc0, 12];
const ROOT = [0];

/** The SRV owner's first label, `_udp` or `_tcp`, with its length. */
const SRV_LABEL = {
  udp: [4, 0x5f, 0x75, 0x64, 0x70],
  tcp: [4, 0x5f, 0x74, 0x63, 0x70],
};

/**
 * `serveDNS`'s reply to a plain query, as records: the A or AAAA record
 * owned by the query name, then `_udp.NAME`/`_tcp.NAME` SRV 0 0 PORT `.`;
 * the name compressed as the encoder does (a pointer to the question's,
 * unless it is the root).
 */
function answerPlain(q: PlainQuery): PlainAnswer {
  const out = q.out;
  const address = addressOf(q.remote.ip);
  const name = q.nameEnd === 13 ? ROOT : POINTER_TO_QUESTION;
  let at = put(out, q.nameEnd + 4, name);
  at = record(out, at, address.length === 4 ? 1 : 28, address);
  at = put(out, at, SRV_LABEL[q.proto]);
  at = put(out, at, name);
  const port = q.remote.port;
  // priority 0, weight 0, the port, the target: the root.
  at = record(out, at, 33, [0, 0, 0, 0, port >> 8, port & 0xff, 0]);
  return { authoritative: true, end: at, ancount: 0, nscount: 0, arcount: 2 };
}

/** A record's fields after its owner: TYPE, CLASS IN, TTL 0, the data; returns its end. */
function record(
  out: Uint8Array,
  at: number,
  type: number,
  data: ArrayLike<number>,
): number {
  return put(
    out,
    put(out, at, [0, type, 0, 1, 0, 0, 0, 0, 0, data.length]),
    data,
  );
}

/** Writes `data` into `out` at `at`; returns its end. */
function put(out: Uint8Array, at: number, data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) out[at + i] = data[i]!;
  return at + data.length;
}

function setup(c: Controller): void {
  const d = c.dispenser;
  d.next(); // "whoami"
  if (d.nextArg()) throw d.argErr();
  c.use(() => whoamiHandler());
}

export const whoami: Plugin = { name: "whoami", setup };
