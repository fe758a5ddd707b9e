/**
 * One loaded configuration: parse → default fallback → key inspection →
 * plugin setup → server grouping, then start and stop. The stage order is
 * CoreDNS's, so the same broken Corefile reports the same first error.
 */

import {
  Dispenser,
  groupServers,
  inspectServerBlocks,
  parseCorefile,
  type ServerBlock,
  type ServerGroup,
  type ZoneConfig,
} from "../corefile/mod.ts";
import { log } from "../log.ts";
import { PluginError } from "./errors.ts";
import type { Controller, Hook, Plugin } from "./plugin.ts";

export interface LoadOptions {
  /** The Corefile's name as given (`Corefile`, the `-conf` value): errors use it. */
  filename: string;
  /** Directory the Corefile lives in, for relative imports; default the cwd. */
  dir?: string;
  /** Every directive name the Corefile may use, in execution (plugin.cfg) order. */
  directives: readonly string[];
  /** The implemented plugins; a known directive without one fails at setup. */
  plugins: readonly Plugin[];
  /** `-dns.port`: the port of dns:// keys that name none. Default "53". */
  dnsPort?: string;
  env?: (name: string) => string | undefined;
}

export interface Instance {
  readonly blocks: readonly ServerBlock[];
  readonly zones: readonly (readonly ZoneConfig[])[];
  readonly servers: readonly ServerGroup[];
  /** True when the Corefile had no server block and the built-in default ran. */
  readonly usedDefaultInput: boolean;
  /** Runs the startup hooks in order; on failure stops what started, then throws. */
  start(): Promise<void>;
  /** Runs the shutdown hooks in order; returns the errors they threw. */
  stop(): Promise<unknown[]>;
}

/** CoreDNS's built-in configuration, used when a Corefile has no server block. */
export function defaultCorefile(dnsPort = "53"): string {
  return `.:${dnsPort} {\nwhoami\nlog\n}\n`;
}

/** Loads a Corefile up to the point where sockets would open. Throws on the first error. */
export function loadInstance(text: string, options: LoadOptions): Instance {
  const { dnsPort = "53" } = options;
  const parseOptions = {
    directives: new Set(options.directives),
    ...(options.dir === undefined ? {} : { dir: options.dir }),
    ...(options.env === undefined ? {} : { env: options.env }),
  };
  let blocks = parseCorefile(text, {
    ...parseOptions,
    filename: options.filename,
  });
  const usedDefaultInput = blocks.length === 0;
  if (usedDefaultInput) {
    blocks = parseCorefile(defaultCorefile(dnsPort), {
      ...parseOptions,
      filename: "Corefile",
    });
  }
  const zones = inspectServerBlocks(blocks, { dnsPort });
  const hooks = setupPlugins(blocks, zones, options);
  const servers = groupServers(zones);
  return { blocks, zones, servers, usedDefaultInput, ...lifecycle(hooks) };
}

interface Hooks {
  startup: Hook[];
  shutdown: Hook[];
}

function setupPlugins(
  blocks: readonly ServerBlock[],
  zones: readonly (readonly ZoneConfig[])[],
  options: LoadOptions,
): Hooks {
  const hooks: Hooks = { startup: [], shutdown: [] };
  const shared = new Map<string, unknown>();
  const plugins = new Map(options.plugins.map((p) => [p.name, p]));
  // Directive-major, in plugin.cfg order, as CoreDNS: which error is reported
  // first depends on that order, never on the Corefile's line order.
  for (const name of options.directives) {
    const plugin = plugins.get(name);
    blocks.forEach((block, index) => {
      const tokens = block.tokens.get(name);
      if (tokens === undefined) return;
      const dispenser = new Dispenser(options.filename, tokens);
      if (plugin === undefined) {
        // CoreDNS knows it, coredeno does not: ignoring `cache` or `forward`
        // would silently serve something else, so refuse.
        dispenser.next();
        const available = [...plugins.keys()].sort().join(", ");
        throw new PluginError(
          name,
          dispenser.err(`not available in coredeno (available: ${available})`),
        );
      }
      const controller: Controller = {
        dispenser,
        keys: (zones[index] ?? []).map((z) => z.key),
        onStartup: (hook) => void hooks.startup.push(hook),
        onShutdown: (hook) => void hooks.shutdown.push(hook),
        shared<T>(key: string, create: () => T): T {
          if (!shared.has(key)) shared.set(key, create());
          return shared.get(key) as T;
        },
      };
      try {
        plugin.setup(controller);
      } catch (error) {
        throw error instanceof PluginError
          ? error
          : new PluginError(name, error);
      }
    });
  }
  return hooks;
}

function lifecycle(hooks: Hooks): Pick<Instance, "start" | "stop"> {
  let state: "new" | "started" | "stopped" = "new";
  async function stop(): Promise<unknown[]> {
    if (state === "stopped") return [];
    state = "stopped";
    const errors: unknown[] = [];
    for (const hook of hooks.shutdown) {
      try {
        await hook();
      } catch (error) {
        errors.push(error);
      }
    }
    return errors;
  }
  async function start(): Promise<void> {
    if (state !== "new") throw new Error("Cannot start an instance twice");
    state = "started";
    try {
      for (const hook of hooks.startup) await hook();
    } catch (error) {
      // No half-running process: every shutdown hook tolerates a startup
      // that never ran (as CoreDNS's do), so roll back with all of them.
      for (const rollbackError of await stop()) {
        log("ERROR", `rolling back a failed start: ${String(rollbackError)}`);
      }
      throw error;
    }
  }
  return { start, stop };
}
