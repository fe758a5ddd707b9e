/**
 * A large source map read lazily, for the bundle's (`dist/coredeno.js.map`:
 * 16k lines, 286k characters of mappings, plus the sources' text).
 *
 * `@jridgewell/trace-mapping` decodes every segment of a map on its first
 * lookup: for the bundle that took 130–280 ms in a fresh process on a busy
 * machine and kept 10 MB of heap (22 MB RSS) for a profile that touches a
 * few hundred positions. Here one pass over the mappings notes the decoder's
 * state at every CHUNK-th generated line; a lookup decodes the CHUNK lines
 * around it into a small trace-mapping map (its public API, from decoded
 * segments) and keeps that. The sources' text is never held.
 */

import { originalPositionFor, TraceMap } from "../deps_maps.ts";

type Needle = Parameters<typeof originalPositionFor>[1];
type Found = ReturnType<typeof originalPositionFor>;
type Segment =
  | [number]
  | [number, number, number, number]
  | [number, number, number, number, number];

/** Generated lines per decoded piece. */
const CHUNK = 64;
/** Below this many characters of mappings, decoding it all is cheap. */
export const LAZY_ABOVE = 100_000;

/** The source map fields this reader uses. */
export interface RawSourceMap {
  version?: number;
  sources?: (string | null)[];
  sourceRoot?: string;
  names?: string[];
  mappings: string;
}

const BASE64 = new Int8Array(128).fill(-1);
for (
  const [i, c] of [
    ..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
  ].entries()
) {
  BASE64[c.charCodeAt(0)] = i;
}

/** Something that answers `originalPositionFor` as trace-mapping does. */
export interface PositionLookup {
  originalPositionFor(needle: Needle): Found;
}

/** A whole map decoded by trace-mapping (small maps). */
export function wholeMap(
  map: RawSourceMap | string,
  base: string,
): PositionLookup {
  const traced = new TraceMap(
    map as ConstructorParameters<typeof TraceMap>[0],
    base,
  );
  return {
    originalPositionFor: (needle) => originalPositionFor(traced, needle),
  };
}

/** The map read in CHUNK-line pieces (see the module comment). */
export class ChunkedMap implements PositionLookup {
  readonly #mappings: string;
  readonly #sources: string[];
  readonly #names: string[];
  /** Per chunk: offset in #mappings, then source, line, column, name state. */
  readonly #starts: Int32Array;
  readonly #chunks = new Map<number, TraceMap>();

  constructor(map: RawSourceMap, base: string) {
    this.#mappings = map.mappings;
    this.#names = map.names ?? [];
    // trace-mapping resolves the sources (sourceRoot, relative to `base`).
    this.#sources = new TraceMap({
      version: 3,
      sources: map.sources ?? [],
      ...(map.sourceRoot === undefined ? {} : { sourceRoot: map.sourceRoot }),
      names: [],
      mappings: "",
    }, base).resolvedSources;
    this.#starts = scan(map.mappings);
  }

  originalPositionFor(needle: Needle): Found {
    const chunk = Math.floor((needle.line - 1) / CHUNK);
    if (needle.line < 1 || 5 * chunk >= this.#starts.length) {
      return originalPositionFor(this.#piece(-1), needle);
    }
    return originalPositionFor(this.#piece(chunk), {
      ...needle,
      line: needle.line - chunk * CHUNK,
    });
  }

  #piece(chunk: number): TraceMap {
    let piece = this.#chunks.get(chunk);
    if (piece === undefined) {
      piece = new TraceMap({
        version: 3,
        sources: this.#sources,
        names: this.#names,
        mappings: chunk < 0 ? [] : this.#decode(chunk),
      });
      this.#chunks.set(chunk, piece);
    }
    return piece;
  }

  /** The CHUNK lines of `chunk` as decoded segments, absolute. */
  #decode(chunk: number): Segment[][] {
    const s = this.#starts;
    const text = this.#mappings;
    let i = s[5 * chunk]!;
    let source = s[5 * chunk + 1]!;
    let line = s[5 * chunk + 2]!;
    let column = s[5 * chunk + 3]!;
    let name = s[5 * chunk + 4]!;
    const lines: Segment[][] = [[]];
    const fields: number[] = [];
    let generated = 0;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 59 /* ; */) {
        if (lines.length === CHUNK) break;
        lines.push([]);
        generated = 0;
        i++;
        continue;
      }
      if (c === 44 /* , */) {
        i++;
        continue;
      }
      fields.length = 0;
      while (i < text.length) {
        const d = text.charCodeAt(i);
        if (d === 44 || d === 59) break;
        let value = 0;
        let shift = 0;
        let digit: number;
        do {
          digit = BASE64[text.charCodeAt(i++)] ?? -1;
          if (digit < 0) {
            throw new SyntaxError("Cannot decode source map mappings");
          }
          value += (digit & 31) * 2 ** shift;
          shift += 5;
        } while (digit & 32);
        fields.push(value & 1 ? -(value - 1) / 2 : value / 2);
      }
      generated += fields[0] ?? 0;
      const segment: Segment = [generated];
      if (fields.length >= 4) {
        source += fields[1]!;
        line += fields[2]!;
        column += fields[3]!;
        segment.push(source, line, column);
        if (fields.length >= 5) {
          name += fields[4]!;
          segment.push(name);
        }
      }
      lines.at(-1)!.push(segment);
    }
    // trace-mapping wants each line sorted by generated column.
    for (const l of lines) {
      for (let k = 1; k < l.length; k++) {
        if (l[k]![0] < l[k - 1]![0]) {
          l.sort((a, b) => a[0] - b[0]);
          break;
        }
      }
    }
    return lines;
  }
}

/**
 * One pass over `mappings`: for every CHUNK-th line, the offset where it
 * starts and the source, line, column and name state there.
 */
function scan(mappings: string): Int32Array {
  const starts: number[] = [0, 0, 0, 0, 0];
  let source = 0;
  let line = 0;
  let column = 0;
  let name = 0;
  let generatedLine = 0;
  let field = 0;
  let value = 0;
  let shift = 0;
  for (let i = 0; i < mappings.length; i++) {
    const c = mappings.charCodeAt(i);
    if (c === 59 /* ; */ || c === 44 /* , */) {
      field = 0;
      if (c === 59 && ++generatedLine % CHUNK === 0) {
        starts.push(i + 1, source, line, column, name);
      }
      continue;
    }
    const digit = c < 128 ? BASE64[c]! : -1;
    if (digit < 0) throw new SyntaxError("Cannot decode source map mappings");
    value += (digit & 31) * 2 ** shift;
    if (digit & 32) {
      shift += 5;
      continue;
    }
    const delta = value & 1 ? -(value - 1) / 2 : value / 2;
    switch (field++) {
      case 1:
        source += delta;
        break;
      case 2:
        line += delta;
        break;
      case 3:
        column += delta;
        break;
      case 4:
        name += delta;
        break;
    }
    value = 0;
    shift = 0;
  }
  return Int32Array.from(starts);
}
