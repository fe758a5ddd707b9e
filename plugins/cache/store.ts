/**
 * What the cache stores and how it reads an answer: CoreDNS's response
 * types (`response.Typify`), the minimal TTL rules of RFC 2308, TTLs counting
 * down, and a capacity-bounded store that evicts its oldest entry.
 */

import {
  encodeMessage,
  type Message,
  newQuery,
  OPCODE,
  RCODE,
  type Rr,
} from "../../lib/dns/wire.ts";
import { MIN_TTL } from "./setup.ts";

// --- Response types (CoreDNS's `response.Typify`).

export type ResponseType =
  | "NoError"
  | "NameError"
  | "NoData"
  | "Delegation"
  | "ServerError"
  | "OtherError"
  | "Meta";

export function hasSoa(m: Message): boolean {
  return m.ns.some((rr) => rr.type === "SOA");
}

/** Whether the answer section holds the asked type at the name (following CNAMEs). */
export function answersQuestion(m: Message): boolean {
  const q = m.question[0];
  if (m.rcode !== RCODE.NOERROR || q === undefined || m.answer.length === 0) {
    return false;
  }
  if (q.type === "ANY") return true;
  let name = q.name.toLowerCase();
  const seen = new Set<string>();
  for (;;) {
    if (q.type === "CNAME") {
      return m.answer.some((rr) =>
        rr.type === "CNAME" && rr.name.toLowerCase() === name
      );
    }
    if (
      m.answer.some((rr) =>
        rr.type === q.type && rr.name.toLowerCase() === name
      )
    ) return true;
    const cname = m.answer.find((rr) =>
      rr.type === "CNAME" && rr.name.toLowerCase() === name
    );
    if (cname === undefined || seen.has(name)) return false;
    seen.add(name);
    name = String(cname.data).toLowerCase().replace(/\.?$/, ".");
  }
}

export function typify(m: Message): ResponseType {
  if (m.opcode === OPCODE.UPDATE || m.opcode === OPCODE.NOTIFY) return "Meta";
  const type = m.question[0]?.type;
  if (type === "AXFR" || type === "IXFR") return "Meta";
  const soa = hasSoa(m);
  if (m.rcode === RCODE.NOERROR) {
    if (m.answer.length > 0) {
      return soa && !answersQuestion(m) ? "NoData" : "NoError";
    }
    if (soa) return "NoData";
    if (m.ns.some((rr) => rr.type === "NS")) return "Delegation";
    return "NoError";
  }
  if (m.rcode === RCODE.NXDOMAIN) return "NameError";
  if (m.rcode === RCODE.SERVFAIL || m.rcode === RCODE.NOTIMP) {
    return "ServerError";
  }
  return "OtherError";
}

/** The TTL a reply may be cached for (CoreDNS's `MinimalTTL`; RFC 2308's SOA MINIMUM for denials). */
export function minimalTtl(
  m: Message,
  type: ResponseType,
  max: number,
): number {
  if (type !== "NoError" && type !== "NameError" && type !== "NoData") {
    return MIN_TTL;
  }
  if (m.answer.length + m.ns.length + m.extra.length === 0) return MIN_TTL;
  let ttl = max;
  for (const rr of [...m.answer, ...m.ns, ...m.extra]) {
    ttl = Math.min(ttl, rr.ttl ?? 0);
    if (type !== "NoError" && rr.type === "SOA") {
      const minimum = (rr.data as { minimum?: number }).minimum;
      if (typeof minimum === "number") ttl = Math.min(ttl, minimum);
    }
  }
  return ttl;
}

// --- Entries.

export interface Item {
  /** The question as first asked: a guard against any key mix-up. */
  name: string;
  type: string;
  klass: string;
  rcode: number;
  authenticatedData: boolean;
  recursionAvailable: boolean;
  answer: Rr[];
  ns: Rr[];
  extra: Rr[];
  origTtl: number;
  /** performance.now() at storing. */
  stored: number;
  hits: number;
  windowStart: number;
  refreshing: boolean;
  /** Its records on the wire, for plain hits: made at the first. */
  plain?: PlainRecords;
}

/** An entry's records as a plain hit writes them, after the question. */
export interface PlainRecords {
  /** The DO bit they were made for (RRSIG, NSEC and NSEC3 only with it). */
  doBit: boolean;
  /** Encoded after the entry's question at offset 12: its pointers hold for any case of the name. */
  bytes: Uint8Array;
  /** Where each record's TTL is in `bytes`. */
  ttls: number[];
  ancount: number;
  nscount: number;
  arcount: number;
}

/**
 * `item`'s records on the wire, as the general path would encode them for
 * a query with `doBit`: encoded once per entry (and DO bit).
 */
export function plainRecords(item: Item, doBit: boolean): PlainRecords {
  if (item.plain?.doBit === doBit) return item.plain;
  const m = newQuery({ name: item.name, type: item.type, class: item.klass });
  m.response = true;
  m.answer = withTtl(item.answer, 0, doBit);
  m.ns = withTtl(item.ns, 0, doBit);
  m.extra = withTtl(item.extra, 0, doBit);
  const wire = encodeMessage(m);
  let start = 12;
  while (wire[start] !== 0) start += 1 + wire[start]!;
  start += 5; // the root label, type and class
  const bytes = wire.slice(start);
  const ttls: number[] = [];
  for (let at = 0; at < bytes.length;) {
    while (bytes[at] !== 0 && bytes[at]! < 0xc0) at += 1 + bytes[at]!;
    at += bytes[at] === 0 ? 1 : 2; // the root, or a pointer
    ttls.push(at + 4);
    at += 10 + (bytes[at + 8]! << 8 | bytes[at + 9]!);
  }
  item.plain = {
    doBit,
    bytes,
    ttls,
    ancount: m.answer.length,
    nscount: m.ns.length,
    arcount: m.extra.length,
  };
  return item.plain;
}

/** Seconds left, negative once expired. */
export function remaining(i: Item, now: number): number {
  return i.origTtl - Math.floor((now - i.stored) / 1000);
}

const DNSSEC_TYPES = new Set(["RRSIG", "NSEC", "NSEC3"]);

export function withTtl(rrs: readonly Rr[], ttl: number, doBit: boolean): Rr[] {
  const out: Rr[] = [];
  for (const rr of rrs) {
    if (!doBit && DNSSEC_TYPES.has(rr.type)) continue;
    out.push({ ...rr, ttl });
  }
  return out;
}

/** A capacity-bounded map: adding to a full one evicts the oldest entry. */
export class Bounded {
  readonly #items = new Map<string, Item>();
  constructor(readonly capacity: number) {}
  get size(): number {
    return this.#items.size;
  }
  get(key: string): Item | undefined {
    return this.#items.get(key);
  }
  /** Returns whether an entry was evicted to make room. */
  add(key: string, item: Item): boolean {
    const had = this.#items.delete(key);
    let evicted = false;
    if (!had && this.#items.size >= this.capacity) {
      const oldest = this.#items.keys().next().value;
      if (oldest !== undefined) this.#items.delete(oldest);
      evicted = true;
    }
    this.#items.set(key, item);
    return evicted;
  }
  remove(key: string): void {
    this.#items.delete(key);
  }
}

/** The cache key: lower-cased name, type, class, DO and CD. */
export function cacheKey(
  name: string,
  type: string,
  klass: string,
  doBit: boolean,
  cd: boolean,
): string {
  return `${doBit ? 1 : 0}${cd ? 1 : 0}/${type}/${klass}/${name.toLowerCase()}`;
}
