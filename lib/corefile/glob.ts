/**
 * The slice of Go's path/filepath that caddy's `import` relies on (Unix
 * semantics): Clean, Join, Dir, Abs, Match and Glob. Import patterns are
 * globbed exactly like CoreDNS: a wildcard may appear in any path element
 * (caddy only limits the *count*: one `*`, one `?`, not both `[` and `]`),
 * `\` escapes the next character, and matches come back in byte order.
 *
 * @module
 */

import { clean } from "../go_path.ts";

/** Go's filepath.ErrBadPattern text. */
export const ERR_BAD_PATTERN = "syntax error in pattern";

/** Thrown for a malformed pattern; `message` is Go's error text. */
export class GlobPatternError extends Error {
  constructor() {
    super(ERR_BAD_PATTERN);
    this.name = "GlobPatternError";
  }
}

/** Go's filepath.Join on Unix. */
export function join(...elems: string[]): string {
  const parts = elems.filter((e) => e !== "");
  return parts.length === 0 ? "" : clean(parts.join("/"));
}

/** Go's filepath.IsAbs on Unix. */
export function isAbs(path: string): boolean {
  return path.startsWith("/");
}

/** Go's filepath.Split: everything up to and including the last "/", and the rest. */
export function split(path: string): [string, string] {
  const i = path.lastIndexOf("/");
  return [path.slice(0, i + 1), path.slice(i + 1)];
}

/** Go's filepath.Dir on Unix. */
export function dir(path: string): string {
  return clean(split(path)[0]);
}

/** Go's filepath.Abs, against the given working directory. */
export function abs(path: string, cwd: string): string {
  return isAbs(path) ? clean(path) : join(cwd, path);
}

/** Go's hasMeta on Unix: the backslash counts too. */
export function hasMeta(path: string): boolean {
  return /[*?[\\]/.test(path);
}

// Match works on code points, which is what Go's byte-wise matching of UTF-8
// amounts to for valid text.
type Runes = readonly string[];

function scanChunk(
  pattern: Runes,
): { star: boolean; chunk: Runes; rest: Runes } {
  let star = false;
  while (pattern.length > 0 && pattern[0] === "*") {
    pattern = pattern.slice(1);
    star = true;
  }
  let inrange = false;
  let i = 0;
  scan: for (; i < pattern.length; i++) {
    switch (pattern[i]) {
      case "\\":
        // Error check is left to matchChunk.
        if (i + 1 < pattern.length) i++;
        break;
      case "[":
        inrange = true;
        break;
      case "]":
        inrange = false;
        break;
      case "*":
        if (!inrange) break scan;
        break;
    }
  }
  return { star, chunk: pattern.slice(0, i), rest: pattern.slice(i) };
}

function getEsc(chunk: Runes): { r: string; rest: Runes } {
  if (chunk.length === 0 || chunk[0] === "-" || chunk[0] === "]") {
    throw new GlobPatternError();
  }
  if (chunk[0] === "\\") {
    chunk = chunk.slice(1);
    if (chunk.length === 0) throw new GlobPatternError();
  }
  const r = chunk[0]!;
  const rest = chunk.slice(1);
  if (rest.length === 0) throw new GlobPatternError();
  return { r, rest };
}

function cp(r: string): number {
  return r.codePointAt(0) ?? 0;
}

/** Returns the rest of s after matching chunk, or null; throws on a bad pattern. */
function matchChunk(chunk: Runes, s: Runes): Runes | null {
  // After a failed match Go keeps walking the chunk to validate its syntax.
  let failed = false;
  while (chunk.length > 0) {
    if (!failed && s.length === 0) failed = true;
    switch (chunk[0]) {
      case "[": {
        let r = 0;
        if (!failed) {
          r = cp(s[0]!);
          s = s.slice(1);
        }
        chunk = chunk.slice(1);
        let negated = false;
        if (chunk.length > 0 && chunk[0] === "^") {
          negated = true;
          chunk = chunk.slice(1);
        }
        let match = false;
        let nrange = 0;
        for (;;) {
          if (chunk.length > 0 && chunk[0] === "]" && nrange > 0) {
            chunk = chunk.slice(1);
            break;
          }
          const lo = getEsc(chunk);
          chunk = lo.rest;
          let hi = lo.r;
          if (chunk[0] === "-") {
            const h = getEsc(chunk.slice(1));
            hi = h.r;
            chunk = h.rest;
          }
          if (cp(lo.r) <= r && r <= cp(hi)) match = true;
          nrange++;
        }
        if (match === negated) failed = true;
        break;
      }
      case "?":
        if (!failed) {
          if (s[0] === "/") failed = true;
          s = s.slice(1);
        }
        chunk = chunk.slice(1);
        break;
      case "\\":
        chunk = chunk.slice(1);
        if (chunk.length === 0) throw new GlobPatternError();
        // falls through to a literal comparison of the escaped character
        if (!failed) {
          if (chunk[0] !== s[0]) failed = true;
          s = s.slice(1);
        }
        chunk = chunk.slice(1);
        break;
      default:
        if (!failed) {
          if (chunk[0] !== s[0]) failed = true;
          s = s.slice(1);
        }
        chunk = chunk.slice(1);
    }
  }
  return failed ? null : s;
}

/**
 * Go's filepath.Match.
 *
 * @throws {GlobPatternError} when the pattern is malformed
 */
export function match(pattern: string, name: string): boolean {
  let pat: Runes = Array.from(pattern);
  let nm: Runes = Array.from(name);
  outer: while (pat.length > 0) {
    const { star, chunk, rest } = scanChunk(pat);
    pat = rest;
    if (star && chunk.length === 0) {
      // A trailing * matches the rest of the name unless it has a /.
      return !nm.includes("/");
    }
    const t = matchChunk(chunk, nm);
    if (t !== null && (t.length === 0 || pat.length > 0)) {
      nm = t;
      continue;
    }
    if (star) {
      // Look for a match skipping i+1 characters; * cannot skip a /.
      for (let i = 0; i < nm.length && nm[i] !== "/"; i++) {
        const t2 = matchChunk(chunk, nm.slice(i + 1));
        if (t2 !== null) {
          if (pat.length === 0 && t2.length > 0) continue;
          nm = t2;
          continue outer;
        }
      }
    }
    // Before returning false, check that the rest of the pattern is valid.
    while (pat.length > 0) {
      const next = scanChunk(pat);
      pat = next.rest;
      matchChunk(next.chunk, []);
    }
    return false;
  }
  return nm.length === 0;
}

/** The file-system calls Glob needs; injectable so a parse can cache them. */
export interface GlobFs {
  /** True when lstat succeeds. */
  exists(path: string): boolean;
  /** True when stat succeeds and the path is a directory. */
  isDir(path: string): boolean;
  /** Entry names of a directory; [] when it cannot be read. */
  readDirNames(path: string): string[];
}

/** Compares strings by code point, which is Go's byte order for UTF-8. */
export function compareCodePoints(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const d = cp(x[i]!) - cp(y[i]!);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

// Go refuses patterns with this many nested wildcard directories.
const PATH_SEPARATORS_LIMIT = 10000;

function globDir(
  fs: GlobFs,
  dirPath: string,
  pattern: string,
  matches: string[],
): void {
  // I/O errors are ignored, as in Go.
  if (!fs.isDir(dirPath)) return;
  const names = fs.readDirNames(dirPath).slice().sort(compareCodePoints);
  for (const n of names) {
    if (match(pattern, n)) matches.push(join(dirPath, n));
  }
}

function cleanGlobPath(path: string): string {
  if (path === "") return ".";
  if (path === "/") return path;
  return path.slice(0, -1);
}

/**
 * Go's filepath.Glob. Written as a loop over the wildcard directory levels
 * (Go recurses) so that deep patterns cannot overflow the stack.
 *
 * @throws {GlobPatternError} when the pattern is malformed
 */
export function glob(pattern: string, fs: GlobFs): string[] {
  const files: string[] = [];
  let current = pattern;
  let base: string[];
  for (let depth = 0;; depth++) {
    if (depth === PATH_SEPARATORS_LIMIT) throw new GlobPatternError();
    if (!hasMeta(current)) {
      base = fs.exists(current) ? [current] : [];
      break;
    }
    // Only a pattern with meta characters can be malformed.
    match(current, "");
    const [d, file] = split(current);
    const dirPath = cleanGlobPath(d);
    if (!hasMeta(dirPath)) {
      base = [];
      globDir(fs, dirPath, file, base);
      break;
    }
    if (dirPath === current) throw new GlobPatternError();
    files.push(file);
    current = dirPath;
  }
  let matches = base;
  for (let k = files.length - 1; k >= 0; k--) {
    const next: string[] = [];
    for (const d of matches) globDir(fs, d, files[k]!, next);
    matches = next;
  }
  return matches;
}
