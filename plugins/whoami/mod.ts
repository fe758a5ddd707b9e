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

/** CLASS IN, TTL 0, then the data length: every whoami record's fixed fields. */
function fixed(
  records: Uint8Array,
  at: number,
  type: number,
  rdlength: number,
) {
  records[at + 1] = type;
  records[at + 3] = 1; // IN
  records[at + 9] = rdlength;
}

/**
 * `serveDNS`'s reply to a plain query, as records: the A or AAAA record
 * owned by the query name, then `_udp.NAME`/`_tcp.NAME` SRV 0 0 PORT `.`.
 */
function answerPlain(q: PlainQuery): PlainAnswer {
  const name = q.bytes.subarray(12, q.nameEnd);
  const address = addressOf(q.remote.ip);
  const addressEnd = name.length + 10 + address.length;
  const records = new Uint8Array(addressEnd + 5 + name.length + 10 + 7);
  records.set(name, 0);
  fixed(records, name.length, address.length === 4 ? 1 : 28, address.length);
  records.set(address, name.length + 10);
  // The SRV owner: the label _udp or _tcp, then the query name.
  records[addressEnd] = 4;
  records[addressEnd + 1] = 0x5f; // _
  records.set(q.proto === "udp" ? UDP : TCP, addressEnd + 2);
  records.set(name, addressEnd + 5);
  const srv = addressEnd + 5 + name.length;
  fixed(records, srv, 33, 7);
  records[srv + 14] = q.remote.port >> 8;
  records[srv + 15] = q.remote.port & 0xff;
  // priority 0, weight 0, then the target: the root.
  return { authoritative: true, records, ancount: 0, nscount: 0, arcount: 2 };
}

const UDP = new TextEncoder().encode("udp");
const TCP = new TextEncoder().encode("tcp");

function setup(c: Controller): void {
  const d = c.dispenser;
  d.next(); // "whoami"
  if (d.nextArg()) throw d.argErr();
  c.use(() => whoamiHandler());
}

export const whoami: Plugin = { name: "whoami", setup };
