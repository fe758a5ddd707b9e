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
import { chainLinks, type Handler, type Link } from "../dns/handler.ts";
import type { DnsListener } from "../dns/listeners.ts";
import { DnsServer } from "../dns/server.ts";
import { acquireServerListener, checkTransport } from "../dns/transports.ts";
import { message } from "../errors.ts";
import { log } from "../log.ts";
import { PluginError } from "./errors.ts";
import type {
  Controller,
  CorefileInput,
  Hook,
  Host,
  Plugin,
} from "./plugin.ts";

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
  /** What plugins see as the process (the *reload* plugin); default: one that cannot reload. */
  host?: Host;
  /**
   * Whether `start()` opens the DNS sockets of the server blocks. Off by
   * default so that hook-level tests never bind port 53; the CLI turns it on.
   */
  serveDns?: boolean;
}

export interface Instance {
  readonly blocks: readonly ServerBlock[];
  readonly zones: readonly (readonly ZoneConfig[])[];
  readonly servers: readonly ServerGroup[];
  /**
   * `servers` as they listen once started: a DNS server whose Corefile key
   * asked for port 0 has the port it bound (the rest are as written).
   */
  listening(): readonly ServerGroup[];
  /** True when the Corefile had no server block and the built-in default ran. */
  readonly usedDefaultInput: boolean;
  /**
   * Runs the startup hooks in order, then opens the DNS sockets (CoreDNS's
   * order); on failure stops what started, then throws.
   */
  start(): Promise<void>;
  /** Runs the `onStarted` hooks: the configuration serves and its zone lines are out. */
  announce(): Promise<void>;
  /**
   * Stops serving: at a reload (default) the DNS sockets first, then the
   * shutdown hooks; at exit (`final`) the final-shutdown hooks first, while
   * everything still serves (lameduck). Returns the errors hooks threw.
   */
  stop(options?: { final?: boolean }): Promise<unknown[]>;
}

/** A host with no Corefile source: nothing to reload from. */
const STATIC_HOST: Host = {
  reread: () => Promise.resolve(undefined),
  parse() {
    throw new Error("no Corefile loader with which to reload the Corefile");
  },
  restart() {
    return Promise.reject(
      new Error("no Corefile loader with which to reload the Corefile"),
    );
  },
};

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
  const chains = hooks.links.map(chainLinks);
  const dns = options.serveDns ? dnsStartup(servers, chains) : undefined;
  return {
    blocks,
    zones,
    servers,
    listening: () =>
      servers.map((group, i) => {
        const port = dns?.ports[i];
        if (group.port !== 0 || port === undefined) return group;
        return { ...group, address: group.address.slice(0, -1) + port, port };
      }),
    usedDefaultInput,
    ...lifecycle(hooks, dns),
  };
}

interface Hooks {
  startup: Hook[];
  started: Hook[];
  shutdown: Hook[];
  finalShutdown: Hook[];
  /** Per block, the DNS handler links in plugin.cfg order. */
  links: Link[][];
}

interface DnsLifecycle {
  /** Per server group, the port its listener bound (after `open`). */
  readonly ports: readonly number[];
  open(): Promise<void>;
  close(): Promise<void>;
}

/** One DNS server per dns:// listen group; sockets open at start, shared across reloads. */
function dnsStartup(
  servers: readonly ServerGroup[],
  chains: readonly (Handler | undefined)[],
): DnsLifecycle {
  let listeners: DnsListener[] = [];
  return {
    get ports() {
      return listeners.map((listener) => listener.port);
    },
    async open() {
      const transports = servers.map((group) => ({
        ...group,
        keys: group.zones.map((z) => z.key),
      }));
      // Every transport and certificate is checked before anything listens.
      for (const group of transports) checkTransport(group);
      for (const group of transports) {
        const zones = new Map<string, Handler | undefined>();
        for (const z of group.zones) zones.set(z.zone, chains[z.block]);
        const server = new DnsServer(group.address, zones);
        listeners.push(await acquireServerListener(group, server));
      }
    },
    async close() {
      const open = listeners;
      listeners = [];
      for (const listener of open) await listener.release();
    },
  };
}

function setupPlugins(
  blocks: readonly ServerBlock[],
  zones: readonly (readonly ZoneConfig[])[],
  options: LoadOptions,
): Hooks {
  const hooks: Hooks = {
    startup: [],
    started: [],
    shutdown: [],
    finalShutdown: [],
    links: blocks.map(() => []),
  };
  const host = options.host ?? STATIC_HOST;
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
        serverBlocks: blocks,
        host,
        use: (link) => void hooks.links[index]!.push(link),
        onStartup: (hook) => void hooks.startup.push(hook),
        onStarted: (hook) => void hooks.started.push(hook),
        onShutdown: (hook) => void hooks.shutdown.push(hook),
        onFinalShutdown: (hook) => void hooks.finalShutdown.push(hook),
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

function lifecycle(
  hooks: Hooks,
  dns: DnsLifecycle | undefined,
): Pick<Instance, "start" | "stop" | "announce"> {
  let state: "new" | "started" | "stopped" = "new";
  async function runAll(list: Hook[], errors: unknown[]): Promise<void> {
    for (const hook of list) {
      try {
        await hook();
      } catch (error) {
        errors.push(error);
      }
    }
  }
  async function stop({ final = false } = {}): Promise<unknown[]> {
    if (state === "stopped") return [];
    state = "stopped";
    const errors: unknown[] = [];
    if (final) await runAll(hooks.finalShutdown, errors);
    try {
      await dns?.close();
    } catch (error) {
      errors.push(error);
    }
    await runAll(hooks.shutdown, errors);
    return errors;
  }
  async function start(): Promise<void> {
    if (state !== "new") throw new Error("Cannot start an instance twice");
    state = "started";
    try {
      for (const hook of hooks.startup) await hook();
      await dns?.open();
    } catch (error) {
      // No half-running process: every shutdown hook tolerates a startup
      // that never ran (as CoreDNS's do), so roll back with all of them.
      for (const rollbackError of await stop()) {
        log("ERROR", `rolling back a failed start: ${String(rollbackError)}`);
      }
      throw error;
    }
  }
  async function announce(): Promise<void> {
    const errors: unknown[] = [];
    await runAll(hooks.started, errors);
    for (const error of errors) {
      log("ERROR", message(error));
    }
  }
  return { start, stop, announce };
}

export interface RunnerOptions
  extends Omit<LoadOptions, "filename" | "host" | "serveDns"> {
  /**
   * Reads the Corefile from its source again (SIGUSR1, *reload*); absent
   * when the running one came from nowhere (the built-in default).
   */
  reread?: () => Promise<CorefileInput>;
}

/**
 * The running configuration and its replacement: caddy's `Instance.Restart`
 * (corefile.md §5.4). The new configuration starts before the old one
 * stops; sockets both keep are shared, so they serve throughout; a new
 * configuration that fails leaves the old one running and nothing open.
 */
export class Runner implements Host {
  #instance: Instance | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #options: RunnerOptions;

  constructor(options: RunnerOptions) {
    this.#options = options;
  }

  /** The running configuration. */
  get instance(): Instance {
    if (this.#instance === undefined) throw new Error("Nothing is running");
    return this.#instance;
  }

  /** Loads and starts the first configuration; throws its error. */
  async start(input: CorefileInput): Promise<Instance> {
    const instance = this.#load(input);
    await instance.start();
    this.#instance = instance;
    return instance;
  }

  #load(input: CorefileInput): Instance {
    return loadInstance(input.text, {
      ...this.#options,
      filename: input.filename,
      host: this,
      serveDns: true,
    });
  }

  reread(): Promise<CorefileInput | undefined> {
    return this.#options.reread?.() ?? Promise.resolve(undefined);
  }

  parse(input: CorefileInput): ServerBlock[] {
    const { directives, dir, env } = this.#options;
    return parseCorefile(input.text, {
      filename: input.filename,
      directives: new Set(directives),
      ...(dir === undefined ? {} : { dir }),
      ...(env === undefined ? {} : { env }),
      warn: () => {},
    });
  }

  /** One restart at a time, in the order asked. */
  restart(input: CorefileInput): Promise<void> {
    const run = this.#queue.then(() => this.#restart(input));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #restart(input: CorefileInput): Promise<void> {
    log("INFO", "Reloading");
    const old = this.#instance;
    let next: Instance;
    try {
      next = this.#load(input);
      await next.start();
    } catch (error) {
      log(
        "ERROR",
        `Restart failed: ${message(error)}`,
      );
      throw error;
    }
    this.#instance = next;
    const errors = await old?.stop() ?? [];
    for (const error of errors) {
      log("ERROR", message(error));
    }
    await next.announce();
    log("INFO", "Reloading complete");
  }

  /** Stops the running configuration for good; returns the errors its hooks threw. */
  async stop(): Promise<unknown[]> {
    await this.#queue;
    return await this.#instance?.stop({ final: true }) ?? [];
  }
}
