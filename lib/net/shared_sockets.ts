/**
 * Sockets shared by address across configurations. A reload starts the new
 * configuration before stopping the old one (CoreDNS's order); an address
 * both keep is the same socket throughout, answered by its newest holder, so
 * a reload never drops it or races a second bind (CoreDNS gets the same from
 * SO_REUSEPORT). Port 0 means a fresh ephemeral port: never shared.
 */

/** What a registry keeps per address: the socket(s) and their holders, newest last. */
export interface Shared<H> {
  readonly holders: H[];
}

export class SharedSockets<E extends Shared<H>, H> {
  readonly #byAddress = new Map<string, E>();
  readonly #close: (entry: E) => Promise<void>;

  /** `close` ends an entry's sockets once its last holder lets go. */
  constructor(close: (entry: E) => Promise<void>) {
    this.#close = close;
  }

  /** The entry already open at `host:port`; never one for port 0. */
  find(at: { host: string; port: number }): E | undefined {
    const key = keyOf(at);
    return key === undefined ? undefined : this.#byAddress.get(key);
  }

  /**
   * Adds `holder` to `entry` (found, or freshly opened at `at`); returns its
   * release, after which the entry closes if no holder is left.
   */
  hold(
    at: { host: string; port: number },
    entry: E,
    holder: H,
  ): () => Promise<void> {
    const key = keyOf(at);
    if (key !== undefined) this.#byAddress.set(key, entry);
    entry.holders.push(holder);
    return async () => {
      const index = entry.holders.indexOf(holder);
      if (index < 0) return;
      entry.holders.splice(index, 1);
      if (entry.holders.length > 0) return;
      if (key !== undefined && this.#byAddress.get(key) === entry) {
        this.#byAddress.delete(key);
      }
      await this.#close(entry);
    };
  }
}

function keyOf(at: { host: string; port: number }): string | undefined {
  return at.port === 0 ? undefined : `${at.host.toLowerCase()}:${at.port}`;
}
