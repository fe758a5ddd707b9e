/**
 * `prom-client`, pinned by full specifier; loaded on demand by metrics.ts
 * (only a Corefile with `prometheus` pays for it).
 */

export {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
} from "npm:prom-client@15.1.3";
