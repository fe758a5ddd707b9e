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

/** The 1-based line of `function NAME` (exported or not) in a source file. */
export function lineOf(path: string, name: string): number {
  const lines = Deno.readTextFileSync(path).split("\n");
  const i = lines.findIndex((l) =>
    l.startsWith(`export function ${name}(`) ||
    l.startsWith(`function ${name}(`)
  );
  if (i < 0) throw new Error(`no function ${name} in ${path}`);
  return i + 1;
}

export const WORKLOAD = new URL("./testdata/workload.ts", import.meta.url)
  .pathname;

/** The lines of `function NAME` in a source file, header to closing brace. */
export function bodyOf(
  path: string,
  name: string,
): { start: number; end: number } {
  const start = lineOf(path, name);
  const lines = Deno.readTextFileSync(path).split("\n");
  const end = lines.findIndex((l, i) => i >= start && l === "}");
  if (end < 0) throw new Error(`no end of ${name} in ${path}`);
  return { start, end: end + 1 };
}

/** The 1-based line of the first line containing `marker` at or after `from`. */
export function markedLine(path: string, marker: string, from = 1): number {
  const lines = Deno.readTextFileSync(path).split("\n");
  const i = lines.findIndex((l, n) => n >= from - 1 && l.includes(marker));
  if (i < 0) throw new Error(`no ${marker} in ${path}`);
  return i + 1;
}

/** `type`'s self value (leaf frames) of function `name`, per line shown. */
export function selfByLine(
  p: Profile,
  type: string,
  name: string,
): Map<number, number> {
  const i = typeIndex(p, type);
  const out = new Map<number, number>();
  for (const s of stacks(p)) {
    const leaf = s.frames[0];
    if (leaf?.name !== name) continue;
    out.set(leaf.line, (out.get(leaf.line) ?? 0) + (s.value[i] ?? 0));
  }
  return out;
}

/** The line with the most value in `byLine`. */
export function hottestLine(byLine: Map<number, number>): number {
  return [...byLine].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 0;
}

/**
 * Runs `deno ARGS` with stdout and stderr piped, checks that it succeeded
 * (its stderr as the message), and returns its stdout parsed as JSON: how
 * these tests read what a child process measured in itself.
 */
export async function denoJson(
  args: string[],
  env: Record<string, string> = {},
  // deno-lint-ignore no-explicit-any
): Promise<any> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  if (!out.success) {
    throw new Error(`deno ${args.join(" ")} failed:\n${decode(out.stderr)}`);
  }
  return JSON.parse(decode(out.stdout).trim());
}
