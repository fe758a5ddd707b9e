/**
 * The DNS handler chain, CoreDNS's `plugin.Handler` in Deno terms: a
 * handler answers `serveDNS(w, r)` with `[rcode, error?]`, and a plugin adds
 * a link, `(next) => handler`, so the chain runs in plugin.cfg order.
 *
 * @module
 */

import type { Endpoint } from "./endpoint.ts";
import type { PlainAnswer, PlainQuery } from "./plain.ts";
import {
  className,
  MAX_MSG_SIZE,
  type Message,
  messageLength,
  MIN_MSG_SIZE,
  RCODE,
  typeName,
} from "./wire.ts";

export type { Endpoint } from "./endpoint.ts";

/** What a plugin knows of a query (CoreDNS's `request.Request`). */
export interface DnsRequest {
  /** The decoded query. */
  readonly msg: Message;
  /** Its length on the wire. */
  readonly length: number;
  readonly proto: "udp" | "tcp";
  readonly remote: Endpoint;
  readonly local: Endpoint;
  /** The server's address, `dns://:1053`: CoreDNS's `server` metric label. */
  readonly server?: string;
}

/** Where a handler writes its reply (CoreDNS's `dns.ResponseWriter`). */
export interface ResponseWriter {
  writeMsg(msg: Message): Promise<void>;
}

/** `[rcode, error]`: CoreDNS's `(int, error)`. */
export type HandlerResult = [rcode: number, error?: Error];

export interface Handler {
  /** The plugin's name, for `plugin/NAME: no next plugin found`. */
  readonly name: string;
  serveDNS(w: ResponseWriter, r: DnsRequest): Promise<HandlerResult>;
  /**
   * For a handler that answers every query itself, at once, without the
   * rest of the chain (whoami): its records for a plain query (plain.ts),
   * written without a `Message`, exactly what `serveDNS` would write; or
   * undefined to have `serveDNS` answer. The server asks it only when this
   * handler heads the chain, so plugins in front of it (log, errors,
   * prometheus) keep seeing every query.
   */
  answerPlain?(q: PlainQuery): PlainAnswer | undefined;
  /**
   * For a handler that answers a plain query with a whole message made
   * elsewhere (forward: the upstream's reply), when it heads the chain:
   * the reply on the wire, or an rcode for the server to answer with; or
   * undefined, at once, to have `serveDNS` answer. The server fits the
   * reply to the client (OPT as asked, truncation) as its scrub does.
   */
  serveWire?(q: WireQuery): Promise<Uint8Array | number> | undefined;
}

/** A plain query (plain.ts) on the wire, as `serveWire` takes it. */
export interface WireQuery {
  /** The query as received; the handler's own copy. */
  readonly bytes: Uint8Array;
  /** The question's name, lower-cased (`qname`). */
  readonly name: string;
  readonly proto: "udp" | "tcp";
}

/** What a plugin adds to a block's chain: given the rest, its own handler. */
export type Link = (next: Handler | undefined) => Handler;

/**
 * The plugin whose handler first wrote each reply (a plugin that passes on
 * what the rest of the chain wrote leaves the mark alone; one that writes a
 * message of its own, as *cache* does, marks it): the `plugin` label of
 * `coredns_dns_responses_total`, which CoreDNS finds from its recorder's
 * caller.
 */
export const writtenBy: WeakMap<Message, string> = new WeakMap();

/** Builds a chain from links in execution order; undefined when there is none. */
export function chainLinks(links: readonly Link[]): Handler | undefined {
  let next: Handler | undefined;
  for (let i = links.length - 1; i >= 0; i--) {
    next = attributed(links[i]!(next));
  }
  return next;
}

/** `handler`, with every reply it writes marked as its own in `writtenBy`. */
function attributed(handler: Handler): Handler {
  const name = handler.name;
  const wrapped: Handler = {
    name,
    serveDNS(w, r) {
      return handler.serveDNS({
        writeMsg(m) {
          if (!writtenBy.has(m)) writtenBy.set(m, name);
          return w.writeMsg(m);
        },
      }, r);
    },
  };
  // A plain answer makes no Message to mark (only prometheus reads the
  // marks, and it is in front of the handler when configured).
  if (handler.answerPlain) {
    wrapped.answerPlain = (q) => handler.answerPlain!(q);
  }
  if (handler.serveWire) wrapped.serveWire = (q) => handler.serveWire!(q);
  return wrapped;
}

/** CoreDNS's `plugin.NextOrFailure`. */
export function nextOrFailure(
  name: string,
  next: Handler | undefined,
  w: ResponseWriter,
  r: DnsRequest,
): Promise<HandlerResult> {
  if (next === undefined) {
    return Promise.resolve([
      RCODE.SERVFAIL,
      new Error(`plugin/${name}: no next plugin found`),
    ]);
  }
  return next.serveDNS(w, r);
}

/** CoreDNS's `plugin.ClientWrite`: whether a handler with this rcode wrote the reply itself. */
export function clientWrote(rcode: number): boolean {
  return rcode !== RCODE.SERVFAIL && rcode !== RCODE.REFUSED &&
    rcode !== RCODE.FORMERR && rcode !== RCODE.NOTIMP;
}

/** The lower-cased query name (`request.Name()`), `.` when there is no question. */
export function qname(r: DnsRequest): string {
  return (r.msg.question[0]?.name ?? ".").toLowerCase();
}

/** The query type mnemonic (`request.Type()`), `TYPE65280` when unknown. */
export function qtype(r: DnsRequest): string {
  const q = r.msg.question[0];
  return q === undefined ? "" : typeName(q.type);
}

/** The query class mnemonic (`request.Class()`). */
export function qclass(r: DnsRequest): string {
  const q = r.msg.question[0];
  return q === undefined ? "" : className(q.class);
}

/** The client's buffer (`request.Size()`): 65535 on TCP, else EDNS0's size, at least 512. */
export function bufsize(r: DnsRequest): number {
  if (r.proto === "tcp") return MAX_MSG_SIZE;
  return Math.max(r.msg.edns?.udpSize ?? 0, MIN_MSG_SIZE);
}

/** Whether the client set the DNSSEC OK bit. */
export function dnssecOk(r: DnsRequest): boolean {
  return r.msg.edns?.do ?? false;
}

/** 1 for an IPv4 client, 2 for IPv6 (`request.Family()`). */
export function family(r: DnsRequest): 1 | 2 {
  return r.remote.ip.includes(":") ? 2 : 1;
}

/** A writer that remembers what passed through (CoreDNS's `dnstest.Recorder`). */
export class Recorder implements ResponseWriter {
  /** The last message written; undefined while nothing was. */
  msg: Message | undefined;
  rcode = 0;
  /** Bytes written, as the plugin handed them over (before the scrub). */
  length = 0;
  readonly start = performance.now();

  constructor(readonly inner: ResponseWriter) {}

  writeMsg(msg: Message): Promise<void> {
    this.rcode = msg.rcode;
    this.length += messageLength(msg);
    this.msg = msg;
    return this.inner.writeMsg(msg);
  }
}
