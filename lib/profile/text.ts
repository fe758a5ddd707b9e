/**
 * `debug=1` bodies in Go's legacy text formats, which `go tool pprof` parses
 * (`github.com/google/pprof/profile/legacy_profile.go`) and people read:
 *
 * - heap and allocs: `heap profile: ...` (Go's `writeHeapInternal`);
 * - block and mutex: `--- contention:` / `--- mutex:` (`writeProfileInternal`);
 * - goroutine and threadcreate: `NAME profile: total N` (`printCountProfile`).
 *
 * Our profiles carry names, files and lines, not addresses; the formats need
 * addresses to build stacks. Each distinct frame (function, file, line) gets
 * a fake one, stable for the life of the process (`frameAddress`), and every
 * record lists its frames in Go's `#\t0xADDR\tfunction+0x0\tfile:line` lines,
 * which the parser skips as comments and people read. The JavaScript meaning
 * of each profile rides along in further `#` lines.
 *
 * `go tool pprof` gets its names for these addresses from `/symbol`
 * (`legacySymbols` answers for them); without it, it shows the addresses.
 */

import process from "node:process";
import type { Profile } from "../deps.ts";
import { int64, type Numeric, str } from "./pprof.ts";

/** Where fake frame addresses start, and how far apart they are. */
const FRAME_BASE = 0x1000;
const FRAME_STRIDE = 0x10;
/**
 * Frames remembered at most; past this the table starts over (addresses are
 * then reused: a `/symbol` lookup of a body that old may name other frames).
 */
const MAX_FRAMES = 1 << 16;

const frameIndex = new Map<string, number>();
const frameNames: string[] = [];

/**
 * The fake entry address of a frame: `0x1000 + 0x10 × n`, n counting the
 * distinct (function, file, line) frames this process has written. Records
 * list the return address, entry + 1, as Go's do (the parser subtracts 1).
 */
export function frameAddress(name: string, file: string, line: number): number {
  const key = `${name}\u0000${file}\u0000${line}`;
  let index = frameIndex.get(key);
  if (index === undefined) {
    if (frameNames.length >= MAX_FRAMES) {
      frameIndex.clear();
      frameNames.length = 0;
    }
    index = frameNames.push(name) - 1;
    frameIndex.set(key, index);
  }
  return FRAME_BASE + FRAME_STRIDE * index;
}

/**
 * Answers Go's symbol protocol for the fake addresses of `debug=1` bodies:
 * `input` is addresses separated by `+` (`0x1000+0x1010`, Go's parsing:
 * `0x` hex, leading `0` octal, else decimal), the result one
 * `0xADDR NAME` line per address that falls in a frame this process wrote.
 */
export function legacySymbols(input: string): string[] {
  const lines: string[] = [];
  for (const token of input.split("+")) {
    const address = parseAddress(token.trim());
    if (address === undefined || address < FRAME_BASE) continue;
    const name = frameNames[Math.floor((address - FRAME_BASE) / FRAME_STRIDE)];
    if (name !== undefined) lines.push(`0x${address.toString(16)} ${name}`);
  }
  return lines;
}

function parseAddress(token: string): number | undefined {
  let value: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(token)) value = parseInt(token.slice(2), 16);
  else if (/^0[0-7]*$/.test(token)) value = parseInt(token, 8);
  else if (/^[1-9]\d*$/.test(token)) value = Number(token);
  else return undefined;
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/** One stack of a profile: return addresses for `@` and Go's `#` frame lines. */
interface Stack {
  addresses: string;
  frames: string[];
}

/** Resolves a profile's samples to stacks, innermost frame first. */
function stackReader(p: Profile): (locationIds: Numeric[]) => Stack {
  const functions = new Map(p.function.map((f) => [int64(f.id), f]));
  const locations = new Map(p.location.map((l) => [int64(l.id), l]));
  return (locationIds) => {
    const addresses: string[] = [];
    const frames: string[] = [];
    for (const id of locationIds) {
      // A location with inlined frames lists them innermost first, as Go does.
      for (const line of locations.get(int64(id))?.line ?? []) {
        const f = functions.get(int64(line.functionId));
        const name = (f && str(p, f.name)) || "?";
        const file = (f && str(p, f.filename)) || "?";
        const lineNumber = Math.max(0, int64(line.line));
        const entry = frameAddress(name, file, lineNumber);
        addresses.push(` 0x${(entry + 1).toString(16)}`);
        frames.push(
          `#\t0x${entry.toString(16)}\t${name}+0x0\t${file}:${lineNumber}`,
        );
      }
    }
    return { addresses: addresses.join(""), frames };
  };
}

/** `TYPE/UNIT` of each sample type. */
function typeNames(p: Profile): string[] {
  return p.sampleType.map((v) => `${str(p, v.type)}/${str(p, v.unit)}`);
}

/** A non-negative integer, as the legacy parsers accept. */
function whole(value: Numeric | undefined): number {
  return Math.max(0, Math.round(int64(value)));
}

/** The profile's comments as `#` lines. */
function commentLines(p: Profile): string[] {
  return p.comment.map((c) => `# ${str(p, c).replaceAll("\n", " ")}`);
}

/**
 * Renders a heap (or allocs) profile in Go's legacy heap text:
 *
 *     heap profile: 21: 4812000 [0: 0] @ heapprofile
 *     # inuse_objects/count inuse_space/bytes, sampled every 524288 bytes ...
 *
 *     20: 4800000 [0: 0] @ 0x1001 0x1011
 *     #	0x1000	retain+0x0	/app/main.ts:12
 *     #	0x1010	main+0x0	/app/main.ts:40
 *
 * A live-heap profile fills the in-use pair and leaves the allocation pair
 * 0 (`go tool pprof` reads `objects`/`space`); an allocation profile fills
 * the allocation pair (`alloc_objects`/`alloc_space`). The header says
 * `heapprofile` rather than Go's `heap/<2×rate>` because the values are
 * already V8's unbiased estimates: with a rate, the parser would scale them
 * up a second time. Records are sorted by bytes, largest first; the trailer
 * gives `process.memoryUsage()`, as Go's gives `runtime.MemStats`.
 */
export function heapProfileText(p: Profile): string {
  const types = typeNames(p);
  const countIdx = types.findIndex((t) => t.endsWith("/count"));
  const bytesIdx = types.findIndex((t) => t.endsWith("/bytes"));
  const allocations = types.some((t) => t.startsWith("alloc_"));
  const stackOf = stackReader(p);

  const records = p.sample
    .map((s) => {
      const bytes = bytesIdx < 0 ? 0 : whole(s.value[bytesIdx]);
      // The parser refuses bytes without objects; V8's count estimate is at
      // least 1 wherever bytes were sampled, so this only guards rounding.
      const counted = countIdx < 0 ? 0 : whole(s.value[countIdx]);
      const count = bytes > 0 ? Math.max(1, counted) : counted;
      return { count, bytes, stack: stackOf(s.locationId) };
    })
    .sort((a, b) => b.bytes - a.bytes || b.count - a.count);
  const pair = (count: number, bytes: number) =>
    allocations ? `0: 0 [${count}: ${bytes}]` : `${count}: ${bytes} [0: 0]`;
  const totalCount = records.reduce((a, r) => a + r.count, 0);
  const totalBytes = records.reduce((a, r) => a + r.bytes, 0);
  const period = int64(p.period);

  const lines: string[] = [];
  lines.push(`heap profile: ${pair(totalCount, totalBytes)} @ heapprofile`);
  lines.push(
    `# ${[types[countIdx], types[bytesIdx]].filter(Boolean).join(": ")}` +
      (period ? `, sampled every ${period} bytes` : "") +
      "; values are V8's estimates (already scaled): bytes accurate, object counts approximate",
  );
  lines.push(...commentLines(p));
  lines.push("");
  for (const r of records) {
    lines.push(`${pair(r.count, r.bytes)} @${r.stack.addresses}`);
    lines.push(...r.stack.frames);
    lines.push("");
  }
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

/**
 * Renders a contention profile (`contentions/count`, `delay/nanoseconds`) in
 * Go's legacy text, `--- contention:` for `block`, `--- mutex:` for `mutex`:
 *
 *     --- contention:
 *     cycles/second=1000000000
 *     # ...
 *     31000000 2 @ 0x1021 0x1031
 *     #	0x1020	blocker+0x0	/app/blocker.ts:7
 *
 * Each record is `DELAY COUNT @ ADDRESSES`. Go counts delay in CPU cycles
 * and states the cycle rate; ours is nanoseconds, so the rate is stated as
 * 10⁹ per second, and the parser's conversion leaves the values as they are.
 * The values are already scaled for sampling, hence `sampling period=1`.
 */
export function contentionProfileText(
  kind: "contention" | "mutex",
  p: Profile,
): string {
  const types = typeNames(p);
  const countIdx = types.indexOf("contentions/count");
  const delayIdx = types.indexOf("delay/nanoseconds");
  const stackOf = stackReader(p);
  const records = p.sample
    .map((s) => ({
      count: countIdx < 0 ? 0 : whole(s.value[countIdx]),
      delay: delayIdx < 0 ? 0 : whole(s.value[delayIdx]),
      stack: stackOf(s.locationId),
    }))
    .filter((r) => r.count > 0 || r.delay > 0)
    .sort((a, b) => b.delay - a.delay || b.count - a.count);
  const lines = [
    `--- ${kind}:`,
    "cycles/second=1000000000",
    "sampling period=1",
    `# ${
      types.join(" ")
    }; cycles are nanoseconds; values already scaled for sampling`,
    ...commentLines(p),
  ];
  for (const r of records) {
    lines.push(`${r.delay} ${r.count} @${r.stack.addresses}`);
    lines.push(...r.stack.frames);
    lines.push("");
  }
  return lines.join("\n") + "\n";
}

/**
 * Renders a count profile (`goroutine`, `threadcreate`: one `NAME/count`
 * value per sample) in Go's legacy text:
 *
 *     goroutine profile: total 1
 *     # ...
 *     1 @ 0x1041
 *     #	0x1040	[JavaScript main thread]+0x0	[deno]/[JavaScript main thread]:0
 *
 * Records are sorted by count, largest first. The format has no room for a
 * record without a stack; such samples are counted in the total only.
 */
export function countProfileText(name: string, p: Profile): string {
  const stackOf = stackReader(p);
  const records = p.sample
    .map((s) => ({ count: whole(s.value[0]), stack: stackOf(s.locationId) }))
    .filter((r) => r.count > 0);
  const total = records.reduce((a, r) => a + r.count, 0);
  records.sort((a, b) => b.count - a.count);
  const lines = [
    `${name} profile: total ${total}`,
    `# ${typeNames(p).join(" ")}`,
    ...commentLines(p),
  ];
  for (const r of records) {
    if (!r.stack.addresses) continue;
    lines.push(`${r.count} @${r.stack.addresses}`);
    lines.push(...r.stack.frames);
    lines.push("");
  }
  return lines.join("\n") + "\n";
}
