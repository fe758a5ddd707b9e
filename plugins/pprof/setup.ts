/**
 * `pprof [ADDRESS] { block [RATE] }`: CoreDNS's syntax and error texts, with
 * the deliberate differences of DESIGN.md: RATE must be positive, the port is
 * checked here rather than at listen time, blocks naming the same address
 * share one listener, and blocks that disagree on the block rate are an error.
 */

import { message } from "../../lib/errors.ts";
import type { Dispenser } from "../../lib/corefile/mod.ts";
import { parseError } from "../../lib/corefile/errors.ts";
import { listenHostPort } from "../../lib/net/host_port.ts";
import { OnceError } from "../../lib/server/errors.ts";
import type { Controller } from "../../lib/server/plugin.ts";
import { type HttpListener, reportPort } from "../../lib/net/http_listeners.ts";
import { parseAllowed } from "../../lib/pprof/allow.ts";
import { pprofProcess, surfaceHandler } from "../../lib/pprof/process.ts";
import { PPROF_PATH } from "../../lib/pprof/handler.ts";
import type { ProfilerHold } from "../../lib/profile/process.ts";
import { type AllowedNet, listenPprof } from "../../lib/pprof/surface.ts";
import { DEFAULT_ADDRESS } from "../../lib/pprof/mod.ts";

export { DEFAULT_ADDRESS };

/** One block's `pprof` directive, validated. */
export interface PprofConfig {
  /** As written, e.g. `localhost:6053`, `:6060`, `[::1]:6060`. */
  address: string;
  host: string;
  port: number;
  /** Block-profile rate in nanoseconds; 0 when `block` is absent. */
  blockRate: number;
  /** Where `block` was set, for conflict messages. */
  blockRateAt?: Position;
  /**
   * `allocations`: sample every allocation (allocs serves cumulative
   * alloc_space) instead of live objects. V8 has one heap sampler, so this
   * is one mode for the whole process.
   */
  allocations: boolean;
  /** `allow CIDR...`: the clients answered; empty means everyone who can connect. */
  allow: AllowedNet[];
  /** Where the directive is, for messages about it. */
  at: Position;
}

/** Parses one block's pprof tokens. Throws with CoreDNS's messages. */
export function parsePprof(d: Dispenser): PprofConfig {
  let address = DEFAULT_ADDRESS;
  let bound = listenHostPort(address, (m) => d.err(m));
  let blockRate = 0;
  let blockRateAt: Position | undefined;
  let allocations = false;
  const allow: PprofConfig["allow"] = [];
  let at: Position = { file: "", line: 0 };
  let seen = false;
  while (d.next()) {
    if (seen) throw new OnceError();
    seen = true;
    at = { file: d.file(), line: d.line() };
    const args = d.remainingArgs();
    if (args.length > 1) throw d.argErr();
    if (args.length === 1) {
      address = args[0]!;
      bound = listenHostPort(address, (m) => d.err(m));
    }
    while (d.nextBlock()) {
      switch (d.val()) {
        case "block": {
          const rateArgs = d.remainingArgs();
          if (rateArgs.length > 1) throw d.argErr();
          blockRate = rateArgs.length === 0 ? 1 : parseRate(d, rateArgs[0]!);
          blockRateAt = { file: d.file(), line: d.line() };
          break;
        }
        case "allocations":
          if (d.nextArg()) throw d.argErr();
          allocations = true;
          break;
        case "allow": {
          const nets = d.remainingArgs();
          if (nets.length === 0) throw d.argErr();
          for (const text of nets) {
            const net = parseAllowed(text);
            if (net === undefined) {
              throw d.err(`property 'allow' invalid address or CIDR '${text}'`);
            }
            allow.push({ text, net });
          }
          break;
        }
        default:
          throw d.err(`unknown property '${d.val()}'`);
      }
    }
  }
  return {
    address,
    ...bound,
    blockRate,
    ...(blockRateAt ? { blockRateAt } : {}),
    allocations,
    allow,
    at,
  };
}

/** Go's `strconv.Atoi` (sign, leading zeros), then positive only, as the README says. */
function parseRate(d: Dispenser, text: string): number {
  if (!/^[+-]?\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw d.err(`property 'block' invalid integer value '${text}'`);
  }
  const rate = Number(text);
  if (rate <= 0) {
    throw d.err(
      `property 'block' invalid value '${text}': RATE must be a positive integer`,
    );
  }
  return rate;
}

/** Everything the pprof blocks of one configuration ask for. */
interface PprofRegistry {
  listeners: Map<string, PprofConfig>;
  blockRate?: { rate: number; at: Position };
  /** Any block asked for allocation sampling. */
  allocations: boolean;
}

/** The plugin's setup: validate, then open one listener per distinct address at startup. */
export function setup(c: Controller): void {
  const config = parsePprof(c.dispenser);
  const registry = c.shared<PprofRegistry>(
    "pprof",
    () => ({ listeners: new Map(), allocations: false }),
  );
  registry.allocations ||= config.allocations;
  // One hold on the process's profiler for the configuration, taken before
  // any listener opens (the first block to set up registers it, so its hooks
  // run first). A reload's new configuration supersedes the old one's.
  const profiler = c.shared("pprof.profiler", () => {
    const shared: { hold?: ProfilerHold } = {};
    c.onStartup(async () => {
      const settings = {
        blockRate: registry.blockRate?.rate ?? 0,
        allocations: registry.allocations,
      };
      shared.hold = pprofProcess(settings).hold(settings, {
        source: "Corefile",
        supersede: true,
      });
      await shared.hold.ready;
    });
    c.onShutdown(async () => {
      await shared.hold?.release();
      shared.hold = undefined;
    });
    return shared;
  });
  if (config.blockRate > 0) {
    // Block profiling is process-wide: one rate, whichever listener serves it.
    const previous = registry.blockRate;
    if (previous && previous.rate !== config.blockRate) {
      throw parseError(
        config.blockRateAt!.file,
        config.blockRateAt!.line,
        `block rate ${config.blockRate} conflicts with block rate ${previous.rate} at ${
          where(previous.at)
        } (block profiling is process-wide)`,
      );
    }
    registry.blockRate = { rate: config.blockRate, at: config.blockRateAt! };
  }
  const key = listenerKey(config);
  const sharing = registry.listeners.get(key);
  if (sharing !== undefined) {
    // The same address: one listener, so one allow list.
    if (allowList(sharing) !== allowList(config)) {
      throw parseError(
        config.at.file,
        config.at.line,
        `blocks sharing ${config.address} must allow the same clients: '${
          allowList(config) || "everyone"
        }' here, '${allowList(sharing) || "everyone"}' at ${where(sharing.at)}`,
      );
    }
    return;
  }
  registry.listeners.set(key, config);

  let listener: HttpListener | undefined;
  c.onStartup(() => {
    const settings = {
      blockRate: registry.blockRate?.rate ?? 0,
      allocations: registry.allocations,
    };
    // Long captures end when their client goes: coredeno runs with
    // --unstable-no-legacy-abort (deno.json), so reading the signal is quiet.
    const surface = {
      allow: config.allow,
      path: PPROF_PATH,
      clientSignal: true,
    };
    const handler = surfaceHandler(
      pprofProcess(settings),
      profiler.hold!.ready,
      surface,
    );
    try {
      listener = listenPprof(config, config.allow, handler);
      reportPort("pprof", config, listener);
    } catch (error) {
      throw new Error(
        `plugin/pprof: Failed to start pprof handler: ${message(error)}`,
        { cause: error },
      );
    }
  });
  c.onShutdown(async () => {
    await listener?.release();
    listener = undefined;
  });
}

/** A directive's or property's place in the Corefile. */
interface Position {
  file: string;
  line: number;
}

function where(position: Position): string {
  return `${position.file}:${position.line}`;
}

function allowList(config: PprofConfig): string {
  return config.allow.map((a) => a.text).sort().join(" ");
}

function listenerKey(config: PprofConfig): string {
  return `${config.host.toLowerCase()}:${config.port}`;
}
