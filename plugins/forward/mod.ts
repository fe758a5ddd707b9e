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

import type { Dispenser } from "../../lib/corefile/mod.ts";
import { parseError } from "../../lib/corefile/errors.ts";
import { fqdn } from "../../lib/corefile/keys.ts";
import {
  type DnsRequest,
  type Handler,
  type HandlerResult,
  nextOrFailure,
  qname,
  type ResponseWriter,
} from "../../lib/dns/handler.ts";
import { counter, histogram } from "../../lib/dns/metrics.ts";
import { isSubDomain, normalizeZones } from "../../lib/dns/names.ts";
import {
  CachedClosedError,
  Upstream,
  type UpstreamProto,
} from "../../lib/dns/upstream.ts";
import {
  type Message,
  newQuery,
  RCODE,
  rcodeName,
  replyTo,
} from "../../lib/dns/wire.ts";
import { parseDuration } from "../../lib/duration.ts";
import { pluginLogger } from "../../lib/log.ts";
import { splitHostPort } from "../../lib/net/host_port.ts";
import { parseIP } from "../../lib/net/ip.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";

const logger = pluginLogger("forward");

/** CoreDNS's limit on upstreams per `forward` line. */
export const MAX_UPSTREAMS = 15;
const DEFAULT_TIMEOUT_MS = 5000;
const HEALTH_TIMEOUT_MS = 1000;

export type PolicyName = "random" | "round_robin" | "sequential";

export interface UpstreamAddress {
  transport: "dns" | "tls";
  host: string;
  port: number;
}

export interface ForwardConfig {
  from: string;
  ignored: string[];
  to: UpstreamAddress[];
  forceTcp: boolean;
  preferUdp: boolean;
  maxFails: number;
  expireMs: number;
  readTimeoutMs: number;
  /** 0: no health checks. */
  healthCheckMs: number;
  hcRecursionDesired: boolean;
  hcDomain: string;
  policy: PolicyName;
  /** 0: no limit. */
  maxConcurrent: number;
  tlsServerName: string;
  /** PEM certificates to trust for tls:// upstreams, besides the system's. */
  tlsCaCerts: string[];
  nextRcodes: number[];
  failoverRcodes: number[];
}

const RCODES: Record<string, number> = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
};

function defaults(): ForwardConfig {
  return {
    from: ".",
    ignored: [],
    to: [],
    forceTcp: false,
    preferUdp: false,
    maxFails: 2,
    expireMs: 10_000,
    readTimeoutMs: 2000,
    healthCheckMs: 500,
    hcRecursionDesired: true,
    hcDomain: ".",
    policy: "random",
    maxConcurrent: 0,
    tlsServerName: "",
    tlsCaCerts: [],
    nextRcodes: [],
    failoverRcodes: [],
  };
}

/** Parses every `forward` line of a block; throws CoreDNS-worded errors with file and line. */
export function parseForward(
  d: Dispenser,
  readFile: (path: string) => string = Deno.readTextFileSync,
): ForwardConfig[] {
  const configs: ForwardConfig[] = [];
  while (d.next()) configs.push(parseStanza(d, readFile));
  return configs;
}

function parseStanza(
  d: Dispenser,
  readFile: (path: string) => string,
): ForwardConfig {
  const f = defaults();
  if (!d.nextArg()) throw d.argErr();
  const zones = normalizeZones(d.val());
  if (zones.length === 0) throw d.err(`unable to normalize '${d.val()}'`);
  f.from = zones[0]!;
  const to = d.remainingArgs();
  if (to.length === 0) throw d.argErr();
  const toLine = d.line();
  while (d.nextBlock()) parseProperty(d, f, readFile);
  for (const address of to) {
    try {
      f.to.push(...parseTo(address, readFile));
    } catch (error) {
      throw parseError(d.file(), toLine, (error as Error).message);
    }
  }
  if (f.to.length === 0) {
    throw parseError(d.file(), toLine, "no nameservers found");
  }
  if (f.to.length > MAX_UPSTREAMS) {
    throw parseError(
      d.file(),
      toLine,
      `more than ${MAX_UPSTREAMS} TOs configured: ${f.to.length}`,
    );
  }
  if (f.tlsServerName === "") {
    const tls = f.to.find((u) => u.transport === "tls");
    if (tls !== undefined && parseIP(tls.host) !== undefined) {
      throw parseError(
        d.file(),
        toLine,
        `tls://${tls.host} needs tls_servername: the name its certificate is for`,
      );
    }
  }
  return f;
}

function duration(d: Dispenser, what: string): number {
  if (!d.nextArg()) throw d.argErr();
  let nanos: number;
  try {
    nanos = parseDuration(d.val());
  } catch (error) {
    throw d.err((error as Error).message);
  }
  if (nanos < 0) throw d.err(`${what} can't be negative: ${d.val()}`);
  return nanos / 1e6;
}

function integer(d: Dispenser, what: string): number {
  if (!d.nextArg()) throw d.argErr();
  const text = d.val();
  if (!/^\d+$/.test(text) || Number(text) > 2 ** 32 - 1) {
    if (/^-\d+$/.test(text)) throw d.err(`${what} can't be negative: ${text}`);
    throw d.err(`strconv.ParseUint: parsing "${text}": invalid syntax`);
  }
  return Number(text);
}

function rcodes(d: Dispenser, allowNoError: boolean): number[] {
  const args = d.remainingArgs();
  if (args.length === 0) throw d.argErr();
  return args.map((name) => {
    const rc = RCODES[name.toUpperCase()];
    if (rc === undefined) throw d.err(`${name} is not a valid rcode`);
    if (rc === 0 && !allowNoError) {
      throw d.err("NoError cannot be used in failover");
    }
    return rc;
  });
}

function noArgs(d: Dispenser): void {
  if (d.nextArg()) throw d.argErr();
}

function parseProperty(
  d: Dispenser,
  f: ForwardConfig,
  readFile: (path: string) => string,
): void {
  switch (d.val()) {
    case "except": {
      const names = d.remainingArgs();
      if (names.length === 0) throw d.argErr();
      for (const name of names) f.ignored.push(...normalizeZones(name));
      break;
    }
    case "max_fails":
      f.maxFails = integer(d, "max_fails");
      break;
    case "health_check": {
      f.healthCheckMs = duration(d, "health_check");
      f.hcDomain = ".";
      const opts = d.remainingArgs();
      for (let k = 0; k < opts.length; k++) {
        switch (opts[k]) {
          case "no_rec":
            f.hcRecursionDesired = false;
            break;
          case "domain":
            if (k + 1 >= opts.length) throw d.argErr();
            f.hcDomain = fqdn(opts[++k]!.toLowerCase());
            break;
          default:
            throw d.err(`health_check: unknown option ${opts[k]}`);
        }
      }
      break;
    }
    case "force_tcp":
      noArgs(d);
      f.forceTcp = true;
      break;
    case "prefer_udp":
      noArgs(d);
      f.preferUdp = true;
      break;
    case "expire":
      f.expireMs = duration(d, "expire");
      break;
    case "read_timeout":
      f.readTimeoutMs = duration(d, "read_timeout");
      if (f.readTimeoutMs <= 0) {
        throw d.err(`read_timeout must be positive: ${d.val()}`);
      }
      break;
    case "tls": {
      const files = d.remainingArgs();
      if (files.length > 3) throw d.argErr();
      if (files.length === 2 || files.length === 3) {
        throw d.err(
          "client certificates for tls:// upstreams are not available in coredeno: give the CA only (tls CA)",
        );
      }
      if (files.length === 1) {
        try {
          f.tlsCaCerts = [readFile(files[0]!)];
        } catch (error) {
          const reason = error instanceof Deno.errors.NotFound
            ? `open ${files[0]}: no such file or directory`
            : (error as Error).message;
          throw d.err(`Could not load TLS CA: ${reason}`);
        }
      }
      break;
    }
    case "tls_servername":
      if (!d.nextArg()) throw d.argErr();
      f.tlsServerName = d.val();
      break;
    case "policy": {
      if (!d.nextArg()) throw d.argErr();
      const policy = d.val();
      if (
        policy !== "random" && policy !== "round_robin" &&
        policy !== "sequential"
      ) throw d.err(`unknown policy '${policy}'`);
      f.policy = policy;
      break;
    }
    case "max_concurrent":
      f.maxConcurrent = integer(d, "max_concurrent");
      break;
    case "next":
      f.nextRcodes = rcodes(d, true);
      break;
    case "failover":
      f.failoverRcodes = rcodes(d, false);
      break;
    default:
      throw d.err(`unknown property '${d.val()}'`);
  }
}

/**
 * One TO argument: `IP`, `IP:PORT`, `[IPv6]:PORT`, `tls://IP[:PORT]`, or a
 * resolv.conf-style file whose `nameserver` lines are the upstreams.
 */
export function parseTo(
  address: string,
  readFile: (path: string) => string = Deno.readTextFileSync,
): UpstreamAddress[] {
  let transport: "dns" | "tls" = "dns";
  let rest = address;
  const scheme = address.indexOf("://");
  if (scheme >= 0) {
    const name = address.slice(0, scheme);
    rest = address.slice(scheme + 3);
    if (name === "tls") transport = "tls";
    else if (name !== "dns") {
      throw new Error(
        `'${name}' is not supported as a destination protocol in forward: ${address}`,
      );
    }
  }
  if (rest === "") throw new Error(`invalid address: "${address}"`);
  const defaultPort = transport === "tls" ? 853 : 53;
  let host: string;
  let port = defaultPort;
  try {
    const split = splitHostPort(rest);
    host = split.host;
    if (!/^\d{1,5}$/.test(split.port) || Number(split.port) > 65535) {
      throw new Error(`invalid port in address: "${address}"`);
    }
    port = Number(split.port);
  } catch (error) {
    if ((error as Error).message.startsWith("invalid port")) throw error;
    host = rest.replace(/^\[(.*)\]$/, "$1");
  }
  if (parseIP(host) !== undefined) return [{ transport, host, port }];
  if (transport !== "dns" || scheme >= 0) {
    throw new Error(`not an IP address: "${address}"`);
  }
  return resolvConf(rest, readFile);
}

/** The `nameserver` lines of a resolv.conf-style file, on port 53 (miekg/dns's `ClientConfigFromFile`). */
function resolvConf(
  path: string,
  readFile: (path: string) => string,
): UpstreamAddress[] {
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? `failed to open file "${path}": "open ${path}: no such file or directory"`
      : (error as Error).message;
    throw new Error(`not an IP address or file "${path}": ${reason}`);
  }
  const servers: UpstreamAddress[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] !== "nameserver" || fields.length < 2) continue;
    const host = fields[1]!.replace(/%.*$/, "");
    if (parseIP(host) === undefined) continue;
    servers.push({ transport: "dns", host, port: 53 });
  }
  return servers;
}

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

/** Whether `reply` answers `query` (miekg/dns's `request.Match`). */
function matches(query: Message, reply: Message): boolean {
  if (!reply.response) return false;
  const q = query.question[0];
  const a = reply.question[0];
  if (q === undefined || a === undefined) return q === a;
  return q.name.toLowerCase() === a.name.toLowerCase() && q.type === a.type &&
    q.class === a.class;
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
  }

  #match(name: string): boolean {
    if (!isSubDomain(this.config.from, name)) return false;
    if (name === this.config.from) return true;
    return !this.config.ignored.some((zone) => isSubDomain(zone, name));
  }

  async serveDNS(w: ResponseWriter, r: DnsRequest): Promise<HandlerResult> {
    if (!this.#match(qname(r))) {
      return nextOrFailure(this.name, this.next, w, r);
    }
    const { maxConcurrent } = this.config;
    if (maxConcurrent > 0 && this.#concurrent >= maxConcurrent) {
      maxConcurrentRejects.inc();
      return [
        RCODE.REFUSED,
        new Error(`concurrent queries exceeded maximum ${maxConcurrent}`),
      ];
    }
    this.#concurrent++;
    try {
      return await this.#forward(w, r);
    } finally {
      this.#concurrent--;
    }
  }

  async #forward(w: ResponseWriter, r: DnsRequest): Promise<HandlerResult> {
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
        : r.proto;
      let reply: Message | undefined;
      let error: Error | undefined;
      const start = performance.now();
      for (;;) {
        try {
          ({ reply } = await proxy.upstream.exchange(r.msg, proto));
          error = undefined;
        } catch (e) {
          error = e as Error;
          reply = undefined;
          if (e instanceof CachedClosedError) continue;
        }
        // A truncated answer under prefer_udp is asked again over TCP.
        if (reply?.truncated && proto === "udp" && config.preferUdp) {
          proto = "tcp";
          continue;
        }
        break;
      }
      if (reply !== undefined) {
        requestDuration.observe(
          {
            proxy_name: "forward",
            to: proxy.addr,
            rcode: rcodeName(reply.rcode),
          },
          (performance.now() - start) / 1000,
        );
      }
      if (error !== undefined || reply === undefined) {
        upstreamError = error;
        if (config.maxFails !== 0) proxy.healthcheck();
        attempts++;
        if (attempts >= maxAttempts) break;
        continue;
      }
      if (!matches(r.msg, reply)) {
        await w.writeMsg(replyTo(r.msg, RCODE.FORMERR));
        return [RCODE.NOERROR];
      }
      if (config.failoverRcodes.includes(reply.rcode)) {
        failoverAttempts++;
        if (failoverAttempts < proxies.length) continue;
      }
      if (
        config.nextRcodes.includes(reply.rcode) && this.next?.name === "forward"
      ) return nextOrFailure(this.name, this.next, w, r);
      await w.writeMsg(reply);
      return [RCODE.NOERROR];
    }
    return [RCODE.SERVFAIL, upstreamError ?? new Error("no healthy proxies")];
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
