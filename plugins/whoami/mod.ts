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
import { replyTo, type Rr } from "../../lib/dns/wire.ts";
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
  };
}

function setup(c: Controller): void {
  const d = c.dispenser;
  d.next(); // "whoami"
  if (d.nextArg()) throw d.argErr();
  c.use(() => whoamiHandler());
}

export const whoami: Plugin = { name: "whoami", setup };
