/**
 * *loadbalance*: `loadbalance [round_robin] { prefer CIDR... }`, CoreDNS's
 * round-robin shuffle of the A and AAAA (and MX) records in every
 * successful reply, so clients that take the first address spread over all
 * of them. `prefer` moves addresses inside the given networks to the front,
 * after the shuffle. The `weighted` policy is not available.
 */

import type { Dispenser } from "../../lib/corefile/mod.ts";
import {
  type DnsRequest,
  type Handler,
  type HandlerResult,
  nextOrFailure,
  type ResponseWriter,
} from "../../lib/dns/handler.ts";
import { RCODE, type Rr } from "../../lib/dns/wire.ts";
import {
  type IPNet,
  netContains,
  parseCIDR,
  parseIP,
} from "../../lib/net/ip.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";

export interface LoadbalanceConfig {
  prefer: IPNet[];
}

/** Parses the block's `loadbalance` lines. */
export function parseLoadbalance(d: Dispenser): LoadbalanceConfig {
  const config: LoadbalanceConfig = { prefer: [] };
  while (d.next()) {
    const args = d.remainingArgs();
    if (args.length > 0) {
      if (args[0] === "round_robin") {
        if (args.length > 1) {
          throw d.err(`unknown property for ${args[0]}`);
        }
      } else if (args[0] === "weighted") {
        throw d.err(
          "policy 'weighted' is not available in coredeno (available: round_robin)",
        );
      } else throw d.err(`unknown policy: ${args[0]}`);
    }
    while (d.nextBlock()) {
      if (d.val() !== "prefer") throw d.err(`unknown property '${d.val()}'`);
      const cidrs = d.remainingArgs();
      if (cidrs.length === 0) throw d.argErr();
      for (const cidr of cidrs) {
        const net = parseCIDR(cidr);
        if (net === undefined) {
          throw d.err(`invalid CIDR "${cidr}": invalid CIDR address: ${cidr}`);
        }
        config.prefer.push(net);
      }
    }
  }
  return config;
}

/** Shuffles in place as CoreDNS does: a coin for two records, swaps for more. */
function shuffle(records: Rr[]): void {
  const n = records.length;
  if (n < 2) return;
  if (n === 2) {
    if (Math.random() < 0.5) {
      [records[0], records[1]] = [records[1]!, records[0]!];
    }
    return;
  }
  for (let j = 0; j < n; j++) {
    const p = j + Math.floor(Math.random() * (n - j));
    if (p !== j) [records[j], records[p]] = [records[p]!, records[j]!];
  }
}

/** CoreDNS's `roundRobin`: CNAMEs first, then other records, shuffled addresses, shuffled MX. */
export function roundRobin(records: readonly Rr[]): Rr[] {
  if (records.length <= 1) return [...records];
  const first = records[0]!.type;
  if (
    (first === "A" || first === "AAAA") &&
    records.every((rr) => rr.type === first)
  ) {
    const out = [...records];
    shuffle(out);
    return out;
  }
  const cname: Rr[] = [];
  const address: Rr[] = [];
  const mx: Rr[] = [];
  const rest: Rr[] = [];
  for (const rr of records) {
    if (rr.type === "CNAME") cname.push(rr);
    else if (rr.type === "A" || rr.type === "AAAA") address.push(rr);
    else if (rr.type === "MX") mx.push(rr);
    else rest.push(rr);
  }
  shuffle(address);
  shuffle(mx);
  return [...cname, ...rest, ...address, ...mx];
}

/** Addresses inside `prefer` move to the front, keeping their order. */
function preferred(records: Rr[], prefer: readonly IPNet[]): Rr[] {
  if (prefer.length === 0) return records;
  const inside = (rr: Rr) => {
    if (rr.type !== "A" && rr.type !== "AAAA") return false;
    const ip = parseIP(String(rr.data));
    return ip !== undefined && prefer.some((net) => netContains(net, ip));
  };
  return [...records.filter(inside), ...records.filter((rr) => !inside(rr))];
}

export function loadbalanceHandler(
  config: LoadbalanceConfig,
  next: Handler | undefined,
): Handler {
  return {
    name: "loadbalance",
    serveDNS(w: ResponseWriter, r: DnsRequest): Promise<HandlerResult> {
      const shuffling: ResponseWriter = {
        writeMsg(m) {
          const type = m.question[0]?.type;
          if (m.rcode !== RCODE.NOERROR || type === "AXFR" || type === "IXFR") {
            return w.writeMsg(m);
          }
          m.answer = preferred(roundRobin(m.answer), config.prefer);
          m.ns = roundRobin(m.ns);
          m.extra = roundRobin(m.extra);
          return w.writeMsg(m);
        },
      };
      return nextOrFailure("loadbalance", next, shuffling, r);
    },
  };
}

function setup(c: Controller): void {
  const config = parseLoadbalance(c.dispenser);
  c.use((next) => loadbalanceHandler(config, next));
}

export const loadbalance: Plugin = { name: "loadbalance", setup };
