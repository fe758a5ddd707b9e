/**
 * Small helpers over `pprof-format` profiles: the finishing touches every
 * profile of this package gets (sample types, times, filenames, comments).
 */

import {
  Function as PprofFunction,
  Line,
  Location,
  type Profile,
  Sample,
  ValueType,
} from "../deps.ts";

export type Numeric = number | bigint;

const TWO_64 = 1n << 64n;
const TWO_63 = 1n << 63n;

/**
 * An int64 field as a JS number. `pprof-format` decodes varints of more than
 * four bytes as unsigned bigints, so negative values come back as 2^64 − n.
 */
export function int64(value: Numeric | undefined): number {
  if (value === undefined) return 0;
  if (typeof value === "number") return value;
  return Number(value >= TWO_63 ? value - TWO_64 : value);
}

/** The string at `index` of the profile's string table. */
export function str(p: Profile, index: Numeric | undefined): string {
  return p.stringTable.strings[int64(index)] ?? "";
}

/** Replaces the sample types (and optionally the period type). */
export function setSampleTypes(
  p: Profile,
  types: readonly (readonly [string, string])[],
  periodType?: readonly [string, string],
): void {
  const t = p.stringTable;
  p.sampleType = types.map(([type, unit]) =>
    new ValueType({ type: t.dedup(type), unit: t.dedup(unit) })
  );
  if (periodType) {
    p.periodType = new ValueType({
      type: t.dedup(periodType[0]),
      unit: t.dedup(periodType[1]),
    });
  }
}

/** Sets `default_sample_type` to the named type. */
export function setDefaultSampleType(p: Profile, type: string): void {
  p.defaultSampleType = p.stringTable.dedup(type);
}

/** Appends a human-readable comment (`go tool pprof -comments`). */
export function addComment(p: Profile, text: string): void {
  p.comment = [...p.comment, p.stringTable.dedup(text)];
}

/** Functions V8 reports without a script (builtins, GC, VM states). */
export const V8_FILE = "[v8]";

/**
 * Gives every function a file (V8 builtins and synthetic frames have none),
 * so each location has a named function and a file.
 */
export function fillFilenames(p: Profile, fallback = V8_FILE): void {
  for (const f of p.function) {
    if (!str(p, f.filename)) f.filename = p.stringTable.dedup(fallback);
  }
}

/**
 * Adds one root-level frame `name` (file `file`) with the given values, as
 * its own function, location and sample.
 */
export function addSyntheticSample(
  p: Profile,
  name: string,
  file: string,
  values: number[],
): void {
  const t = p.stringTable;
  const functionId = 1 + Math.max(0, ...p.function.map((f) => int64(f.id)));
  const locationId = 1 + Math.max(0, ...p.location.map((l) => int64(l.id)));
  p.function.push(
    new PprofFunction({
      id: functionId,
      name: t.dedup(name),
      systemName: t.dedup(name),
      filename: t.dedup(file),
    }),
  );
  p.location.push(
    new Location({ id: locationId, line: [new Line({ functionId, line: 0 })] }),
  );
  p.sample.push(new Sample({ locationId: [locationId], value: values }));
}

/** Wall-clock time now, in Unix nanoseconds. */
export function nowNanos(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1e6);
}
