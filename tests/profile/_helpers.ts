/** Helpers for reading profiles in tests/profile. */

import type { Profile } from "../../lib/deps.ts";

type Numeric = number | bigint;

export function num(value: Numeric | undefined): number {
  if (value === undefined) return 0;
  if (typeof value === "number") return value;
  return Number(value >= 1n << 63n ? value - (1n << 64n) : value);
}

/** Index of the sample type named `type`; throws when absent. */
export function typeIndex(p: Profile, type: string): number {
  const i = p.sampleType.findIndex((v) =>
    p.stringTable.strings[num(v.type)] === type
  );
  if (i < 0) throw new Error(`no sample type ${type}`);
  return i;
}

/** "type/unit" of every sample type. */
export function sampleTypes(p: Profile): string[] {
  const s = p.stringTable.strings;
  return p.sampleType.map((v) => `${s[num(v.type)]}/${s[num(v.unit)]}`);
}

export interface Frame {
  name: string;
  file: string;
  line: number;
}

/** Each sample's stack (leaf first) as frames. */
export function stacks(p: Profile): { frames: Frame[]; value: number[] }[] {
  const s = p.stringTable.strings;
  const functions = new Map(p.function.map((f) => [num(f.id), f]));
  const locations = new Map(p.location.map((l) => [num(l.id), l]));
  return p.sample.map((sample) => ({
    value: sample.value.map(num),
    frames: sample.locationId.flatMap((id) =>
      (locations.get(num(id))?.line ?? []).map((line) => {
        const f = functions.get(num(line.functionId));
        return {
          name: s[num(f?.name)] ?? "",
          file: s[num(f?.filename)] ?? "",
          line: num(line.line),
        };
      })
    ),
  }));
}

/** Sum of `type` over samples whose stack contains a frame named `name`. */
export function cumulative(p: Profile, type: string, name: string): number {
  const i = typeIndex(p, type);
  return stacks(p)
    .filter((s) => s.frames.some((f) => f.name === name))
    .reduce((a, s) => a + (s.value[i] ?? 0), 0);
}

/** Sum of `type` over all samples. */
export function total(p: Profile, type: string): number {
  const i = typeIndex(p, type);
  return p.sample.reduce((a, s) => a + num(s.value[i]), 0);
}

/** Frames named `name` anywhere in the profile. */
export function framesNamed(p: Profile, name: string): Frame[] {
  return stacks(p).flatMap((s) => s.frames).filter((f) => f.name === name);
}

/** The 1-based line of `export function NAME` in a source file. */
export function lineOf(path: string, name: string): number {
  const lines = Deno.readTextFileSync(path).split("\n");
  const i = lines.findIndex((l) => l.startsWith(`export function ${name}(`));
  if (i < 0) throw new Error(`no function ${name} in ${path}`);
  return i + 1;
}

export const WORKLOAD = new URL("./testdata/workload.ts", import.meta.url)
  .pathname;
