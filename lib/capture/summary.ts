/**
 * What `coredeno capture` prints about a profile: a `go tool pprof
 * -top`-like table (`--format text`), or the viewer's Markdown report
 * (`--format md`, optionally against a base profile), so people without a
 * Go toolchain, and coding assistants, see where time and memory went.
 * Both are read from the viewer's analysis (lib/pprof/ui/analysis.ts).
 */

import type { Profile } from "../deps.ts";
import {
  compareTo,
  parseSelection,
  readModel,
  topTable,
  total,
} from "../pprof/ui/analysis.ts";
import { formatValue, markdownReport } from "../pprof/ui/report.ts";

export { formatValue };

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

/** Flat (leaf) and cumulative (anywhere on the stack) totals per function, largest flat first. */
export function summarize(p: Profile, top = 10): Summary {
  const model = readModel(p);
  const selection = parseSelection(model, new URLSearchParams());
  const type = model.sampleTypes[selection.index];
  return {
    sampleType: type?.type ?? "",
    unit: type?.unit ?? "",
    total: total(model, selection),
    rows: topTable(model, selection).slice(0, top).map((r) => ({
      name: r.name,
      flat: r.flat,
      cum: r.cum,
    })),
  };
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

/**
 * The Markdown report of `profile` (its default sample type), titled
 * `title`; against `base` (another profile of the same kind) it says what
 * grew and what shrank, as `go tool pprof -diff_base` does.
 */
export async function markdownSummary(
  profile: Profile,
  options: { title: string; top: number; base?: Profile; baseTitle?: string },
): Promise<string> {
  const model = readModel(profile);
  const selection = parseSelection(model, new URLSearchParams());
  return await markdownReport(model, selection, {
    title: options.title,
    top: options.top,
    ...(options.base
      ? {
        comparison: {
          ...compareTo(model, selection, readModel(options.base), false),
          title: options.baseTitle ?? "the base profile",
        },
      }
      : {}),
  });
}
