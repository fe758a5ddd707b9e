/**
 * A `go tool pprof -top`-like summary of a decoded profile, so people
 * without a Go toolchain see where time and memory went.
 */

import { Profile } from "../deps.ts";
import { int64, str } from "../profile/pprof.ts";

export interface TopRow {
  name: string;
  flat: number;
  cum: number;
}

export interface Summary {
  sampleType: string;
  unit: string;
  total: number;
  rows: TopRow[];
}

/** The sample type pprof shows by default: `default_sample_type`, else the last. */
function defaultIndex(p: Profile): number {
  const wanted = str(p, p.defaultSampleType);
  const index = p.sampleType.findIndex((t) => str(p, t.type) === wanted);
  return wanted !== "" && index >= 0 ? index : p.sampleType.length - 1;
}

/** Flat (leaf) and cumulative (anywhere on the stack) totals per function, largest flat first. */
export function summarize(p: Profile, top = 10): Summary {
  const index = defaultIndex(p);
  const type = p.sampleType[index];
  const functions = new Map(
    p.function.map((f) => [int64(f.id), str(p, f.name)]),
  );
  const locations = new Map(
    p.location.map((
      l,
    ) => [
      int64(l.id),
      l.line.map((line) => functions.get(int64(line.functionId)) ?? "?"),
    ]),
  );
  const flat = new Map<string, number>();
  const cum = new Map<string, number>();
  let total = 0;
  for (const sample of p.sample) {
    const value = int64(sample.value[index]);
    if (value === 0) continue;
    total += value;
    const stack = sample.locationId.flatMap((id) =>
      locations.get(int64(id)) ?? ["?"]
    );
    if (stack[0] !== undefined) {
      flat.set(stack[0], (flat.get(stack[0]) ?? 0) + value);
    }
    for (const name of new Set(stack)) {
      cum.set(name, (cum.get(name) ?? 0) + value);
    }
  }
  const rows = [...cum.keys()].map((name) => ({
    name,
    flat: flat.get(name) ?? 0,
    cum: cum.get(name)!,
  }))
    .sort((a, b) =>
      b.flat - a.flat || b.cum - a.cum || (a.name < b.name ? -1 : 1)
    )
    .slice(0, top);
  return {
    sampleType: type ? str(p, type.type) : "",
    unit: type ? str(p, type.unit) : "",
    total,
    rows,
  };
}

/** A value in its unit, as pprof prints it (`1.25s`, `3.50MB`, `42`). */
export function formatValue(value: number, unit: string): string {
  if (unit === "nanoseconds") {
    const abs = Math.abs(value);
    if (abs >= 1e9) return `${(value / 1e9).toFixed(2)}s`;
    if (abs >= 1e6) return `${(value / 1e6).toFixed(2)}ms`;
    if (abs >= 1e3) return `${(value / 1e3).toFixed(2)}us`;
    return `${value}ns`;
  }
  if (unit === "bytes") {
    const abs = Math.abs(value);
    if (abs >= 2 ** 30) return `${(value / 2 ** 30).toFixed(2)}GB`;
    if (abs >= 2 ** 20) return `${(value / 2 ** 20).toFixed(2)}MB`;
    if (abs >= 2 ** 10) return `${(value / 2 ** 10).toFixed(2)}kB`;
    return `${value}B`;
  }
  return String(value);
}

/** The table `summarize` describes, as text. */
export function formatSummary(summary: Summary): string {
  const percent = (v: number) =>
    summary.total === 0 ? "0.00%" : `${(100 * v / summary.total).toFixed(2)}%`;
  const lines = [
    `Type: ${summary.sampleType}`,
    `Total: ${formatValue(summary.total, summary.unit)}`,
    `${"flat".padStart(10)} ${"flat%".padStart(7)} ${"cum".padStart(10)} ${
      "cum%".padStart(7)
    }  function`,
  ];
  for (const row of summary.rows) {
    lines.push(
      `${formatValue(row.flat, summary.unit).padStart(10)} ${
        percent(row.flat).padStart(7)
      } ` +
        `${formatValue(row.cum, summary.unit).padStart(10)} ${
          percent(row.cum).padStart(7)
        }  ${row.name}`,
    );
  }
  return lines.join("\n") + "\n";
}
