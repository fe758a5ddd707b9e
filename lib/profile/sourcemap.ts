/**
 * TypeScript positions for profile frames.
 *
 * V8 runs JavaScript, so profiler positions are JS positions. Two routes lead
 * back to the TypeScript:
 *
 * - A script that carries its own source map: a bundle (`deno task bundle`,
 *   and the executable `deno task compile` makes from it) names its map in a
 *   `//# sourceMappingURL=` comment, which V8 reports in
 *   `Debugger.scriptParsed` (resolved relative to the script, or a `data:`
 *   URL); or the map sits beside it as `SCRIPT.map`; or it was inline (Deno
 *   strips an inline map before V8 sees the code, so the script's file is
 *   read for it).
 * - Deno's emit cache, for TypeScript run from source (`deno run main.ts`):
 *   Deno strips the map from the transpiled code it hands to V8, but
 *   `$DENO_DIR/gen/file/<absolute path>.js` is the emitted code followed by
 *   an inline `//# sourceMappingURL=data:...` map.
 *
 * Where the map comes from a file rather than from the script itself, the
 * SHA-256 of the code must equal the `hash` V8 reports for the script, which
 * proves the map was made for the code that runs.
 *
 * Maps are read once per script and kept. Where no verified map is found for
 * a transpiled module (no read access to DENO_DIR, a stale or missing entry,
 * remote modules), or a script's own map cannot be read, frames keep their
 * raw JS positions, and the profile says so in a comment. A plain JavaScript
 * file without a map is not unmapped: its positions are the source's.
 */

import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  GREATEST_LOWER_BOUND,
  LEAST_UPPER_BOUND,
  originalPositionFor,
  TraceMap,
} from "../deps.ts";
import type { GeneratedLocation, SourceLocation } from "../deps.ts";
import { on, post } from "./inspector.ts";

/** File extensions Deno transpiles before V8 sees them. */
const TRANSPILED = /\.(ts|tsx|mts|cts|jsx)$/;
const ANNOTATION = "//# sourceMappingURL=";

/** What the serializer asks of a source mapper. */
export interface LocationMapper {
  mappingInfo(location: GeneratedLocation): SourceLocation;
}

/** A frame's script as the profilers report it. */
export interface ScriptRef {
  scriptId: string;
  url: string;
}

/** Whether a script URL is a local file Deno transpiles (so needs a map). */
export function needsSourceMap(url: string): boolean {
  return url.startsWith("file://") && TRANSPILED.test(url);
}

/** What V8 said when it parsed a script. */
interface Parsed {
  /** SHA-256 (hex) of the code V8 runs. */
  hash: string;
  /** The script's `//# sourceMappingURL=` as written, or "". */
  sourceMapURL: string;
}

/** scriptId → its `Debugger.scriptParsed` facts. */
const parsed = new Map<string, Parsed>();
/** scriptIds a replay was already asked about (found or not). */
const asked = new Set<string>();
/** path → its map. */
const maps = new Map<string, TraceMap>();
/** path → "" (mapped), PLAIN (JavaScript without a map), or why not mapped. */
const outcomes = new Map<string, string>();
const PLAIN = "\0plain";

/**
 * Makes maps for the given scripts available; returns a mapper for the
 * serializer and one line per script left with raw positions that needed a
 * map.
 */
export async function prepareSourceMaps(
  scripts: Iterable<ScriptRef>,
): Promise<{ mapper: LocationMapper; unmapped: string[] }> {
  const local = new Map<string, ScriptRef>();
  for (const s of scripts) {
    if (!s.url.startsWith("file://")) continue;
    let path: string;
    try {
      path = fileURLToPath(s.url);
    } catch {
      continue; // a file URL with a host: not a local file
    }
    local.set(path, s);
  }
  const pending = [...local].filter(([path]) => !outcomes.has(path));
  if (
    pending.some(([, s]) => !parsed.has(s.scriptId) && !asked.has(s.scriptId))
  ) {
    await learnScripts();
    for (const [, s] of pending) asked.add(s.scriptId);
  }
  for (const [path, s] of pending) {
    outcomes.set(path, await loadMap(path, s.url, parsed.get(s.scriptId)));
  }
  const unmapped: string[] = [];
  for (const path of local.keys()) {
    const outcome = outcomes.get(path)!;
    if (outcome !== "" && outcome !== PLAIN) {
      unmapped.push(`${path}: ${outcome}`);
    }
  }
  return { mapper: keepingNames, unmapped };
}

/**
 * Maps a generated position (1-based line and column; column 0 when only
 * the line is known) through the script's map, keeping V8's function name:
 * the map's name at a function's start is often a parameter or nothing.
 */
const keepingNames: LocationMapper = {
  mappingInfo(location) {
    const map = maps.get(location.file);
    if (!map || !(location.line > 0)) return location;
    const line = location.line;
    const column = location.column > 0 ? location.column - 1 : 0;
    let pos = originalPositionFor(map, {
      line,
      column,
      bias: column === 0 ? LEAST_UPPER_BOUND : GREATEST_LOWER_BOUND,
    });
    // Nothing at or before the column on this line: the first mapping after.
    if (pos.source === null && column > 0) {
      pos = originalPositionFor(map, { line, column, bias: LEAST_UPPER_BOUND });
    }
    if (pos.source === null) return location;
    return {
      file: pos.source.startsWith("file://")
        ? fileURLToPath(pos.source)
        : pos.source,
      line: pos.line,
      column: pos.column + 1,
      name: location.name,
    };
  },
};

/**
 * Replays `Debugger.scriptParsed` for every loaded script. The three commands
 * are dispatched in one synchronous run, so no JavaScript runs while the
 * debugger is enabled (a `debugger` statement could otherwise pause the
 * thread that would have to resume it).
 */
async function learnScripts(): Promise<void> {
  const off = on<{ scriptId: string; hash: string; sourceMapURL?: string }>(
    "Debugger.scriptParsed",
    (p) =>
      parsed.set(p.scriptId, {
        hash: p.hash,
        sourceMapURL: p.sourceMapURL ?? "",
      }),
  );
  try {
    await Promise.all([
      post("Debugger.enable"),
      post("Debugger.setSkipAllPauses", { skip: true }),
      post("Debugger.disable"),
    ]);
  } finally {
    off();
  }
}

/** Finds and reads one script's map; "" on success, PLAIN, or why not. */
async function loadMap(
  path: string,
  url: string,
  script: Parsed | undefined,
): Promise<string> {
  if (script?.sourceMapURL) return await loadLinkedMap(path, url, script);
  if (needsSourceMap(url)) return await loadEmitCacheMap(path, script?.hash);
  return await loadMapBeside(path, url, script?.hash);
}

/** The map a script names in its `//# sourceMappingURL=` comment. */
async function loadLinkedMap(
  path: string,
  url: string,
  script: Parsed,
): Promise<string> {
  const link = script.sourceMapURL;
  if (link.startsWith("data:")) return install(path, decodeDataURL(link), url);
  let mapURL: URL;
  try {
    mapURL = new URL(link, url);
  } catch {
    return `unreadable source map URL ${link}`;
  }
  if (mapURL.protocol !== "file:") {
    return `source map ${mapURL.href} not read (local files only)`;
  }
  const mapPath = fileURLToPath(mapURL);
  let text: string;
  try {
    text = await Deno.readTextFile(mapPath);
  } catch (error) {
    return `cannot read its source map ${mapPath} (${(error as Error).name})`;
  }
  // The script named this map; if its file is readable, it must still be
  // the code that runs (a rebuilt bundle beside a running process is not).
  let code: string | undefined;
  try {
    code = await Deno.readTextFile(path);
  } catch { /* the script's own link is enough */ }
  if (code !== undefined && !(await hashMatches(code, script.hash))) {
    return `${path} changed since it was loaded`;
  }
  return install(path, text, mapURL.href);
}

/** A map inline in the script's file (Deno strips it before V8), or `SCRIPT.map`. */
async function loadMapBeside(
  path: string,
  url: string,
  v8Hash: string | undefined,
): Promise<string> {
  let code: string;
  try {
    code = await Deno.readTextFile(path);
  } catch {
    return PLAIN;
  }
  const at = code.lastIndexOf(ANNOTATION);
  if (at >= 0 && code.startsWith("data:", at + ANNOTATION.length)) {
    if (v8Hash === undefined) return "V8 reported no hash for the script";
    if (!(await hashMatches(code.slice(0, at), v8Hash))) {
      return `${path} changed since it was loaded`;
    }
    const link = code.slice(at + ANNOTATION.length).split("\n")[0]!.trim();
    return install(path, decodeDataURL(link), url);
  }
  let text: string;
  try {
    text = await Deno.readTextFile(`${path}.map`);
  } catch {
    return PLAIN;
  }
  if (v8Hash === undefined) return "V8 reported no hash for the script";
  if (!(await hashMatches(code, v8Hash))) {
    return `${path} changed since it was loaded`;
  }
  return install(path, text, new URL(`${url}.map`).href);
}

/** Loads one transpiled module's map from the emit cache. */
async function loadEmitCacheMap(
  path: string,
  v8Hash: string | undefined,
): Promise<string> {
  const dir = denoDir();
  if (dir === undefined) return "DENO_DIR unknown (needs --allow-env)";
  const cachePath = `${dir}/gen/file${
    path.startsWith("/") ? "" : "/"
  }${path}.js`;
  let text: string;
  try {
    text = await Deno.readTextFile(cachePath);
  } catch (error) {
    return `no emit cache entry ${cachePath} (${(error as Error).name})`;
  }
  const at = text.lastIndexOf(ANNOTATION);
  if (at < 0) return `no source map in ${cachePath}`;
  if (v8Hash === undefined) return "V8 reported no hash for the script";
  if (!(await hashMatches(text.slice(0, at), v8Hash))) {
    return `stale emit cache entry ${cachePath}`;
  }
  const link = text.slice(at + ANNOTATION.length).split("\n")[0]!.trim();
  if (!link.startsWith("data:")) return "source map not inline";
  return install(path, decodeDataURL(link), pathToFileURL(path).href);
}

/** The text of a `data:` URL; "" when it cannot be decoded. */
function decodeDataURL(url: string): string {
  const comma = url.indexOf(",");
  if (comma < 0) return "";
  try {
    return url.slice(0, comma).endsWith(";base64")
      ? new TextDecoder().decode(
        Uint8Array.from(atob(url.slice(comma + 1)), (c) => c.charCodeAt(0)),
      )
      : decodeURIComponent(url.slice(comma + 1));
  } catch {
    return "";
  }
}

/**
 * Keeps `text` as the map of `path`; its relative sources resolve against
 * `base` (where the map is). "" on success, else why not.
 */
function install(path: string, text: string, base: string): string {
  try {
    maps.set(path, new TraceMap(text, base));
    return "";
  } catch {
    return "unreadable source map";
  }
}

async function hashMatches(code: string, v8Hash: string): Promise<boolean> {
  const utf8 = new TextEncoder().encode(code);
  if (await sha256Hex(utf8) === v8Hash) return true;
  // Non-ASCII sources: V8 may hash its UTF-16 representation.
  const utf16 = new Uint8Array(code.length * 2);
  for (let i = 0; i < code.length; i++) {
    const c = code.charCodeAt(i);
    utf16[2 * i] = c & 0xff;
    utf16[2 * i + 1] = c >> 8;
  }
  return await sha256Hex(utf16) === v8Hash;
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

/** Deno's cache directory, as `deno info` reports it; undefined if unknown. */
export function denoDir(): string | undefined {
  try {
    const env = (name: string) => Deno.env.get(name) || undefined;
    const explicit = env("DENO_DIR");
    if (explicit) return explicit;
    switch (process.platform) {
      case "darwin":
        return env("HOME") && `${env("HOME")}/Library/Caches/deno`;
      case "win32":
        return env("LOCALAPPDATA") && `${env("LOCALAPPDATA")}\\deno`;
      default: {
        const xdg = env("XDG_CACHE_HOME");
        if (xdg) return `${xdg}/deno`;
        return env("HOME") && `${env("HOME")}/.cache/deno`;
      }
    }
  } catch {
    return undefined; // no --allow-env
  }
}
