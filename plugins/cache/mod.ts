/**
 * *cache*: `cache [TTL] [ZONES...] { success CAPACITY [TTL] [MINTTL];
 * denial CAPACITY [TTL] [MINTTL]; prefetch AMOUNT [[DURATION] [PERCENTAGE%]];
 * serve_stale [DURATION] [immediate|verify]; servfail DURATION;
 * disable success|denial [ZONES...]; keepttl }`, CoreDNS's response cache.
 * Positive and negative answers live in two capacity-bounded caches keyed
 * by the lower-cased name, type, class, DO and CD bits; negative answers
 * are kept for the SOA's TTL capped by its MINIMUM (RFC 2308); served
 * answers show the TTL counting down.
 *
 * A hit for a plain query (lib/dns/plain.ts) is answered straight off the
 * receive buffer when *cache* heads the chain: the entry's records are
 * encoded once, and each hit copies them and writes the TTLs. Under
 * dnsperf the general path's decode, promises and encode cost more than
 * the socket (bench P9).
 */

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
import { matchZone } from "../../lib/dns/names.ts";
import {
  type PlainAnswer,
  plainName,
  type PlainQuery,
} from "../../lib/dns/plain.ts";
import { type Message, RCODE, replyTo } from "../../lib/dns/wire.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";
import { type CacheConfig, DEFAULT_CAPACITY, parseCache } from "./setup.ts";
import types from "npm:dns-packet@5.6.1/types.js";
import {
  answersQuestion,
  Bounded,
  cacheKey,
  hasSoa,
  type Item,
  minimalTtl,
  plainRecords,
  remaining,
  type ResponseType,
  typify,
  withTtl,
} from "./store.ts";

export { DEFAULT_CAPACITY, parseCache };

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

  readonly #labelsByServer = new Map<string, Labels>();

  #labels(r: DnsRequest): Labels {
    return this.#labelsOf(r.server ?? "");
  }

  #labelsOf(server: string): Labels {
    let labels = this.#labelsByServer.get(server);
    if (labels === undefined) {
      labels = { server, zones: this.#zonesLabel, view: "" };
      this.#labelsByServer.set(server, labels);
    }
    return labels;
  }

  /**
   * A fresh hit for a plain query, written as `serveDNS` would write it;
   * undefined for anything else (a miss, a stale entry, prefetching, an
   * extended rcode), which `serveDNS` then answers.
   */
  answerPlain(q: PlainQuery): PlainAnswer | undefined {
    if (this.config.prefetch > 0) return undefined;
    const name = plainName(q.bytes, q.nameEnd);
    if (matchZone(this.config.zones, name) === undefined) return undefined;
    const type = typeName(q.type);
    const flags = q.bytes[3]!;
    const cd = (flags & 0x10) !== 0;
    const key = cacheKey(name, type, "IN", q.dnssecOk, cd);
    const now = this.now();
    const found = this.#get(key, name, type, "IN", now);
    if (found === undefined) return undefined;
    const [item, kind] = found;
    let ttl = remaining(item, now);
    if (ttl <= 0 || item.rcode > 15) return undefined;
    const encoded = plainRecords(item, q.dnssecOk);
    const at = q.nameEnd + 4;
    if (at + encoded.bytes.length > q.out.length) return undefined;
    const labels = this.#labelsOf(q.server);
    requests.inc(labels);
    hits.inc({ ...labels, type: kind });
    if (this.config.keepttl) ttl = item.origTtl;
    q.out.set(encoded.bytes, at);
    for (const offset of encoded.ttls) {
      const t = at + offset;
      q.out[t] = ttl >>> 24;
      q.out[t + 1] = ttl >> 16 & 0xff;
      q.out[t + 2] = ttl >> 8 & 0xff;
      q.out[t + 3] = ttl & 0xff;
    }
    const ad = item.authenticatedData && (q.dnssecOk || (flags & 0x20) !== 0);
    return {
      authoritative: true,
      flags: (item.recursionAvailable ? 0x80 : 0) | (ad ? 0x20 : 0) |
        item.rcode,
      end: at + encoded.bytes.length,
      ancount: encoded.ancount,
      nscount: encoded.nscount,
      arcount: encoded.arcount,
    };
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

/** dns-packet's name of a type code (`A`, `UNKNOWN_65280`), as the cache keys it. */
function typeName(code: number): string {
  return types.toString(code);
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
