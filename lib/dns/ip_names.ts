/**
 * Addresses as DNS names use them: Go's canonical text of an IP (what
 * `net.IP.String` prints: dotted IPv4, RFC 5952 IPv6) and the address a
 * reverse name stands for (CoreDNS's `dnsutil.ExtractAddressFromReverse`).
 *
 * @module
 */

import { parseIP } from "../net/ip.ts";

/** Address bytes (4 or 16) as Go prints them; an IPv4-mapped IPv6 address prints as IPv4. */
export function formatIP(ip: readonly number[]): string {
  if (
    ip.length === 16 && ip.slice(0, 10).every((b) => b === 0) &&
    ip[10] === 0xff && ip[11] === 0xff
  ) {
    ip = ip.slice(12);
  }
  if (ip.length === 4) return ip.join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(ip[i]! << 8 | ip[i + 1]!);
  // The longest run of two or more zero groups (the first on a tie) becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (list: number[]) => list.map((g) => g.toString(16)).join(":");
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** Go's `net.ParseIP(s).String()`; undefined when `s` is not an address. */
export function canonicalIP(s: string): string | undefined {
  const ip = parseIP(s);
  return ip === undefined ? undefined : formatIP(ip);
}

/** Whether the address is IPv4 (Go's `To4() != nil`), mapped addresses included. */
export function isIPv4(s: string): boolean {
  return !(canonicalIP(s) ?? ":").includes(":");
}

/**
 * The address of a reverse name (`4.3.2.1.in-addr.arpa.` → `1.2.3.4`, 32
 * nibbles under `ip6.arpa.` → the IPv6 address); undefined for anything else.
 */
export function addressFromReverse(name: string): string | undefined {
  const lower = name.toLowerCase();
  if (lower.endsWith(".in-addr.arpa.")) {
    const labels = lower.slice(0, -".in-addr.arpa.".length).split(".");
    if (labels.length !== 4) return undefined;
    return canonicalIP(labels.reverse().join("."));
  }
  if (lower.endsWith(".ip6.arpa.")) {
    const nibbles = lower.slice(0, -".ip6.arpa.".length).split(".");
    if (nibbles.length !== 32 || nibbles.some((n) => !/^[0-9a-f]$/.test(n))) {
      return undefined;
    }
    const hex = nibbles.reverse().join("");
    const groups = hex.match(/.{4}/g)!;
    return canonicalIP(groups.join(":"));
  }
  return undefined;
}
