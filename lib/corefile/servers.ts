/**
 * Grouping zone configs into listeners and the duplicate-zone checks of
 * CoreDNS's MakeServers (corefile.md §3.2).
 *
 * @module
 */

import { CorefileError } from "./errors.ts";
import type { Transport, ZoneConfig } from "./keys.ts";

/** One listener: every zone served on the same transport and address. */
export interface ServerGroup {
  /** "TRANSPORT://HOST:PORT", e.g. "dns://:53". */
  address: string;
  transport: Transport;
  /** Listen host; "" is the wildcard (no bind plugin yet). */
  host: string;
  port: number;
  /** Configs served here, in config order (block order, then key order). */
  zones: ZoneConfig[];
}

/**
 * Go's net.LookupPort for a numeric port text: the port, or CoreDNS's
 * error. Service names (possible only through -dns.port) are not looked up
 * in /etc/services here; they fail like an unknown service.
 */
function resolvePort(port: string): number {
  if (port === "") return 0; // Go: an empty port means 0
  const m = /^([+-]?)([0-9]+)$/.exec(port);
  if (m === null) throw new CorefileError(`address tcp/${port}: unknown port`);
  const v = BigInt(m[2]!) * (m[1] === "-" ? -1n : 1n);
  if (v < 0n || v > 65535n) {
    throw new CorefileError(`address ${port}: invalid port`);
  }
  return Number(v);
}

/**
 * Groups configs by transport and listen address, as CoreDNS does once all
 * plugins are set up, then rejects a zone defined twice on one listener.
 * Port errors are reported before duplicates, as in CoreDNS.
 *
 * @param configs inspectServerBlocks() output
 * @returns the listeners in order of first appearance
 * @throws {CorefileError} "address 99999: invalid port", "cannot serve dns://example.org.:53 - it is already defined"
 *
 * @example Usage
 * ```ts
 * import { groupServers } from "./servers.ts";
 * const groups = groupServers([[{
 *   transport: "dns", zone: ".", port: "53", key: "dns://.:53", block: 0,
 * }]]);
 * if (groups[0]?.address !== "dns://:53") throw new Error();
 * ```
 */
export function groupServers(configs: ZoneConfig[][]): ServerGroup[] {
  const groups = new Map<string, ServerGroup>();
  const all = configs.flat();
  for (const conf of all) {
    const host = "";
    const port = resolvePort(conf.port);
    const address = `${conf.transport}://${host}:${port}`;
    let group = groups.get(address);
    if (group === undefined) {
      group = { address, transport: conf.transport, host, port, zones: [] };
      groups.set(address, group);
    }
    group.zones.push(conf);
  }
  // Without bind every config listens on the wildcard address, so the only
  // possible overlap is the exact same transport, zone and port.
  const seen = new Set<string>();
  for (const conf of all) {
    const id = `${conf.transport}\u0000${conf.zone}\u0000\u0000${conf.port}`;
    if (seen.has(id)) {
      throw new CorefileError(
        `cannot serve ${conf.key} - it is already defined`,
      );
    }
    seen.add(id);
  }
  return [...groups.values()];
}
