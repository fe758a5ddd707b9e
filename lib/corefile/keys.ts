/**
 * Server block keys → zone configs: CoreDNS's InspectServerBlocks with
 * plugin.SplitHostPort, the cidr helpers and miekg/dns IsDomainName
 * (corefile.md §3.1).
 *
 * @module
 */

import { CorefileError } from "./errors.ts";
import type { ServerBlock } from "./parser.ts";
import { type IPNet, parseCIDR } from "../net/ip.ts";
import { message } from "../errors.ts";

/** A server's transport, from the key's scheme. */
export type Transport =
  | "dns"
  | "tls"
  | "quic"
  | "grpc"
  | "https"
  | "https3"
  | "unix";

/** One normalized key of a server block. */
export interface ZoneConfig {
  transport: Transport;
  /** Lower-cased, fully qualified zone, e.g. "example.org." */
  zone: string;
  /** Port as text ("" for unix); not range-checked until groupServers. */
  port: string;
  /** "TRANSPORT://ZONE:PORT", e.g. "dns://example.org.:53". */
  key: string;
  /** Index of the server block. */
  block: number;
}

// Tried in this order, case-sensitively (parse.Transport).
const SCHEMES: readonly Transport[] = [
  "tls",
  "dns",
  "quic",
  "grpc",
  "https3",
  "https",
  "unix",
];

const DEFAULT_PORTS: Record<Transport, string | undefined> = {
  dns: undefined, // the -dns.port flag
  tls: "853",
  quic: "853",
  grpc: "443",
  https: "443",
  https3: "443",
  unix: "",
};

/** Splits off a known scheme; no scheme means dns. */
export function parseTransport(key: string): [Transport, string] {
  for (const t of SCHEMES) {
    const prefix = `${t}://`;
    if (key.startsWith(prefix)) return [t, key.slice(prefix.length)];
  }
  return ["dns", key];
}

const encoder = new TextEncoder();

/** Go's strconv.Atoi then Itoa: the canonical decimal text, or undefined. */
export function atoi(s: string): string | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s.startsWith("+") ? s.slice(1) : s);
  if (v > 9223372036854775807n || v < -9223372036854775808n) return undefined;
  return v.toString();
}

function isFqdn(s: string): boolean {
  if (!s.endsWith(".")) return false;
  s = s.slice(0, -1);
  if (s === "" || !s.endsWith("\\")) return true;
  // The dot is escaped when an odd number of backslashes precede it.
  let k = 0;
  while (k < s.length && s[s.length - 1 - k] === "\\") k++;
  return k % 2 === 0;
}

/** miekg/dns Fqdn: appends a dot unless the name ends in an unescaped one. */
export function fqdn(s: string): string {
  return isFqdn(s) ? s : s + ".";
}

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x39;
}

/**
 * miekg/dns IsDomainName (v1.1.72). Deliberately lenient, like CoreDNS: only
 * empty names, leading dots, `..`, labels of 64+ bytes and names over 255
 * wire bytes fail; `/foo`, `{x}` or `a,b` pass.
 */
export function isValidZoneName(name: string): boolean {
  if (name.length === 0) return false;
  const s = encoder.encode(fqdn(name));
  const lenmsg = 256;
  let off = 0;
  let begin = 0;
  let wasDot = false;
  for (let i = 0; i < s.length; i++) {
    switch (s[i]) {
      case 0x5c: // backslash
        if (off + 1 > lenmsg) return false;
        // \DDD or \X: skip the escaped text.
        if (isDigit(s[i + 1]) && isDigit(s[i + 2]) && isDigit(s[i + 3])) {
          i += 3;
          begin += 3;
        } else {
          i++;
          begin++;
        }
        wasDot = false;
        break;
      case 0x2e: {
        // dot
        if (i === 0 && s.length > 1) return false; // only the root may start with a dot
        if (wasDot) return false; // ".." is not legal
        wasDot = true;
        const labelLen = i - begin;
        if (labelLen >= 64) return false;
        off += 1 + labelLen;
        if (off > lenmsg) return false;
        begin = i + 1;
        break;
      }
      default:
        wasDot = false;
    }
  }
  return true;
}

function addToIP(ip: number[], bitPos: number, k: number): number[] {
  // Adds k << (len*8 - bitPos) to the address.
  const out = ip.slice();
  let carry = BigInt(k) << BigInt(out.length * 8 - bitPos);
  for (let j = out.length - 1; j >= 0 && carry > 0n; j--) {
    const sum = BigInt(out[j]!) + (carry & 0xffn);
    out[j] = Number(sum & 0xffn);
    carry = (carry >> 8n) + (sum >> 8n);
  }
  return out;
}

/**
 * cidr.Split + cidr.Reverse: the reverse zones covering a network, rounding
 * the prefix up to an 8-bit (IPv4) or 4-bit (IPv6) boundary.
 */
export function reverseZones(net: IPNet): string[] {
  const v6 = net.ip.length === 16;
  const boundary = v6 ? 4 : 8;
  const bits = net.ip.length * 8;
  const newOnes = Math.ceil(net.ones / boundary) * boundary;
  const count = 2 ** (newOnes - net.ones);
  const zones: string[] = [];
  for (let k = 0; k < count; k++) {
    const ip = addToIP(net.ip, newOnes, k);
    let labels: string[];
    if (v6) {
      labels = [];
      for (let j = ip.length - 1; j >= 0; j--) {
        labels.push((ip[j]! & 0xf).toString(16), (ip[j]! >> 4).toString(16));
      }
      labels.push("ip6", "arpa");
    } else {
      labels = ip.slice().reverse().map(String);
      labels.push("in-addr", "arpa");
    }
    const strip = (bits - newOnes) / boundary;
    zones.push(labels.slice(strip).join(".") + ".");
  }
  return zones;
}

/**
 * CoreDNS's plugin.SplitHostPort: host(s) and port of a key without scheme.
 * A CIDR becomes one or more reverse zones.
 *
 * @throws {Error} with CoreDNS's message (not yet wrapped)
 */
export function splitHostPort(s: string): { hosts: string[]; port: string } {
  let port = "";
  const colon = s.lastIndexOf(":");
  if (colon === s.length - 1) {
    throw new Error(`expecting data after last colon: ${goQuote(s)}`);
  }
  if (colon !== -1) {
    const p = atoi(s.slice(colon + 1));
    if (p !== undefined) {
      port = p;
      s = s.slice(0, colon);
    }
  }
  const len = encoder.encode(s).length;
  if (len > 255) {
    throw new Error(`specified zone is too long: ${len} > 255`);
  }
  if (!isValidZoneName(s)) {
    throw new Error(`zone is not a valid domain name: ${s}`);
  }
  const net = parseCIDR(s);
  if (net === undefined) return { hosts: [s], port };
  if (s[0] === ":" || (s[0] === "0" && s.includes(":"))) {
    throw new Error(`invalid CIDR ${s}`);
  }
  return { hosts: reverseZones(net), port };
}

/** Go's %q for the strings that reach it here. */
function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (c === 0x07) out += "\\a";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x0c) out += "\\f";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x0b) out += "\\v";
    else if (c < 0x20 || c === 0x7f) {
      out += "\\x" + c.toString(16).padStart(2, "0");
    } else if (!isGoPrintable(c)) {
      out += c > 0xffff
        ? "\\U" + c.toString(16).padStart(8, "0")
        : "\\u" + c.toString(16).padStart(4, "0");
    } else out += ch;
  }
  return out + '"';
}

// Close enough to Go's strconv.IsPrint for names in a Corefile: controls,
// surrogates, non-characters and separators other than space are escaped.
function isGoPrintable(c: number): boolean {
  if (c >= 0x80 && c < 0xa0) return false;
  if (c === 0xad) return false;
  if (c >= 0xd800 && c <= 0xdfff) return false;
  if (c === 0xfffd) return true;
  if ((c & 0xfffe) === 0xfffe) return false;
  return !/[\p{Z}\p{Cc}\p{Cf}\p{Co}\p{Cn}]/u.test(String.fromCodePoint(c)) ||
    c === 0x20;
}

function toLowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/**
 * Normalizes every key of every block into zone configs (CoreDNS's
 * InspectServerBlocks). A CIDR key expands into several configs; the
 * configs of a block follow its keys, expansions in place.
 *
 * @param blocks parsed server blocks
 * @param options dnsPort: port for dns:// keys without one (default "53")
 * @returns per block, its configs in key order
 * @throws {CorefileError} "error inspecting server blocks: ..." (file "", line 0)
 *
 * @example Usage
 * ```ts
 * import { inspectServerBlocks } from "./keys.ts";
 * const [configs] = inspectServerBlocks([
 *   { keys: ["10.0.0.0/23"], tokens: new Map() },
 * ]);
 * if (configs?.[1]?.key !== "dns://1.0.10.in-addr.arpa.:53") throw new Error();
 * ```
 */
export function inspectServerBlocks(
  blocks: ServerBlock[],
  options: { dnsPort?: string } = {},
): ZoneConfig[][] {
  const { dnsPort = "53" } = options;
  return blocks.map((block, ib) => {
    const configs: ZoneConfig[] = [];
    for (const key of block.keys) {
      const [transport, rest] = parseTransport(key);
      let split: { hosts: string[]; port: string };
      try {
        split = splitHostPort(rest);
        // Check again fully qualified: CoreDNS found names that pass bare
        // but fail with the dot (#3959).
        for (const h of split.hosts) splitHostPort(fqdn(h));
      } catch (e) {
        throw new CorefileError(
          `error inspecting server blocks: ${message(e)}`,
        );
      }
      let port = split.port;
      if (port === "") port = DEFAULT_PORTS[transport] ?? dnsPort;
      for (const h of split.hosts) {
        const zone = toLowerAscii(fqdn(h));
        configs.push({
          transport,
          zone,
          port,
          key: `${transport}://${zone}:${port}`,
          block: ib,
        });
      }
    }
    return configs;
  });
}
