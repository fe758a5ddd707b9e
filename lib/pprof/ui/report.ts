/**
 * A profile as Markdown, for a terminal and for a coding assistant: what
 * was measured, the top functions with their hottest `file:line`, the
 * hottest lines (with their code where the viewer may show it), the
 * heaviest call paths, the labels (isolates), and against a base what grew
 * and what shrank. `coredeno capture --format md` and the viewer's
 * `ui/report.md` both write it.
 */

import {
  type Comparison,
  heaviestPaths,
  labelSummary,
  lineCosts,
  type Model,
  selected,
  type Selection,
  topTable,
  total,
} from "./analysis.ts";

export interface ReportOptions {
  /** What the profile is ("CPU profile of 10 s from http://…"). */
  title: string;
  /** Rows per table (default 10). */
  top?: number;
  /** Against a base (what `base` is called in the text). */
  comparison?: Comparison & { title: string };
  /** Source lines by file, where they may be shown. */
  source?: (file: string) => Promise<string[] | undefined>;
}

/** The report of `model`, read by `selection`. */
export async function markdownReport(
  model: Model,
  selection: Selection,
  options: ReportOptions,
): Promise<string> {
  const n = options.top ?? 10;
  const type = model.sampleTypes[selection.index] ?? { type: "", unit: "" };
  const all = total(model, selection);
  const value = (v: number) => formatValue(v, type.unit);
  const pct = (v: number) => percent(v, all);
  // Samples where the profile counts them; else the distinct stacks.
  const samplesIndex = model.sampleTypes.findIndex((t) =>
    t.type === "samples" && t.unit === "count"
  );
  const count = samplesIndex >= 0
    ? {
      name: "Samples",
      value: total(model, { ...selection, index: samplesIndex }),
    }
    : { name: "Stacks", value: selected(model, selection).length };
  const out: string[] = [];
  out.push(`# ${inline(options.title)}`, "");
  out.push(
    `| Sample type | Total | Duration | Captured | ${count.name} |`,
    "| --- | ---: | ---: | --- | ---: |",
    `| ${type.type} (${type.unit}) | ${value(all)} | ${
      model.durationNanos > 0
        ? formatValue(model.durationNanos, "nanoseconds")
        : "-"
    } | ${
      model.timeNanos > 0 ? new Date(model.timeNanos / 1e6).toISOString() : "-"
    } | ${count.value} |`,
    "",
  );
  const others = model.sampleTypes.filter((_, i) => i !== selection.index);
  if (others.length > 0) {
    out.push(
      `Other sample types in this profile: ${
        others.map((t) => `${t.type} (${t.unit})`).join(", ")
      }.`,
      "",
    );
  }
  if (selection.labels.size > 0) {
    out.push(
      `Only samples labelled ${
        [...selection.labels].map(([k, vs]) =>
          [...vs].map((v) => `\`${k}=${v}\``).join(" or ")
        ).join(" and ")
      }.`,
      "",
    );
  }
  for (const comment of model.comments) out.push(`> ${inline(comment)}`, "");

  const rows = topTable(model, selection);
  out.push(`## Top functions by ${type.type} (flat)`, "");
  out.push(
    "| Flat | Flat% | Cum | Cum% | Function | Hottest line |",
    "| ---: | ---: | ---: | ---: | --- | --- |",
  );
  for (const r of rows.slice(0, n)) {
    out.push(
      `| ${value(r.flat)} | ${pct(r.flat)} | ${value(r.cum)} | ${
        pct(r.cum)
      } | ${code(r.name)} | ${location(r.file, r.line)} |`,
    );
  }
  out.push("");

  const byCum = [...rows].sort((a, b) => b.cum - a.cum).slice(0, n);
  out.push(`## Top functions by ${type.type} (cumulative)`, "");
  out.push(
    "| Cum | Cum% | Flat | Function | Hottest line |",
    "| ---: | ---: | ---: | --- | --- |",
  );
  for (const r of byCum) {
    out.push(
      `| ${value(r.cum)} | ${pct(r.cum)} | ${value(r.flat)} | ${
        code(r.name)
      } | ${location(r.file, r.line)} |`,
    );
  }
  out.push("");

  const lines = lineCosts(model, selection).filter((l) => l.flat > 0)
    .slice(0, n);
  out.push("## Hottest lines", "");
  out.push(
    "| Flat | Flat% | Cum | Line | Function | Code |",
    "| ---: | ---: | ---: | --- | --- | --- |",
  );
  const texts = new Map<string, string[] | undefined>();
  for (const l of lines) {
    if (options.source && !texts.has(l.file)) {
      texts.set(l.file, await options.source(l.file));
    }
    const text = texts.get(l.file)?.[l.line - 1]?.trim();
    out.push(
      `| ${value(l.flat)} | ${pct(l.flat)} | ${value(l.cum)} | ${
        location(l.file, l.line)
      } | ${code(l.name)} | ${text ? code(clip(text, 80)) : ""} |`,
    );
  }
  out.push("");

  out.push("## Heaviest call paths", "");
  out.push("Whole stacks, root first; the last frame is where the cost is.");
  out.push("");
  for (const [i, path] of heaviestPaths(model, selection, n).entries()) {
    const frames = elide(
      path.frames.map((f) => `${code(f.name)} (${location(f.file, f.line)})`),
    );
    out.push(
      `${i + 1}. ${value(path.value)} (${pct(path.value)}): ${
        frames.join(" → ")
      }`,
    );
  }
  out.push("");

  const labels = labelSummary(model, selection.index);
  if (labels.length > 0) {
    out.push("## Labels", "");
    out.push(
      "| Label | Value | Total | Share |",
      "| --- | --- | ---: | ---: |",
    );
    for (const { key, values } of labels) {
      for (const v of values.slice(0, n)) {
        out.push(
          `| ${code(key)} | ${code(v.value)} | ${value(v.total)} | ${
            percent(v.total, total(model, { ...selection, labels: new Map() }))
          } |`,
        );
      }
    }
    out.push("");
  }

  if (options.comparison) out.push(...compared(model, selection, options, n));
  return out.join("\n");
}

/** Grew and shrank tables against the base, as `go tool pprof -diff_base -top`. */
function compared(
  model: Model,
  selection: Selection,
  options: ReportOptions,
  n: number,
): string[] {
  const comparison = options.comparison!;
  const unit = model.sampleTypes[selection.index]?.unit ?? "";
  const value = (v: number) => formatValue(Math.round(v), unit);
  const signed = (v: number) => (v > 0 ? "+" : "") + value(v);
  const now = total(model, selection);
  const before = total(comparison.model, comparison.selection) *
    comparison.scale;
  const rows = topTable(model, selection, comparison);
  const delta = (r: typeof rows[number]) => r.cum - r.baseCum!;
  const out = [
    `## Compared with ${inline(comparison.title)}`,
    "",
    `Total ${value(before)} → ${value(now)} (${signed(now - before)})${
      comparison.scale !== 1
        ? `; the base scaled by ${
          comparison.scale.toFixed(3)
        } to the same total`
        : ""
    }.`,
    "",
  ];
  const table = (title: string, picked: typeof rows) => {
    out.push(`### ${title}`, "");
    if (picked.length === 0) {
      out.push("Nothing.", "");
      return;
    }
    out.push(
      "| Δ cum | Δ flat | Base cum | Now cum | Function | Hottest line |",
      "| ---: | ---: | ---: | ---: | --- | --- |",
    );
    for (const r of picked) {
      out.push(
        `| ${signed(delta(r))} | ${signed(r.flat - r.baseFlat!)} | ${
          r.baseCum ? value(r.baseCum) : "new"
        } | ${r.cum ? value(r.cum) : "gone"} | ${code(r.name)} | ${
          location(r.file, r.line)
        } |`,
      );
    }
    out.push("");
  };
  table(
    "Grew",
    rows.filter((r) => delta(r) > 0).sort((a, b) => delta(b) - delta(a))
      .slice(0, n),
  );
  table(
    "Shrank",
    rows.filter((r) => delta(r) < 0).sort((a, b) => delta(a) - delta(b))
      .slice(0, n),
  );
  return out;
}

/** A value in its unit, as pprof prints it (`1.25s`, `3.50MB`, `42`). */
export function formatValue(value: number, unit: string): string {
  const abs = Math.abs(value);
  if (unit === "nanoseconds") {
    if (abs >= 1e9) return `${(value / 1e9).toFixed(2)}s`;
    if (abs >= 1e6) return `${(value / 1e6).toFixed(2)}ms`;
    if (abs >= 1e3) return `${(value / 1e3).toFixed(2)}us`;
    return `${value}ns`;
  }
  if (unit === "bytes") {
    if (abs >= 2 ** 30) return `${(value / 2 ** 30).toFixed(2)}GB`;
    if (abs >= 2 ** 20) return `${(value / 2 ** 20).toFixed(2)}MB`;
    if (abs >= 2 ** 10) return `${(value / 2 ** 10).toFixed(2)}kB`;
    return `${value}B`;
  }
  return String(value);
}

function percent(v: number, of: number): string {
  return of === 0 ? "-" : `${(100 * v / of).toFixed(1)}%`;
}

/** `file:line` without the file: scheme; `-` for frames without a file. */
function location(file: string, line: number): string {
  if (!file) return "-";
  const path = file.replace(/^file:\/\//, "");
  return code(line > 0 ? `${path}:${line}` : path);
}

/** Text in a code span, safe inside a table cell. */
function code(text: string): string {
  const cell = text.replaceAll("|", "\\|").replaceAll("\n", " ");
  const ticks = cell.includes("`") ? "``" : "`";
  const pad = ticks.length > 1 ? " " : "";
  return `${ticks}${pad}${cell}${pad}${ticks}`;
}

/** One line of plain text. */
function inline(text: string): string {
  return text.replaceAll("\n", " ");
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A long path's middle left out: its root and its leaves tell the story. */
function elide(frames: string[]): string[] {
  return frames.length <= 12 ? frames : [
    ...frames.slice(0, 3),
    `… ${frames.length - 9} frames …`,
    ...frames.slice(-6),
  ];
}
