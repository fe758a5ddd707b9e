/**
 * *cache*: `cache [TTL] [ZONES...] { success CAPACITY [TTL] [MINTTL];
 * denial CAPACITY [TTL] [MINTTL]; prefetch AMOUNT [[DURATION] [PERCENTAGE%]];
 * serve_stale [DURATION] [immediate|verify]; servfail DURATION;
 * disable success|denial [ZONES...]; keepttl }`, CoreDNS's response cache.
 * Positive and negative answers live in two capacity-bounded caches keyed
 * by the lower-cased name, type, class, DO and CD bits; negative answers
 * are kept for the SOA's TTL capped by its MINIMUM (RFC 2308); served
 * answers show the TTL counting down.
 */

import type { Dispenser } from "../../lib/corefile/mod.ts";
import {
  type DnsRequest,
  dnssecOk,
  type Handler,
  type HandlerResult,
  nextOrFailure,
  qname,
  type ResponseWriter,
} from "../../lib/dns/handler.ts";
import { counter, gauge } from "../../lib/dns/metrics.ts";
import { matchZone, normalizeZones } from "../../lib/dns/names.ts";
import {
  type Message,
  OPCODE,
  RCODE,
  replyTo,
  type Rr,
} from "../../lib/dns/wire.ts";
import { parseDuration } from "../../lib/duration.ts";
import { OnceError } from "../../lib/server/errors.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";

const MAX_TTL = 3600;
const MIN_TTL = 5;
const MAX_NTTL = 1800;
const MIN_NTTL = 5;
export const DEFAULT_CAPACITY = 10_000;

export interface CacheConfig {
  zones: string[];
  pcap: number;
  pttl: number;
  minpttl: number;
  ncap: number;
  nttl: number;
  minnttl: number;
  /** Seconds a SERVFAIL is cached; 0 never. */
  failttl: number;
  /** 0: no prefetching. */
  prefetch: number;
  prefetchWindowMs: number;
  percentage: number;
  /** Seconds an expired entry may still be served; 0: never. */
  staleUpTo: number;
  verifyStale: boolean;
  pexcept: string[];
  nexcept: string[];
  keepttl: boolean;
}

function defaults(): CacheConfig {
  return {
    zones: ["."],
    pcap: DEFAULT_CAPACITY,
    pttl: MAX_TTL,
    minpttl: MIN_TTL,
    ncap: DEFAULT_CAPACITY,
    nttl: MAX_NTTL,
    minnttl: MIN_NTTL,
    failttl: MIN_NTTL,
    prefetch: 0,
    prefetchWindowMs: 60_000,
    percentage: 10,
    staleUpTo: 0,
    verifyStale: false,
    pexcept: [],
    nexcept: [],
    keepttl: false,
  };
}

/** Go's `strconv.Atoi`, with its error text. */
function atoi(d: Dispenser, text: string): number {
  if (!/^[+-]?\d+$/.test(text)) {
    throw d.err(`strconv.Atoi: parsing "${text}": invalid syntax`);
  }
  return Number(text);
}

function ttlArg(d: Dispenser, text: string): number {
  const ttl = atoi(d, text);
  if (ttl <= 0) {
    throw d.err(`cache TTL can not be zero or negative: ${ttl}`);
  }
  return ttl;
}

function minTtlArg(d: Dispenser, text: string): number {
  const ttl = atoi(d, text);
  if (ttl < 0) throw d.err(`cache min TTL can not be negative: ${ttl}`);
  return ttl;
}

function durationArg(d: Dispenser, text: string): number {
  try {
    return parseDuration(text) / 1e6;
  } catch (error) {
    throw d.err((error as Error).message);
  }
}

/** Parses the block's `cache` line; `keys` are the server block's zones (the default ZONES). */
export function parseCache(
  d: Dispenser,
  keys: readonly string[],
): CacheConfig {
  const c = defaults();
  let seen = false;
  while (d.next()) {
    if (seen) throw new OnceError();
    seen = true;
    const args = d.remainingArgs();
    if (args.length > 0 && /^[+-]?\d+$/.test(args[0]!)) {
      c.pttl = c.nttl = ttlArg(d, args.shift()!);
    }
    const origins = args.length > 0 ? args : keys;
    c.zones = [...new Set(origins.flatMap(normalizeZones))];
    while (d.nextBlock()) {
      const property = d.val();
      const rest = d.remainingArgs();
      switch (property) {
        case "success":
        case "denial": {
          if (rest.length === 0 || rest.length > 3) throw d.argErr();
          const cap = atoi(d, rest[0]!);
          if (cap <= 0) {
            throw d.err(`cache capacity must be positive: ${cap}`);
          }
          const ttl = rest[1] === undefined ? undefined : ttlArg(d, rest[1]);
          const min = rest[2] === undefined ? undefined : minTtlArg(d, rest[2]);
          if (property === "success") {
            c.pcap = cap;
            if (ttl !== undefined) c.pttl = ttl;
            if (min !== undefined) c.minpttl = min;
          } else {
            c.ncap = cap;
            if (ttl !== undefined) c.nttl = ttl;
            if (min !== undefined) c.minnttl = min;
          }
          break;
        }
        case "prefetch": {
          if (rest.length === 0 || rest.length > 3) throw d.argErr();
          const amount = atoi(d, rest[0]!);
          if (amount < 0) {
            throw d.err(`prefetch amount should be positive: ${amount}`);
          }
          c.prefetch = amount;
          if (rest[1] !== undefined) {
            c.prefetchWindowMs = durationArg(d, rest[1]);
          }
          if (rest[2] !== undefined) {
            const pct = rest[2];
            if (!pct.endsWith("%")) {
              throw d.err(
                `last character of percentage should be \`%\`, but is: '${
                  pct.at(-1)
                }'`,
              );
            }
            const num = atoi(d, pct.slice(0, -1));
            if (num < 10 || num > 90) {
              throw d.err(`percentage should fall in range [10, 90]: ${num}`);
            }
            c.percentage = num;
          }
          break;
        }
        case "serve_stale": {
          if (rest.length > 2) throw d.argErr();
          c.staleUpTo = 3600;
          if (rest[0] !== undefined) {
            const ms = durationArg(d, rest[0]);
            if (ms < 0) {
              throw d.err("invalid negative duration for serve_stale");
            }
            c.staleUpTo = Math.floor(ms / 1000);
          }
          if (rest[1] !== undefined) {
            const mode = rest[1].toLowerCase();
            if (mode !== "immediate" && mode !== "verify") {
              throw d.err(
                `invalid value for serve_stale refresh mode: ${mode}`,
              );
            }
            c.verifyStale = mode === "verify";
          }
          break;
        }
        case "servfail": {
          if (rest.length !== 1) throw d.argErr();
          const ms = durationArg(d, rest[0]!);
          if (ms < 0) throw d.err("invalid negative ttl for servfail");
          if (ms > 300_000) {
            throw d.err(
              "caching SERVFAIL responses over 5 minutes is not permitted",
            );
          }
          c.failttl = Math.floor(ms / 1000);
          break;
        }
        case "disable": {
          if (rest.length === 0) throw d.argErr();
          const zones = rest.length > 1
            ? rest.slice(1).flatMap(normalizeZones)
            : c.zones;
          if (rest[0] === "success") c.pexcept = zones;
          else if (rest[0] === "denial") c.nexcept = zones;
          else throw d.err(`cache type for disable is unknown: ${rest[0]}`);
          break;
        }
        case "keepttl":
          if (rest.length > 0) throw d.argErr();
          c.keepttl = true;
          break;
        default:
          throw d.err(`unknown property '${property}'`);
      }
    }
  }
  return c;
}

// --- Metrics, by CoreDNS's names.

interface Labels {
  server: string;
  zones: string;
  view: string;
}

const LABELS = ["server", "zones", "view"] as const;
const TYPED = ["server", "type", "zones", "view"] as const;
const entries = gauge(
  "coredns_cache_entries",
  "The number of elements in the cache.",
  TYPED,
);
const requests = counter(
  "coredns_cache_requests_total",
  "The count of cache requests.",
  LABELS,
);
const hits = counter(
  "coredns_cache_hits_total",
  "The count of cache hits.",
  TYPED,
);
const misses = counter(
  "coredns_cache_misses_total",
  "The count of cache misses. Deprecated, derive misses from cache hits/requests counters.",
  LABELS,
);
const prefetches = counter(
  "coredns_cache_prefetch_total",
  "The number of times the cache has prefetched a cached item.",
  LABELS,
);
const drops = counter(
  "coredns_cache_drops_total",
  "The number responses that are not cached, because the reply is malformed.",
  LABELS,
);
const servedStale = counter(
  "coredns_cache_served_stale_total",
  "The number of requests served from stale cache entries.",
  LABELS,
);
const evictions = counter(
  "coredns_cache_evictions_total",
  "The count of cache evictions.",
  TYPED,
);

// --- Response types (CoreDNS's `response.Typify`).

type ResponseType =
  | "NoError"
  | "NameError"
  | "NoData"
  | "Delegation"
  | "ServerError"
  | "OtherError"
  | "Meta";

function hasSoa(m: Message): boolean {
  return m.ns.some((rr) => rr.type === "SOA");
}

/** Whether the answer section holds the asked type at the name (following CNAMEs). */
function answersQuestion(m: Message): boolean {
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

function typify(m: Message): ResponseType {
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
function minimalTtl(m: Message, type: ResponseType, max: number): number {
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

interface Item {
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
function remaining(i: Item, now: number): number {
  return i.origTtl - Math.floor((now - i.stored) / 1000);
}

const DNSSEC_TYPES = new Set(["RRSIG", "NSEC", "NSEC3"]);

function withTtl(rrs: readonly Rr[], ttl: number, doBit: boolean): Rr[] {
  const out: Rr[] = [];
  for (const rr of rrs) {
    if (!doBit && DNSSEC_TYPES.has(rr.type)) continue;
    out.push({ ...rr, ttl });
  }
  return out;
}

/** A capacity-bounded map: adding to a full one evicts the oldest entry. */
class Bounded {
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

export class Cache implements Handler {
  readonly name = "cache";
  readonly pcache: Bounded;
  readonly ncache: Bounded;
  readonly #zonesLabel: string;
  next: Handler | undefined;
  /** Milliseconds; a clock tests may move. */
  now: () => number = () => performance.now();

  constructor(readonly config: CacheConfig) {
    this.pcache = new Bounded(config.pcap);
    this.ncache = new Bounded(config.ncap);
    this.#zonesLabel = config.zones.join(",");
  }

  #labels(r: DnsRequest): Labels {
    return { server: r.server ?? "", zones: this.#zonesLabel, view: "" };
  }

  async serveDNS(w: ResponseWriter, r: DnsRequest): Promise<HandlerResult> {
    const name = qname(r);
    if (matchZone(this.config.zones, name) === undefined) {
      return nextOrFailure(this.name, this.next, w, r);
    }
    const q = r.msg.question[0]!;
    const doBit = dnssecOk(r);
    const cd = r.msg.checkingDisabled;
    const ad = r.msg.authenticatedData;
    const key = cacheKey(name, q.type, q.class, doBit, cd);
    const now = this.now();
    const labels = this.#labels(r);
    requests.inc(labels);
    const found = this.#get(key, name, q.type, q.class, now);
    if (found === undefined) {
      misses.inc(labels);
      return this.#refresh(w, r, key, false);
    }
    const [item, kind] = found;
    hits.inc({ ...labels, type: kind });
    let ttl = remaining(item, now);
    if (ttl <= 0) {
      if (this.config.verifyStale) {
        const written = await this.#verify(w, r, key);
        if (written !== undefined) return written;
      } else {
        this.#prefetch(r, key, item, labels);
      }
      servedStale.inc(labels);
      ttl = 0;
    } else if (this.#shouldPrefetch(item, now)) {
      this.#prefetch(r, key, item, labels);
    }
    if (this.config.keepttl) ttl = item.origTtl;
    const reply = replyTo(r.msg, item.rcode);
    reply.authoritative = true;
    reply.authenticatedData = item.authenticatedData && (doBit || ad);
    reply.recursionAvailable = item.recursionAvailable;
    reply.answer = withTtl(item.answer, ttl, doBit);
    reply.ns = withTtl(item.ns, ttl, doBit);
    reply.extra = withTtl(item.extra, ttl, doBit);
    await w.writeMsg(reply);
    return [RCODE.NOERROR];
  }

  #get(
    key: string,
    name: string,
    type: string,
    klass: string,
    now: number,
  ): [Item, "success" | "denial"] | undefined {
    const usable = (i: Item | undefined): i is Item =>
      i !== undefined && i.name === name && i.type === type &&
      i.klass === klass &&
      (remaining(i, now) > 0 || -remaining(i, now) < this.config.staleUpTo);
    const n = this.ncache.get(key);
    if (usable(n)) {
      if (n.rcode === RCODE.SERVFAIL) {
        const p = this.pcache.get(key);
        if (usable(p)) return [p, "success"];
      }
      return [n, "denial"];
    }
    const p = this.pcache.get(key);
    if (usable(p)) return [p, "success"];
    return undefined;
  }

  #shouldPrefetch(i: Item, now: number): boolean {
    if (this.config.prefetch <= 0) return false;
    if (now - i.windowStart > this.config.prefetchWindowMs) {
      i.windowStart = now;
      i.hits = 0;
    }
    i.hits++;
    const threshold = Math.ceil(this.config.percentage / 100 * i.origTtl);
    return i.hits >= this.config.prefetch && remaining(i, now) <= threshold;
  }

  /** Asks the rest of the chain in the background and stores the answer. */
  #prefetch(
    r: DnsRequest,
    key: string,
    item: Item,
    labels: Labels,
  ): void {
    if (item.refreshing) return;
    item.refreshing = true;
    prefetches.inc(labels);
    const sink: ResponseWriter = { writeMsg: () => Promise.resolve() };
    void this.#refresh(sink, r, key, true).catch(() => {}).finally(() => {
      item.refreshing = false;
    });
  }

  /** serve_stale verify: a fresh answer when the chain gives a usable one. */
  async #verify(
    w: ResponseWriter,
    r: DnsRequest,
    key: string,
  ): Promise<HandlerResult | undefined> {
    let reply: Message | undefined;
    const capture: ResponseWriter = {
      writeMsg: (m) => {
        reply = m;
        return Promise.resolve();
      },
    };
    const result = await this.#refresh(capture, r, key, false);
    if (
      reply === undefined || reply.truncated ||
      (reply.rcode !== RCODE.NOERROR && reply.rcode !== RCODE.NXDOMAIN)
    ) return undefined;
    await w.writeMsg(reply);
    return result;
  }

  /** Runs the rest of the chain, storing what it writes (CoreDNS's cache `ResponseWriter`). */
  #refresh(
    w: ResponseWriter,
    r: DnsRequest,
    key: string,
    background: boolean,
  ): Promise<HandlerResult> {
    const labels = this.#labels(r);
    const doBit = dnssecOk(r);
    const ad = r.msg.authenticatedData;
    const question = r.msg.question[0]!;
    const writer: ResponseWriter = {
      writeMsg: (res) => {
        const type = typify(res);
        let cacheable = !res.truncated && type !== "OtherError" &&
          type !== "Meta";
        if (type === "NameError" && !hasSoa(res)) cacheable = false;
        if (
          type === "NoError" && !hasSoa(res) && res.answer.length > 0 &&
          !answersQuestion(res)
        ) cacheable = false;
        let ttl: number;
        if (type === "NameError" || type === "NoData") {
          ttl = clamp(
            minimalTtl(res, type, this.config.nttl),
            this.config.minnttl,
            this.config.nttl,
          );
        } else if (type === "ServerError") {
          ttl = this.config.failttl;
        } else {
          ttl = clamp(
            minimalTtl(res, type, this.config.pttl),
            this.config.minpttl,
            this.config.pttl,
          );
        }
        const out: Message = {
          ...res,
          answer: withTtl(res.answer, ttl, true),
          ns: withTtl(res.ns, ttl, true),
          extra: withTtl(res.extra, ttl, true),
        };
        if (cacheable && ttl > 0) {
          const a = res.question[0];
          if (
            res.response && a !== undefined &&
            a.name.toLowerCase() === question.name.toLowerCase() &&
            a.type === question.type && a.class === question.class
          ) {
            this.#set(out, key, type, ttl, question.name.toLowerCase(), labels);
          } else drops.inc(labels);
        }
        if (!doBit && !ad) out.authenticatedData = false;
        return background ? Promise.resolve() : w.writeMsg(out);
      },
    };
    // The query goes on with AD set, so an upstream says whether data is authentic.
    const msg = { ...r.msg, authenticatedData: true };
    return nextOrFailure(this.name, this.next, writer, { ...r, msg });
  }

  #set(
    m: Message,
    key: string,
    type: ResponseType,
    ttl: number,
    name: string,
    labels: Labels,
  ): void {
    const q = m.question[0]!;
    const item: Item = {
      name,
      type: q.type,
      klass: q.class,
      rcode: m.rcode,
      authenticatedData: m.authenticatedData,
      recursionAvailable: m.recursionAvailable,
      answer: m.answer,
      ns: m.ns,
      extra: m.extra,
      origTtl: ttl,
      stored: this.now(),
      hits: 0,
      windowStart: this.now(),
      refreshing: false,
    };
    if (type === "NoError" || type === "Delegation") {
      if (matchZone(this.config.pexcept, name) !== undefined) return;
      if (this.pcache.add(key, item)) {
        evictions.inc({ ...labels, type: "success" });
      }
      this.ncache.remove(key);
    } else {
      if (matchZone(this.config.nexcept, name) !== undefined) return;
      if (this.ncache.add(key, item)) {
        evictions.inc({ ...labels, type: "denial" });
      }
    }
    entries.set({ ...labels, type: "success" }, this.pcache.size);
    entries.set({ ...labels, type: "denial" }, this.ncache.size);
  }
}

function clamp(ttl: number, min: number, max: number): number {
  return Math.min(Math.max(ttl, min), max);
}

function setup(c: Controller): void {
  const config = parseCache(c.dispenser, c.keys);
  const cache = new Cache(config);
  c.use((next) => {
    cache.next = next;
    return cache;
  });
}

export const cache: Plugin = { name: "cache", setup };
