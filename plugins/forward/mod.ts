/**
 * *forward*: `forward FROM TO... { except, force_tcp, prefer_udp, expire,
 * max_fails, health_check, policy, max_concurrent, tls_servername, next,
 * failover, read_timeout }`, CoreDNS's forwarding proxy. Queries for FROM
 * go to the upstreams in policy order; an upstream that fails a query gets
 * health checks (`. IN NS`) every `health_check` until it answers, and is
 * skipped while more than `max_fails` checks in a row failed. SERVFAIL only
 * when no upstream answered. TCP (and DNS over TLS) connections are reused
 * until idle for `expire`.
 */

import {
  type DnsRequest,
  type Handler,
  type HandlerResult,
  nextOrFailure,
  qname,
  type ResponseWriter,
  type WireQuery,
} from "../../lib/dns/handler.ts";
import { counter, histogram } from "../../lib/dns/metrics.ts";
import { isSubDomain } from "../../lib/dns/names.ts";
import {
  CachedClosedError,
  type DropReason,
  Upstream,
  type UpstreamProto,
} from "../../lib/dns/upstream.ts";
import { connectedUdp } from "../../lib/dns/upstream_udp.ts";
import {
  decodeMessage,
  encodeMessage,
  findOpt,
  newQuery,
  RCODE,
  rcodeName,
} from "../../lib/dns/wire.ts";
import { pluginLogger } from "../../lib/log.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";
import {
  type ForwardConfig,
  MAX_UPSTREAMS,
  parseForward,
  parseTo,
  type PolicyName,
  type UpstreamAddress,
} from "./setup.ts";

export { MAX_UPSTREAMS, parseForward, parseTo };

const logger = pluginLogger("forward");

/** miekg/dns's exchange timeout, and CoreDNS's for a health check. */
const DEFAULT_TIMEOUT_MS = 5000;
const HEALTH_TIMEOUT_MS = 1000;

// --- Metrics, by CoreDNS's names.

const requestDuration = histogram(
  "coredns_proxy_request_duration_seconds",
  "Histogram of the time each request took.",
  ["proxy_name", "to", "rcode"],
);
const healthcheckFailures = counter(
  "coredns_proxy_healthcheck_failures_total",
  "Counter of the number of failed healthchecks.",
  ["proxy_name", "to"],
);
const connCacheHits = counter(
  "coredns_proxy_conn_cache_hits_total",
  "Counter of connection cache hits per upstream and protocol.",
  ["proxy_name", "to", "proto"],
);
const connCacheMisses = counter(
  "coredns_proxy_conn_cache_misses_total",
  "Counter of connection cache misses per upstream and protocol.",
  ["proxy_name", "to", "proto"],
);
const healthcheckBroken = counter(
  "coredns_forward_healthcheck_broken_total",
  "Counter of the number of complete failures of the healthchecks.",
);
const maxConcurrentRejects = counter(
  "coredns_forward_max_concurrent_rejects_total",
  "Counter of the number of queries rejected because the concurrent queries were at maximum.",
);
/** coredeno's own: CoreDNS drops these without a count. */
const forgedReplies = counter(
  "coredeno_proxy_forged_replies_total",
  "Counter of replies dropped because they did not answer the query waiting for them: from another address or port, with another id, or with another question.",
  ["proxy_name", "to", "reason"],
);

/** Said once per process: what forwarding over UDP cannot do without FFI. */
let warnedUnconnected = false;

/** One upstream with its health state (CoreDNS's `proxy.Proxy`). */
export class Proxy {
  readonly upstream: Upstream;
  /** Health checks failed in a row. */
  fails = 0;
  #probing = false;
  #stopped = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly address: UpstreamAddress,
    readonly config: ForwardConfig,
  ) {
    this.upstream = new Upstream(address.host, address.port, {
      expireMs: config.expireMs,
      readTimeoutMs: config.readTimeoutMs,
      maxIdleConns: config.maxIdleConns,
      ...(address.transport === "tls"
        ? {
          tls: {
            serverName: config.tlsServerName || address.host,
            ...(config.tlsCaCerts.length > 0
              ? { caCerts: config.tlsCaCerts }
              : {}),
          },
        }
        : {}),
    });
    const to = this.addr;
    this.upstream.onDial = (proto, cached) => {
      (cached ? connCacheHits : connCacheMisses).inc({
        proxy_name: "forward",
        to,
        proto,
      });
    };
    this.upstream.onDrop = (reason: DropReason) => {
      forgedReplies.inc({ proxy_name: "forward", to, reason });
    };
  }

  /** `127.0.0.1:53`, or `tls://127.0.0.1:853`. */
  get addr(): string {
    return this.address.transport === "tls"
      ? `tls://${this.upstream.addr}`
      : this.upstream.addr;
  }

  /** Whether more than `maxFails` health checks in a row failed. */
  down(maxFails: number): boolean {
    return maxFails !== 0 && this.fails > maxFails;
  }

  /** One health check: `DOMAIN IN NS` answered at all counts as healthy. */
  async check(): Promise<boolean> {
    const query = newQuery(
      { name: this.config.hcDomain, type: "NS", class: "IN" },
      { recursionDesired: this.config.hcRecursionDesired },
    );
    try {
      await this.upstream.exchange(
        query,
        this.config.forceTcp ? "tcp" : "udp",
        HEALTH_TIMEOUT_MS,
      );
      if (this.down(this.config.maxFails)) {
        logger.info(`Upstream ${this.addr} is healthy again`);
      }
      this.fails = 0;
      return true;
    } catch (error) {
      healthcheckFailures.inc({ proxy_name: "forward", to: this.addr });
      this.fails++;
      if (this.fails === this.config.maxFails + 1) {
        logger.warning(
          `Upstream ${this.addr} is down after ${this.fails} failed health checks: ${
            (error as Error).message
          }`,
        );
      }
      return false;
    }
  }

  /** Starts health checks every interval until one passes (CoreDNS's `Probe.Do`). */
  healthcheck(): void {
    if (this.#probing || this.#stopped || this.config.healthCheckMs <= 0) {
      return;
    }
    this.#probing = true;
    const round = async () => {
      if (this.#stopped) return;
      if (await this.check() || this.#stopped) {
        this.#probing = false;
        return;
      }
      this.#timer = setTimeout(round, this.config.healthCheckMs);
      Deno.unrefTimer(this.#timer);
    };
    void round();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.upstream.stop();
  }
}

/** `Forward.exchange`'s answer when the next plugin is to answer. */
const NEXT = -1;

/** A reply's rcode: the header's 4 bits, and its OPT record's upper 8. */
function replyRcode(reply: Uint8Array): number {
  const low = reply[3]! & 0x0f;
  const opt = reply[11] === 0 && reply[10] === 0 ? -1 : findOpt(reply) ?? -1;
  return opt < 0 ? low : reply[opt + 4]! << 4 | low;
}

/** The order to try the upstreams in (CoreDNS's `Policy.List`). */
export function policyList<T>(
  policy: PolicyName,
  items: readonly T[],
  state: { robin: number },
): T[] {
  switch (policy) {
    case "sequential":
      return [...items];
    case "round_robin": {
      state.robin = (state.robin + 1) >>> 0;
      const i = state.robin % items.length;
      return [items[i]!, ...items.slice(0, i), ...items.slice(i + 1)];
    }
    case "random": {
      const list = [...items];
      for (let i = list.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [list[i], list[j]] = [list[j]!, list[i]!];
      }
      return list;
    }
  }
}

/** The forward handler (CoreDNS's `Forward.ServeDNS`). */
export class Forward implements Handler {
  readonly name = "forward";
  readonly proxies: Proxy[];
  #concurrent = 0;
  readonly #robin = { robin: 0 };
  next: Handler | undefined;

  constructor(readonly config: ForwardConfig) {
    this.proxies = config.to.map((to) => new Proxy(to, config));
    if (
      !warnedUnconnected && !config.forceTcp &&
      config.to.some((to) => to.transport === "dns") && !connectedUdp()
    ) {
      warnedUnconnected = true;
      logger.warning(
        "UDP to upstreams goes through unconnected sockets (no --allow-ffi, or not Linux): " +
          "ICMP errors are not heard, so a dead upstream costs each query its read_timeout",
      );
    }
  }

  #match(name: string): boolean {
    if (!isSubDomain(this.config.from, name)) return false;
    if (name === this.config.from) return true;
    return !this.config.ignored.some((zone) => isSubDomain(zone, name));
  }

  /**
   * A plain query straight to the upstreams when *forward* heads the chain:
   * the upstream's reply goes back as it came (the server fits its OPT
   * record and size), with no message decoded or encoded here. Not with
   * `next`, whose rcodes hand the query on as a message.
   */
  serveWire(q: WireQuery): Promise<Uint8Array | number> | undefined {
    if (this.config.nextRcodes.length > 0 || !this.#match(q.name)) {
      return undefined;
    }
    if (!this.#admitted()) return Promise.resolve(RCODE.REFUSED);
    return this.#counted(async () => {
      const [rcode, reply] = await this.exchange(q.bytes, q.proto);
      return reply ?? rcode;
    });
  }

  /** Whether a query may go up now (`max_concurrent`); a refusal is counted. */
  #admitted(): boolean {
    const { maxConcurrent } = this.config;
    if (maxConcurrent > 0 && this.#concurrent >= maxConcurrent) {
      maxConcurrentRejects.inc();
      return false;
    }
    return true;
  }

  /** `forward` counted as in flight while it runs. */
  async #counted<T>(forward: () => Promise<T>): Promise<T> {
    this.#concurrent++;
    try {
      return await forward();
    } finally {
      this.#concurrent--;
    }
  }

  async serveDNS(w: ResponseWriter, r: DnsRequest): Promise<HandlerResult> {
    if (!this.#match(qname(r))) {
      return nextOrFailure(this.name, this.next, w, r);
    }
    if (!this.#admitted()) {
      return [
        RCODE.REFUSED,
        new Error(
          `concurrent queries exceeded maximum ${this.config.maxConcurrent}`,
        ),
      ];
    }
    return await this.#counted(() => this.#forward(w, r));
  }

  async #forward(w: ResponseWriter, r: DnsRequest): Promise<HandlerResult> {
    const query = encodeMessage(r.msg);
    const [rcode, reply, error] = await this.exchange(query, r.proto);
    if (reply === undefined) {
      if (rcode === NEXT) return nextOrFailure(this.name, this.next, w, r);
      return [rcode, error];
    }
    await w.writeMsg(decodeMessage(reply));
    return [RCODE.NOERROR];
  }

  /**
   * Asks the upstreams (CoreDNS's `Forward.ServeDNS` loop): the reply on
   * the wire with the query's id; or an rcode for the server to answer
   * with, and why; or `NEXT`: the next plugin is to answer (`next`).
   */
  async exchange(
    query: Uint8Array,
    clientProto: UpstreamProto,
  ): Promise<[rcode: number, reply?: Uint8Array, error?: Error]> {
    const { config, proxies } = this;
    const list = policyList(config.policy, proxies, this.#robin);
    const deadline = performance.now() + DEFAULT_TIMEOUT_MS;
    const maxAttempts = 2 * list.length;
    let attempts = 0;
    let failoverAttempts = 0;
    let fails = 0;
    let i = 0;
    let upstreamError: Error | undefined;
    while (performance.now() < deadline && attempts < maxAttempts) {
      if (i >= list.length) {
        i = 0;
        fails = 0;
      }
      let proxy = list[i++]!;
      if (proxy.down(config.maxFails)) {
        fails++;
        if (fails < proxies.length) continue;
        // Every upstream is down: the checks may be what is broken; try one.
        healthcheckBroken.inc();
        proxy = proxies[Math.floor(Math.random() * proxies.length)]!;
      }
      let proto: UpstreamProto = config.forceTcp
        ? "tcp"
        : config.preferUdp
        ? "udp"
        : clientProto;
      let reply: Uint8Array | undefined;
      let error: Error | undefined;
      const start = performance.now();
      for (;;) {
        try {
          ({ reply } = await proxy.upstream.exchangeWire(query, proto));
          error = undefined;
        } catch (e) {
          error = e as Error;
          reply = undefined;
          if (e instanceof CachedClosedError) continue;
        }
        // A truncated answer over UDP is asked again over TCP (as unbound
        // does; CoreDNS only with prefer_udp): the whole answer can be
        // cached, and the scrub fits it to the client.
        if (
          reply !== undefined && (reply[2]! & 0x02) !== 0 && proto === "udp"
        ) {
          proto = "tcp";
          continue;
        }
        break;
      }
      if (error !== undefined || reply === undefined) {
        upstreamError = error;
        if (config.maxFails !== 0) proxy.healthcheck();
        attempts++;
        if (attempts >= maxAttempts) break;
        continue;
      }
      const rcode = replyRcode(reply);
      requestDuration.observe(
        { proxy_name: "forward", to: proxy.addr, rcode: rcodeName(rcode) },
        (performance.now() - start) / 1000,
      );
      if (config.failoverRcodes.includes(rcode)) {
        failoverAttempts++;
        if (failoverAttempts < proxies.length) continue;
      }
      if (config.nextRcodes.includes(rcode) && this.next?.name === "forward") {
        return [NEXT];
      }
      return [RCODE.NOERROR, reply];
    }
    return [
      RCODE.SERVFAIL,
      undefined,
      upstreamError ?? new Error("no healthy proxies"),
    ];
  }

  stop(): void {
    for (const proxy of this.proxies) proxy.stop();
  }
}

function setup(c: Controller): void {
  const configs = parseForward(c.dispenser);
  const forwards = configs.map((config) => new Forward(config));
  for (const f of forwards) {
    c.use((next) => {
      f.next = next;
      return f;
    });
  }
  c.onShutdown(() => {
    for (const f of forwards) f.stop();
  });
}

export const forward: Plugin = { name: "forward", setup };
