/**
 * `heap?debug=1`: a heap profile as readable text, in the shape of Go's
 * legacy heap text (header, one record per stack, `#` frame lines, memory
 * statistics), with function names, files and lines in place of addresses.
 */

import process from "node:process";
import type { Profile } from "../deps.ts";
import { int64, str } from "./pprof.ts";

/**
 * Renders a heap (or allocs, or delta) profile:
 *
 *     heap profile: 210000: 4812000 @ heap/1048576
 *     # inuse_objects/count: inuse_space/bytes, sampled every 524288 bytes ...
 *
 *     200000: 4800000
 *     #	retain	/app/main.ts:12
 *     #	main	/app/main.ts:40
 *
 * Records are sorted by bytes, largest first; `#` lines list the stack from
 * the allocating function outwards. The trailer gives process.memoryUsage().
 */
export function heapProfileText(p: Profile): string {
  const types = p.sampleType.map((v) => `${str(p, v.type)}/${str(p, v.unit)}`);
  const countIdx = types.findIndex((t) => t.endsWith("/count"));
  const bytesIdx = types.findIndex((t) => t.endsWith("/bytes"));
  const value = (s: { value: unknown[] }, i: number) =>
    i < 0 ? 0 : int64(s.value[i] as number | bigint);

  const functions = new Map(p.function.map((f) => [int64(f.id), f]));
  const locations = new Map(p.location.map((l) => [int64(l.id), l]));
  const frame = (id: number): string[] => {
    const loc = locations.get(id);
    if (!loc) return [`#\t?\t(location ${id})`];
    return loc.line.map((line) => {
      const f = functions.get(int64(line.functionId));
      const name = f ? str(p, f.name) : "?";
      const file = f ? str(p, f.filename) : "?";
      const at = int64(line.line) > 0 ? `${file}:${int64(line.line)}` : file;
      return `#\t${name}\t${at}`;
    });
  };

  const records = p.sample
    .map((s) => ({
      count: value(s, countIdx),
      bytes: value(s, bytesIdx),
      stack: s.locationId.flatMap((id) => frame(int64(id))),
    }))
    .sort((a, b) => b.bytes - a.bytes || b.count - a.count);
  const totalCount = records.reduce((a, r) => a + r.count, 0);
  const totalBytes = records.reduce((a, r) => a + r.bytes, 0);
  const period = int64(p.period);

  const lines: string[] = [];
  lines.push(
    `heap profile: ${totalCount}: ${totalBytes} @ heap/${2 * period}`,
  );
  lines.push(
    `# ${[types[countIdx], types[bytesIdx]].filter(Boolean).join(": ")}` +
      (period ? `, sampled every ${period} bytes` : "") +
      "; bytes are estimates, object counts approximate",
  );
  for (const c of p.comment) lines.push(`# ${str(p, c)}`);
  for (const r of records) {
    lines.push("");
    lines.push(`${r.count}: ${r.bytes}`);
    lines.push(...r.stack);
  }
  lines.push("");
  lines.push("# process.memoryUsage()");
  try {
    const m = process.memoryUsage();
    lines.push(`# RSS = ${m.rss}`);
    lines.push(`# HeapTotal = ${m.heapTotal}`);
    lines.push(`# HeapUsed = ${m.heapUsed}`);
    lines.push(`# External = ${m.external}`);
    lines.push(`# ArrayBuffers = ${m.arrayBuffers}`);
  } catch {
    lines.push("# (unavailable)");
  }
  return lines.join("\n") + "\n";
}
