/** *cache*'s Corefile syntax: TTLs, capacities and properties, validated with CoreDNS's messages. */
import type { Dispenser } from "../../lib/corefile/mod.ts";
import { normalizeZones } from "../../lib/dns/names.ts";
import { parseDuration } from "../../lib/duration.ts";
import { OnceError } from "../../lib/server/errors.ts";

const MAX_TTL = 3600;
export const MIN_TTL = 5;
const MAX_NTTL = 1800;
const MIN_NTTL = 5;
export const DEFAULT_CAPACITY = 10_000;

export interface CacheConfig {
  zones: string[];
  pcap: number;
  pttl: number;
  minpttl: number;
  ncap: number;
  nttl: number;
  minnttl: number;
  /** Seconds a SERVFAIL is cached; 0 never. */
  failttl: number;
  /** 0: no prefetching. */
  prefetch: number;
  prefetchWindowMs: number;
  percentage: number;
  /** Seconds an expired entry may still be served; 0: never. */
  staleUpTo: number;
  verifyStale: boolean;
  pexcept: string[];
  nexcept: string[];
  keepttl: boolean;
}

function defaults(): CacheConfig {
  return {
    zones: ["."],
    pcap: DEFAULT_CAPACITY,
    pttl: MAX_TTL,
    minpttl: MIN_TTL,
    ncap: DEFAULT_CAPACITY,
    nttl: MAX_NTTL,
    minnttl: MIN_NTTL,
    failttl: MIN_NTTL,
    prefetch: 0,
    prefetchWindowMs: 60_000,
    percentage: 10,
    staleUpTo: 0,
    verifyStale: false,
    pexcept: [],
    nexcept: [],
    keepttl: false,
  };
}

/** Go's `strconv.Atoi`, with its error text. */
function atoi(d: Dispenser, text: string): number {
  if (!/^[+-]?\d+$/.test(text)) {
    throw d.err(`strconv.Atoi: parsing "${text}": invalid syntax`);
  }
  return Number(text);
}

function ttlArg(d: Dispenser, text: string): number {
  const ttl = atoi(d, text);
  if (ttl <= 0) {
    throw d.err(`cache TTL can not be zero or negative: ${ttl}`);
  }
  return ttl;
}

function minTtlArg(d: Dispenser, text: string): number {
  const ttl = atoi(d, text);
  if (ttl < 0) throw d.err(`cache min TTL can not be negative: ${ttl}`);
  return ttl;
}

function durationArg(d: Dispenser, text: string): number {
  try {
    return parseDuration(text) / 1e6;
  } catch (error) {
    throw d.err((error as Error).message);
  }
}

/** Parses the block's `cache` line; `keys` are the server block's zones (the default ZONES). */
export function parseCache(
  d: Dispenser,
  keys: readonly string[],
): CacheConfig {
  const c = defaults();
  let seen = false;
  while (d.next()) {
    if (seen) throw new OnceError();
    seen = true;
    const args = d.remainingArgs();
    if (args.length > 0 && /^[+-]?\d+$/.test(args[0]!)) {
      c.pttl = c.nttl = ttlArg(d, args.shift()!);
    }
    const origins = args.length > 0 ? args : keys;
    c.zones = [...new Set(origins.flatMap(normalizeZones))];
    while (d.nextBlock()) {
      const property = d.val();
      const rest = d.remainingArgs();
      switch (property) {
        case "success":
        case "denial": {
          if (rest.length === 0 || rest.length > 3) throw d.argErr();
          const cap = atoi(d, rest[0]!);
          if (cap <= 0) {
            throw d.err(`cache capacity must be positive: ${cap}`);
          }
          const ttl = rest[1] === undefined ? undefined : ttlArg(d, rest[1]);
          const min = rest[2] === undefined ? undefined : minTtlArg(d, rest[2]);
          if (property === "success") {
            c.pcap = cap;
            if (ttl !== undefined) c.pttl = ttl;
            if (min !== undefined) c.minpttl = min;
          } else {
            c.ncap = cap;
            if (ttl !== undefined) c.nttl = ttl;
            if (min !== undefined) c.minnttl = min;
          }
          break;
        }
        case "prefetch": {
          if (rest.length === 0 || rest.length > 3) throw d.argErr();
          const amount = atoi(d, rest[0]!);
          if (amount < 0) {
            throw d.err(`prefetch amount should be positive: ${amount}`);
          }
          c.prefetch = amount;
          if (rest[1] !== undefined) {
            c.prefetchWindowMs = durationArg(d, rest[1]);
          }
          if (rest[2] !== undefined) {
            const pct = rest[2];
            if (!pct.endsWith("%")) {
              throw d.err(
                `last character of percentage should be \`%\`, but is: '${
                  pct.at(-1)
                }'`,
              );
            }
            const num = atoi(d, pct.slice(0, -1));
            if (num < 10 || num > 90) {
              throw d.err(`percentage should fall in range [10, 90]: ${num}`);
            }
            c.percentage = num;
          }
          break;
        }
        case "serve_stale": {
          if (rest.length > 2) throw d.argErr();
          c.staleUpTo = 3600;
          if (rest[0] !== undefined) {
            const ms = durationArg(d, rest[0]);
            if (ms < 0) {
              throw d.err("invalid negative duration for serve_stale");
            }
            c.staleUpTo = Math.floor(ms / 1000);
          }
          if (rest[1] !== undefined) {
            const mode = rest[1].toLowerCase();
            if (mode !== "immediate" && mode !== "verify") {
              throw d.err(
                `invalid value for serve_stale refresh mode: ${mode}`,
              );
            }
            c.verifyStale = mode === "verify";
          }
          break;
        }
        case "servfail": {
          if (rest.length !== 1) throw d.argErr();
          const ms = durationArg(d, rest[0]!);
          if (ms < 0) throw d.err("invalid negative ttl for servfail");
          if (ms > 300_000) {
            throw d.err(
              "caching SERVFAIL responses over 5 minutes is not permitted",
            );
          }
          c.failttl = Math.floor(ms / 1000);
          break;
        }
        case "disable": {
          if (rest.length === 0) throw d.argErr();
          const zones = rest.length > 1
            ? rest.slice(1).flatMap(normalizeZones)
            : c.zones;
          if (rest[0] === "success") c.pexcept = zones;
          else if (rest[0] === "denial") c.nexcept = zones;
          else throw d.err(`cache type for disable is unknown: ${rest[0]}`);
          break;
        }
        case "keepttl":
          if (rest.length > 0) throw d.argErr();
          c.keepttl = true;
          break;
        default:
          throw d.err(`unknown property '${property}'`);
      }
    }
  }
  return c;
}
