/**
 * The process's Prometheus metrics (CoreDNS's `promauto` registry):
 * plugins define their series here by CoreDNS's names, and the *prometheus*
 * plugin exposes them through `prom-client`.
 *
 * `prom-client` takes longer to load than the rest of coredeno's plugins
 * together, so it is loaded only when a Corefile has `prometheus`:
 * `enableMetrics()`, called by its setup, loads it and turns every series
 * defined so far into a real one. Until then nothing is counted (nobody
 * could read it); while it loads, updates wait for it. Definitions are
 * idempotent, so a reload (which sets every plugin up again) keeps counting
 * into the same series.
 *
 * @module
 */

import type * as PromClient from "./prom_client.ts";

/** CoreDNS's `plugin.TimeBuckets`: 0.25 ms doubling to 8 s (16 buckets). */
export const TIME_BUCKETS: readonly number[] = Array.from(
  { length: 16 },
  (_, i) => 0.00025 * 2 ** i,
);

type Labels<L extends string> = Partial<Record<L, string | number>>;

/** A counter: `inc()`, `inc(n)`, `inc(labels)`, `inc(labels, n)`. */
export interface Counter<L extends string> {
  inc(labels?: Labels<L> | number, value?: number): void;
}

/** A gauge: `set(value)` or `set(labels, value)`. */
export interface Gauge<L extends string> {
  set(labels: Labels<L> | number, value?: number): void;
}

/** A histogram: `observe(value)` or `observe(labels, value)`. */
export interface Histogram<L extends string> {
  observe(labels: Labels<L> | number, value?: number): void;
}

type Client = typeof PromClient;
type Real = { inc?(...a: unknown[]): void } & {
  set?(...a: unknown[]): void;
  observe?(...a: unknown[]): void;
};

let client: Client | undefined;
let registry: PromClient.Registry | undefined;
let loading: Promise<void> | undefined;

/** A series as defined by a plugin; real once prom-client is loaded. */
class Series {
  #real: Real | undefined;
  /** Updates made while prom-client loads. */
  readonly #waiting: ((real: Real) => void)[] = [];

  constructor(readonly make: (c: Client, r: PromClient.Registry) => Real) {
    if (client && registry) this.#real = make(client, registry);
  }

  materialize(c: Client, r: PromClient.Registry): void {
    this.#real ??= this.make(c, r);
    for (const update of this.#waiting.splice(0)) update(this.#real);
  }

  update(apply: (real: Real) => void): void {
    if (this.#real) apply(this.#real);
    else if (loading) this.#waiting.push(apply);
  }
}

const series = new Map<string, Series>();

function define(
  name: string,
  make: (c: Client, r: PromClient.Registry) => Real,
): Series {
  let s = series.get(name);
  if (s === undefined) {
    s = new Series(make);
    series.set(name, s);
  }
  return s;
}

/**
 * Loads prom-client and makes every series real; resolves with the registry
 * to expose. Idempotent.
 */
export function enableMetrics(): Promise<PromClient.Registry> {
  loading ??= (async () => {
    const c = await import("./prom_client.ts");
    const r = new c.Registry();
    client = c;
    registry = r;
    for (const s of series.values()) s.materialize(c, r);
  })();
  return loading.then(() => registry!);
}

/** prom-client, once `enableMetrics()` has loaded it. */
export function loadedClient(): Client | undefined {
  return client;
}

/** A counter `coredns_NAME`, the same series on every call. */
export function counter<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): Counter<L> {
  const s = define(
    name,
    (c, r) => new c.Counter({ name, help, labelNames, registers: [r] }) as Real,
  );
  return { inc: (...args) => s.update((real) => real.inc!(...args)) };
}

/** A gauge `coredns_NAME`, the same series on every call. */
export function gauge<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): Gauge<L> {
  const s = define(
    name,
    (c, r) => new c.Gauge({ name, help, labelNames, registers: [r] }) as Real,
  );
  return { set: (...args) => s.update((real) => real.set!(...args)) };
}

/** A histogram `coredns_NAME` (TIME_BUCKETS unless told), the same series on every call. */
export function histogram<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  buckets: readonly number[] = TIME_BUCKETS,
): Histogram<L> {
  const s = define(name, (c, r) =>
    new c.Histogram({
      name,
      help,
      labelNames,
      buckets: [...buckets],
      registers: [r],
    }) as Real);
  return { observe: (...args) => s.update((real) => real.observe!(...args)) };
}
