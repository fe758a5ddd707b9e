/**
 * The plugin contract, CoreDNS's setup/handler split in Deno terms.
 *
 * `setup(c)` is synchronous and does no I/O: it reads the directive's tokens
 * through `c.dispenser`, validates them, and registers hooks. Sockets open in
 * `onStartup` hooks, which run only once every block has been set up, so a
 * bad Corefile never leaves anything listening.
 */

import type { Dispenser } from "../corefile/mod.ts";

export type Hook = () => void | Promise<void>;

/** What a plugin's setup sees of one server block (caddy's `Controller`). */
export interface Controller {
  /** A fresh cursor over this directive's tokens in this block, before the first. */
  readonly dispenser: Dispenser;
  /** The block's normalized keys, e.g. `dns://example.org.:53`. */
  readonly keys: readonly string[];
  /** Runs after every block is set up, in plugin order; a throw aborts the start. */
  onStartup(hook: Hook): void;
  /** Runs at shutdown (and to roll back a failed start), in plugin order. */
  onShutdown(hook: Hook): void;
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
