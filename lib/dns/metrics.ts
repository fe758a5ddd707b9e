/**
 * The process's Prometheus metrics (CoreDNS's `promauto` registry), through
 * `prom-client`: plugins define their series here by CoreDNS's names, and
 * the *prometheus* plugin exposes the registry. Definitions are idempotent,
 * so a reload (which sets every plugin up again) keeps counting into the
 * same series.
 *
 * @module
 */

import { Counter, Gauge, Histogram, Registry } from "../deps.ts";

/** The one registry of the process. */
export const registry = new Registry();

/** CoreDNS's `plugin.TimeBuckets`: 0.25 ms doubling to 8 s (16 buckets). */
export const TIME_BUCKETS: readonly number[] = Array.from(
  { length: 16 },
  (_, i) => 0.00025 * 2 ** i,
);

/** A counter `coredns_NAME`, the same object on every call. */
export function counter<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/** A gauge `coredns_NAME`, the same object on every call. */
export function gauge<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): Gauge<L> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Gauge<L>;
  return new Gauge({ name, help, labelNames, registers: [registry] });
}

/** A histogram `coredns_NAME` (TIME_BUCKETS unless told), the same object on every call. */
export function histogram<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  buckets: readonly number[] = TIME_BUCKETS,
): Histogram<L> {
  const existing = registry.getSingleMetric(name);
  if (existing !== undefined) return existing as Histogram<L>;
  return new Histogram({
    name,
    help,
    labelNames,
    buckets: [...buckets],
    registers: [registry],
  });
}
