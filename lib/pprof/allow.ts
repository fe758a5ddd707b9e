/**
 * `allow CIDR...`: which clients a pprof surface answers. Profiles show a
 * process's code and memory; off loopback they should not be everyone's.
 */

import { type IPNet, netContains, parseCIDR, parseIP } from "../net/ip.ts";

/** Parses `10.0.0.0/8`, `::1/128` or a bare address (one host); undefined if neither. */
export function parseAllowed(text: string): IPNet | undefined {
  if (text.includes("/")) return parseCIDR(text);
  const ip = parseIP(text);
  return ip === undefined ? undefined : { ip, ones: ip.length * 8 };
}

/** Whether `address` (as Deno reports a peer) falls in any of `nets`. */
export function isAllowed(nets: readonly IPNet[], address: string): boolean {
  let ip = parseIP(address.replace(/^\[|\]$/g, ""));
  if (ip === undefined) return false;
  // An IPv4 client of a dual-stack socket appears as ::ffff:a.b.c.d.
  if (
    ip.length === 16 && ip.slice(0, 10).every((b) => b === 0) &&
    ip[10] === 0xff && ip[11] === 0xff
  ) {
    ip = ip.slice(12);
  }
  return nets.some((net) => netContains(net, ip));
}

/** Loopback hosts: `localhost`, 127.0.0.0/8, ::1. */
export function isLoopbackHost(host: string): boolean {
  if (host.toLowerCase() === "localhost") return true;
  const ip = parseIP(host);
  if (ip === undefined) return false;
  if (ip.length === 4) return ip[0] === 127;
  return ip.slice(0, 15).every((b) => b === 0) && ip[15] === 1;
}
