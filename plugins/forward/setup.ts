/** *forward*'s Corefile syntax: the directive, its properties and upstream addresses, validated with CoreDNS's messages. */
import type { Dispenser } from "../../lib/corefile/mod.ts";
import { parseError } from "../../lib/corefile/errors.ts";
import { fqdn } from "../../lib/corefile/keys.ts";
import { normalizeZones } from "../../lib/dns/names.ts";
import { DEFAULT_MAX_IDLE_CONNS } from "../../lib/dns/upstream.ts";
import { rcodeByName } from "../../lib/dns/wire.ts";
import { parseDuration } from "../../lib/duration.ts";
import { splitHostPort } from "../../lib/net/host_port.ts";
import { parseIP } from "../../lib/net/ip.ts";

/** CoreDNS's limit on upstreams per `forward` line. */
export const MAX_UPSTREAMS = 15;

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
  /** Idle connections kept per upstream and protocol; 0: no limit. */
  maxIdleConns: number;
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

function defaults(): ForwardConfig {
  return {
    from: ".",
    ignored: [],
    to: [],
    forceTcp: false,
    preferUdp: false,
    maxFails: 2,
    expireMs: 10_000,
    maxIdleConns: DEFAULT_MAX_IDLE_CONNS,
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
    const rc = rcodeByName(name.toUpperCase());
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
    case "max_idle_conns": {
      if (!d.nextArg()) throw d.argErr();
      const text = d.val();
      if (!/^[+-]?\d+$/.test(text)) {
        throw d.err(`strconv.Atoi: parsing "${text}": invalid syntax`);
      }
      const n = Number(text);
      if (n < 0) throw d.err(`max_idle_conns can't be negative: ${n}`);
      f.maxIdleConns = n;
      break;
    }
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
