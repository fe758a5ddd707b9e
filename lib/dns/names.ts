/**
 * Domain-name helpers the plugins share (CoreDNS's `plugin.Host`,
 * `plugin.Name` and `plugin.Zones`).
 *
 * @module
 */

import { fqdn, reverseZones } from "../corefile/keys.ts";
import { parseCIDR } from "../net/ip.ts";

/**
 * CoreDNS's `plugin.Host(s).NormalizeExact()`: a zone argument as written
 * (`example.org`, `dns://example.org:53`, `10.0.0.0/24`) as lower-case fully
 * qualified zones; a CIDR becomes its reverse zones.
 */
export function normalizeZones(s: string): string[] {
  const scheme = s.indexOf("://");
  if (scheme >= 0) s = s.slice(scheme + 3);
  const net = parseCIDR(s);
  if (net !== undefined) return reverseZones(net);
  const colon = s.lastIndexOf(":");
  if (colon > 0 && !s.includes("]") && /^\d+$/.test(s.slice(colon + 1))) {
    s = s.slice(0, colon);
  }
  return [fqdn(s.toLowerCase())];
}

/** miekg/dns's `IsSubDomain` on lower-case fully qualified names. */
export function isSubDomain(parent: string, child: string): boolean {
  return parent === "." || child === parent || child.endsWith(`.${parent}`);
}

/** CoreDNS's `plugin.Zones.Matches`: the longest zone that holds `name`, or undefined. */
export function matchZone(
  zones: readonly string[],
  name: string,
): string | undefined {
  let best: string | undefined;
  for (const zone of zones) {
    if (
      isSubDomain(zone, name) &&
      (best === undefined || zone.length > best.length)
    ) {
      best = zone;
    }
  }
  return best;
}
