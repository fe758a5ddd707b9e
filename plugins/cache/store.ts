/**
 * What the cache stores and how it reads an answer: CoreDNS's response
 * types (`response.Typify`), the minimal TTL rules of RFC 2308, TTLs counting
 * down, and a capacity-bounded store that evicts its oldest entry.
 */

import { type Message, OPCODE, RCODE, type Rr } from "../../lib/dns/wire.ts";
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
