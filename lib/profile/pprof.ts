/**
 * Small helpers over `pprof-format` profiles: the finishing touches every
 * profile of this package gets (sample types, times, filenames, comments).
 */

import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import {
  Function as PprofFunction,
  Line,
  Location,
  Mapping,
  Profile,
  Sample,
  ValueType,
} from "../deps.ts";
import { message } from "../errors.ts";
import { VERSION } from "../version.ts";
import { program } from "./program.ts";
import { V8_FILE } from "./frames.ts";

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

export { NATIVE_FILE, NATIVE_FRAME, V8_FILE } from "./frames.ts";
export { nowNanos } from "./sleep.ts";

/** A bracketed pseudo-file such as `[v8]` or `[deno]`, with no path under it. */
const PSEUDO_FILE = /^\[[^\]/]*\]$/;

/**
 * The file of pseudo-frame `name` in pseudo-file `base`: `[v8]/[gc]`,
 * `[v8]/op_net_send_udp`, `[deno]/[native: ...]`. One file per frame, because
 * `go tool pprof -http`'s source view groups by file and line: frames sharing
 * `[v8]` line 0 all became one block (under whichever name came first, with
 * all their time), and an empty file fares no better (it groups as `.`).
 */
export function pseudoFile(base: string, name: string): string {
  return `${base}/${name}`;
}

/**
 * Gives every function a file (V8 builtins and synthetic frames have none),
 * so each location has a named function and a file; pseudo-frames (no file,
 * or a bracketed one such as `[deno]`) get a file of their own (`pseudoFile`).
 */
export function fillFilenames(p: Profile, fallback = V8_FILE): void {
  for (const f of p.function) {
    const file = str(p, f.filename);
    if (file && !PSEUDO_FILE.test(file)) continue;
    f.filename = p.stringTable.dedup(
      pseudoFile(file || fallback, str(p, f.name)),
    );
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

/**
 * The program's name for the main mapping: the main module's path (or URL):
 * `/srv/app/main.ts` for an app that mounts `pprofHandler()` or runs under
 * `coredeno run app.ts`, coredeno's own `main.ts` for coredeno. Not a bare
 * `coredeno`: `go tool pprof -http`'s source view opens the mapping's file
 * as an executable, and a compiled `./coredeno` in the directory it runs in
 * would leave the view empty (checked); a module path is never one.
 */
export function mainBinaryName(
  mainModule: string = program.mainModule,
): string {
  if (!mainModule.startsWith("file:")) return mainModule;
  try {
    return fileURLToPath(mainModule);
  } catch {
    return mainModule;
  }
}

/**
 * `p` with one main `Mapping` (file: `mainBinaryName()`, build id: coredeno's
 * version) that every location without a mapping points at, so clients name
 * the program: `go tool pprof` prints `File: main.ts` instead of `Main binary
 * filename not available.`, and the web UI's title is `main.ts cpu`, not
 * `unknown cpu`. Empty profiles get it too: they still name the program.
 *
 * `has_functions` and `has_filenames`: every location's frames carry a
 * function name and a file (this package's profiles always do; with it,
 * pprof neither looks for the binary nor asks `/symbol`). `has_line_numbers`:
 * some frame has a line, pprof's own reading when it symbolizes. Inlined
 * frames are not expanded, so `has_inline_frames` is false.
 *
 * Returns a shallow copy (new mapping and location lists; samples, functions
 * and the string table shared, the latter gaining two entries), so snapshots
 * that several requests share, or that a delta will merge, keep their shape.
 * A profile with a mapping and no location outside one is returned as is.
 */
export function withMainMapping(
  p: Profile,
  name: string = mainBinaryName(),
): Profile {
  const unmapped = p.location.some((l) => int64(l.mappingId) === 0);
  if (p.mapping.length > 0 && !unmapped) return p;
  let main = p.mapping[0];
  let mapping = p.mapping;
  if (!main) {
    const functions = new Map(p.function.map((f) => [int64(f.id), f]));
    let hasFunctions = true;
    let hasFilenames = true;
    let hasLineNumbers = false;
    for (const l of p.location) {
      for (const line of l.line) {
        const f = functions.get(int64(line.functionId));
        if (!f || !str(p, f.name)) hasFunctions = false;
        if (!f || !str(p, f.filename)) hasFilenames = false;
        if (int64(line.line) > 0) hasLineNumbers = true;
      }
      if (l.line.length === 0) hasFunctions = hasFilenames = false;
    }
    main = new Mapping({
      id: 1,
      filename: p.stringTable.dedup(name),
      buildId: p.stringTable.dedup(VERSION),
      hasFunctions,
      hasFilenames,
      hasLineNumbers,
      hasInlineFrames: false,
    });
    mapping = [main];
  }
  const mainId = main.id;
  return new Profile({
    ...p,
    mapping,
    location: p.location.map((l) =>
      int64(l.mappingId) !== 0 ? l : new Location({
        id: l.id,
        mappingId: mainId,
        address: l.address,
        line: l.line,
        isFolded: l.isFolded,
      })
    ),
  });
}

/** Decompressed profiles larger than this are refused (a gzip bomb guard). */
export const MAX_PROFILE_BYTES = 256 * 2 ** 20;

/** Decodes gzipped or raw pprof bytes; throws a readable error when they are not a profile. */
export function decodeProfile(bytes: Uint8Array): Profile {
  let raw = bytes;
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      raw = gunzipSync(bytes, { maxOutputLength: MAX_PROFILE_BYTES });
    } catch (error) {
      throw new Error(`not a gzipped profile: ${message(error)}`);
    }
  }
  let profile: Profile;
  try {
    profile = Profile.decode(raw);
  } catch (error) {
    throw new Error(`not a pprof profile: ${message(error)}`);
  }
  // Protobuf decodes most bytes as something; a profile names its values.
  if (profile.sampleType.length === 0) {
    throw new Error("not a pprof profile: it has no sample types");
  }
  if (profile.stringTable.strings[0] !== "") {
    throw new Error("not a pprof profile: string_table[0] must be ''");
  }
  return profile;
}
