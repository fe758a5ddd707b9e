/**
 * The plugin contract, CoreDNS's setup/handler split in Deno terms.
 *
 * `setup(c)` is synchronous and does no I/O: it reads the directive's tokens
 * through `c.dispenser`, validates them, adds a DNS handler link with
 * `c.use`, and registers hooks. Sockets open in `onStartup` hooks, which run
 * only once every block has been set up, so a bad Corefile never leaves
 * anything listening.
 */

import type { Dispenser, ServerBlock } from "../corefile/mod.ts";
import type { Link } from "../dns/handler.ts";

export type Hook = () => void | Promise<void>;

/** A Corefile's text and the name errors use for it. */
export interface CorefileInput {
  text: string;
  filename: string;
}

/**
 * The running process as a plugin may drive it (caddy's `Instance` as the
 * *reload* plugin uses it).
 */
export interface Host {
  /**
   * Reads the Corefile again from where the running one came from (the
   * `-conf` file, `./Corefile`); undefined when there is nothing to re-read
   * (the built-in default). Throws the loader's error.
   */
  reread(): Promise<CorefileInput | undefined>;
  /** Parses as the running configuration was parsed (imports, environment); throws the parse error. */
  parse(input: CorefileInput): ServerBlock[];
  /**
   * Replaces the running configuration: the new one starts before the old
   * one stops. Throws, with the old one still running, when the new fails.
   */
  restart(input: CorefileInput): Promise<void>;
}

/** What a plugin's setup sees of one server block (caddy's `Controller`). */
export interface Controller {
  /** A fresh cursor over this directive's tokens in this block, before the first. */
  readonly dispenser: Dispenser;
  /** The block's normalized keys, e.g. `dns://example.org.:53`. */
  readonly keys: readonly string[];
  /** Every server block of this configuration, as parsed. */
  readonly serverBlocks: readonly ServerBlock[];
  /** The process, for plugins that restart it. */
  readonly host: Host;
  /**
   * Adds this plugin's DNS handler to the block's chain (CoreDNS's
   * `AddPlugin`); chains run in plugin.cfg order. A block without any link
   * answers REFUSED.
   */
  use(link: Link): void;
  /** Runs after every block is set up, in plugin order; a throw aborts the start. */
  onStartup(hook: Hook): void;
  /**
   * Runs once the configuration serves DNS and its zone lines are printed
   * (CoreDNS's instance-startup event); at a reload, once the old one stopped.
   */
  onStarted(hook: Hook): void;
  /** Runs at shutdown (and to roll back a failed start), in plugin order. */
  onShutdown(hook: Hook): void;
  /**
   * Runs when the process exits (not at a reload), before anything stops
   * serving: CoreDNS's `OnFinalShutdown`, where *health* waits out lameduck.
   */
  onFinalShutdown(hook: Hook): void;
  /**
   * State shared by all blocks of one configuration, created on first use:
   * how CoreDNS's "one listener per address" registries work, without globals.
   */
  shared<T>(key: string, create: () => T): T;
}

/** A directive's implementation. */
export interface Plugin {
  /** The directive keyword, e.g. `pprof`. */
  readonly name: string;
  /** Parses and validates; throws a Corefile error naming file and line. */
  setup(c: Controller): void;
}
