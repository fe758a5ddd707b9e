/** Startup lines as CoreDNS prints them (corefile.md §6.3). */

import type { ServerGroup } from "../corefile/mod.ts";
import { GIT_COMMIT, VERSION } from "../version.ts";

/** RFC 1035 preferred syntax, lower-cased (zones are lower-cased already). */
const PREFERRED_LABEL = /^[a-z]([a-z0-9-]*[a-z0-9])?$/;

/** One `PREFIXZONE:PORT` line per zone, sorted within each server, with CoreDNS's syntax warnings. */
export function zoneLines(servers: readonly ServerGroup[]): string[] {
  const lines: string[] = [];
  for (const server of servers) {
    const prefix = server.transport === "dns" ? "" : `${server.transport}://`;
    const zones = [...new Set(server.zones.map((z) => z.zone))].sort();
    for (const zone of zones) {
      if (!followsPreferredSyntax(zone)) {
        lines.push(
          `Warning: Domain "${zone}" does not follow RFC1035 preferred syntax`,
        );
      }
      const on = server.host === "" ? "" : ` on ${server.host}`;
      lines.push(`${prefix}${zone}:${server.port}${on}`);
    }
  }
  return lines;
}

function followsPreferredSyntax(zone: string): boolean {
  if (
    zone === "." || zone.endsWith(".in-addr.arpa.") ||
    zone.endsWith(".ip6.arpa.")
  ) return true;
  return zone.slice(0, -1).split(".").every((label) =>
    PREFERRED_LABEL.test(label)
  );
}

/** `coredeno-VERSION` and the platform line (CoreDNS: `GOOS/GOARCH, goVERSION, COMMIT`). */
export function versionLines(): string[] {
  return [
    `coredeno-${VERSION}`,
    `${Deno.build.os}/${Deno.build.arch}, deno${Deno.version.deno}, ${GIT_COMMIT}`,
  ];
}
