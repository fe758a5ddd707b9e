/**
 * CPU captures (profiler.ts) as pprof profiles: every isolate's samples in
 * one profile, each sample labelled with its isolate (`isolate` = `main`,
 * the worker's name or its script; `isolate_id` = its number), so
 * `go tool pprof -tagfocus isolate=main` and `-tags` work.
 *
 * Known limits (V8 and Deno, measured here):
 * - Leaf frames carry the line that ran (V8's per-line ticks); callers carry
 *   their function's line: V8's profile has no call-site lines.
 * - Deno's Rust side (I/O, HTTP, the event loop) is sampled as "(idle)"; its
 *   CPU reaches the profile only through the `[native: …]` frame, which is
 *   the process's CPU (all threads) that no JavaScript sample accounts for.
 * - After a *timer* wake-up, about the first millisecond of JavaScript is
 *   sampled as "(idle)" too (I/O wake-ups are not affected): code running
 *   in short timer callbacks is under-counted, and that CPU also lands in
 *   the `[native: …]` frame, so totals stay right.
 */

import { nextTask } from "./sleep.ts";
import type { Profile } from "../deps.ts";
import {
  FrameTable,
  readCallTree,
  type SampleLabel,
  stacksToPprof,
} from "./call_tree.ts";
import type { IsolateInfo, RawCpuCapture } from "./types.ts";
import {
  addComment,
  addSyntheticSample,
  fillFilenames,
  NATIVE_FILE,
  NATIVE_FRAME,
  setSampleTypes,
} from "./pprof.ts";
import type { LocationMapper, SourceMaps } from "./sourcemap.ts";

/** The labels every sample of an isolate carries. */
export function isolateLabels(isolate: IsolateInfo): SampleLabel[] {
  return [
    { key: "isolate", str: isolate.label },
    { key: "isolate_id", str: String(isolate.number) },
  ];
}

/**
 * Runs a build step; where the build runs on the profiled thread (the
 * in-process profiler), its time is the profiler's own pause, which the
 * block profile must not book to the application.
 */
export type PauseNote = <T>(step: () => T) => T;
const unnoted: PauseNote = (step) => step();

/** Every isolate's stacks read into one frame table, with their effective periods. */
async function readAll(
  raw: RawCpuCapture,
  style: "cpu" | "wall",
  pause: PauseNote = unnoted,
) {
  const table = new FrameTable();
  const stacks: {
    frames: number[];
    hits: number;
    periodNanos: number;
    labels: SampleLabel[];
  }[] = [];
  let jsNanos = 0;
  let samples = 0;
  for (const { isolate, chunks } of raw.isolates) {
    const labels = isolateLabels(isolate);
    for (const cdp of chunks) {
      await nextTask(); // the application runs between chunks (bench P8)
      const tree = pause(() =>
        readCallTree(cdp, style, { table, isolate: isolate.id })
      );
      const elapsedMicros = Math.max(0, cdp.endTime - cdp.startTime);
      const periodNanos = tree.total > 0
        ? elapsedMicros * 1000 / tree.total
        : raw.intervalMicros * 1000;
      for (const s of tree.stacks) {
        stacks.push({ frames: s.frames, hits: s.hits, periodNanos, labels });
      }
      jsNanos += (tree.total - tree.idle) * periodNanos;
      samples += tree.total;
    }
  }
  return { table, stacks, jsNanos, samples };
}

/** Comments that say which isolates were profiled, and what is missing. */
function describeIsolates(p: Profile, raw: RawCpuCapture): void {
  const names = raw.isolates.map(({ isolate }) =>
    `${isolate.label} (#${isolate.number})`
  );
  addComment(p, `coredeno: isolates profiled: ${names.join(", ")}`);
  for (const { isolate, incomplete } of raw.isolates) {
    if (incomplete) {
      addComment(
        p,
        `coredeno: ${isolate.label} (#${isolate.number}) is incomplete: ${incomplete}`,
      );
    }
  }
}

/**
 * The CPU profile as Go writes one: `samples/count` and `cpu/nanoseconds`,
 * each isolate's samples valued at its effective interval (V8 samples less
 * often than asked), no `(idle)`, `[program]` and `[gc]` as frames, and one
 * `[native: …]` frame with the process CPU that the JavaScript samples miss.
 */
export async function cpuProfileToPprof(
  raw: RawCpuCapture,
  maps: SourceMaps,
  options: { mapper?: LocationMapper; pause?: PauseNote } = {},
): Promise<Profile> {
  const pause = options.pause ?? unnoted;
  const { table, stacks, jsNanos, samples } = await readAll(raw, "cpu", pause);
  await nextTask();
  const prepared = await maps.prepare(table.scripts);
  const p = pause(() =>
    stacksToPprof(
      table,
      stacks.map(({ frames, hits, periodNanos, labels }) => ({
        frames,
        values: [hits, Math.round(hits * periodNanos)],
        labels,
      })),
      options.mapper ?? prepared.mapper,
    )
  );
  await nextTask();
  // The nominal period: each isolate's samples carry their own. With no
  // JavaScript sample at all (an idle process: every sample `(idle)`), the
  // sampling interval.
  const meanNanos = samples > 0 ? Math.round(jsNanosPerSample(stacks)) : 0;
  const periodNanos = meanNanos > 0 ? meanNanos : raw.intervalMicros * 1000;
  setSampleTypes(p, [["samples", "count"], ["cpu", "nanoseconds"]], [
    "cpu",
    "nanoseconds",
  ]);
  p.period = periodNanos;
  p.timeNanos = raw.startNanos;
  p.durationNanos = raw.durationNanos;
  const nonJsNanos = Math.round(raw.processCpuMicros * 1000 - jsNanos);
  if (nonJsNanos > 0) {
    // The samples its CPU time stands for, so -sample_index=samples shows it.
    addSyntheticSample(p, NATIVE_FRAME, NATIVE_FILE, [
      periodNanos > 0 ? Math.round(nonJsNanos / periodNanos) : 0,
      nonJsNanos,
    ]);
  }
  fillFilenames(p);
  addComment(
    p,
    `coredeno: V8 CPU profile, sampling interval ${raw.intervalMicros}us, effective ${
      (periodNanos / 1000).toFixed(1)
    }us; ${NATIVE_FRAME} = process CPU (all threads) not seen by JavaScript samples`,
  );
  describeIsolates(p, raw);
  if (!options.mapper) {
    for (const line of prepared.unmapped) {
      addComment(p, `raw JS positions: ${line}`);
    }
  }
  return p;
}

/** The mean effective interval over all samples, ns. */
function jsNanosPerSample(
  stacks: readonly { hits: number; periodNanos: number }[],
): number {
  let hits = 0;
  let nanos = 0;
  for (const s of stacks) {
    hits += s.hits;
    nanos += s.hits * s.periodNanos;
  }
  return hits > 0 ? nanos / hits : 0;
}

/**
 * The wall-time profile `@datadog/pprof`'s `time` API returns: `sample/count`
 * and `wall/nanoseconds` (its period recomputed from elapsed / samples and
 * clamped to [interval, 2 × interval] as its serializer does), `(program)`
 * dropped, GC as `Garbage Collection` under `Node.js`. With `collectCpuTime`
 * a third `cpu/nanoseconds` type, JavaScript samples valued at the effective
 * interval and a `Non JS threads activity` frame for the rest of the process
 * CPU, as in Node.
 */
export async function wallProfileToPprof(
  raw: RawCpuCapture,
  maps: SourceMaps,
  options: { mapper?: LocationMapper; collectCpuTime?: boolean } = {},
): Promise<Profile> {
  const { table, stacks, jsNanos } = await readAll(raw, "wall");
  const mapper = options.mapper ?? (await maps.prepare(table.scripts)).mapper;
  const interval = raw.intervalMicros;
  const clamp = (effectiveNanos: number) =>
    Math.min(
      Math.max(Math.floor(effectiveNanos / 1000), interval),
      2 * interval,
    ) *
    1000;
  const p = stacksToPprof(
    table,
    stacks.map(({ frames, hits, periodNanos, labels }) => ({
      frames,
      values: options.collectCpuTime
        ? [hits, hits * clamp(periodNanos), Math.round(hits * periodNanos)]
        : [hits, hits * clamp(periodNanos)],
      labels,
    })),
    mapper,
  );
  setSampleTypes(
    p,
    [
      ["sample", "count"],
      ["wall", "nanoseconds"],
      ...(options.collectCpuTime ? [["cpu", "nanoseconds"] as const] : []),
    ],
    ["wall", "nanoseconds"],
  );
  p.period = clamp(jsNanosPerSample(stacks) || interval * 1000);
  if (options.collectCpuTime) {
    const nonJs = Math.round(raw.processCpuMicros * 1000 - jsNanos);
    if (nonJs > 0) {
      addSyntheticSample(p, "Non JS threads activity", NATIVE_FILE, [
        0,
        0,
        nonJs,
      ]);
    }
  }
  p.timeNanos = raw.startNanos;
  p.durationNanos = raw.durationNanos;
  fillFilenames(p);
  return p;
}
