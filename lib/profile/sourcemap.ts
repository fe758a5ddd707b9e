/**
 * TypeScript positions for profile frames. (Over 450 lines as one unit: the
 * ways to find a script's map, emit cache, linked, beside or inline, share
 * one cache of outcomes; decoding a map is chunked_map.ts.)
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
 * A file not modified since the process started is the code V8 runs, and its
 * map (or, for a transpiled module, the emit of that source) is used as it
 * is. A newer file is checked against V8: the SHA-256 of the code must equal
 * the `hash` V8 reports for the script (`Debugger.scriptParsed`), which
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
import { GREATEST_LOWER_BOUND, LEAST_UPPER_BOUND } from "../deps_maps.ts";
import type { GeneratedLocation, SourceLocation } from "../deps.ts";
import {
  ChunkedMap,
  LAZY_ABOVE,
  type PositionLookup,
  type RawSourceMap,
  wholeMap,
} from "./chunked_map.ts";
import type { Isolates } from "./inspector.ts";

/** File extensions Deno transpiles before V8 sees them. */
const TRANSPILED = /\.(ts|tsx|mts|cts|jsx)$/;
const ANNOTATION = "//# sourceMappingURL=";

/** What the serializer asks of a source mapper. */
export interface LocationMapper {
  mappingInfo(location: GeneratedLocation): SourceLocation;
}

/** A frame's script as the profilers report it; `isolate` is whose script id it is ("main" when absent). */
export interface ScriptRef {
  scriptId: string;
  url: string;
  isolate?: string;
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

const PLAIN = "\0plain";

/** path → its map. */
type MapStore = Map<string, PositionLookup>;

/**
 * The source maps one profiler has read, by file: read once per file and
 * kept. V8's facts about scripts (`Debugger.scriptParsed`) are asked of the
 * isolate that runs them, only for files changed since the process started.
 */
export class SourceMaps {
  /** isolate/scriptId → its `Debugger.scriptParsed` facts. */
  readonly #parsed = new Map<string, Parsed>();
  /** isolate/scriptIds a replay was already asked about (found or not). */
  readonly #asked = new Set<string>();
  /** path → "" (mapped), PLAIN (JavaScript without a map), or why not mapped. */
  readonly #outcomes = new Map<string, string>();
  readonly #isolates: Isolates | undefined;
  /** Maps positions through the maps read so far, keeping V8's function names. */
  readonly mapper: LocationMapper;

  constructor(isolates?: Isolates) {
    this.#isolates = isolates;
    const maps = this.#maps;
    this.mapper = { mappingInfo: (location) => mapThrough(maps, location) };
  }

  /** path → its map. */
  readonly #maps: MapStore = new Map();

  /**
   * Makes maps for the given scripts available; returns the mapper and one
   * line per script left with raw positions that needed a map.
   */
  async prepare(
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
    const outcomes = this.#outcomes;
    for (const [path, s] of local) {
      if (outcomes.has(path)) continue;
      const outcome = loadUnchanged(this.#maps, path, s.url);
      if (outcome !== undefined) outcomes.set(path, outcome);
    }
    const pending = [...local].filter(([path]) => !outcomes.has(path));
    const key = (s: ScriptRef) => `${s.isolate ?? "main"}/${s.scriptId}`;
    const toAsk = new Set(
      pending.map(([, s]) => s).filter((s) =>
        !this.#parsed.has(key(s)) && !this.#asked.has(key(s))
      ).map((s) => s.isolate ?? "main"),
    );
    for (const isolate of toAsk) await this.#learnScripts(isolate);
    for (const [, s] of pending) this.#asked.add(key(s));
    for (const [path, s] of pending) {
      outcomes.set(
        path,
        await loadMap(this.#maps, path, s.url, this.#parsed.get(key(s))),
      );
    }
    const unmapped: string[] = [];
    for (const path of local.keys()) {
      const outcome = outcomes.get(path)!;
      if (outcome !== "" && outcome !== PLAIN) {
        unmapped.push(`${path}: ${outcome}`);
      }
    }
    return { mapper: this.mapper, unmapped };
  }

  /**
   * Replays `Debugger.scriptParsed` for every script of one isolate. The
   * three commands are sent together, so they run in one turn of the
   * isolate's inspector and no JavaScript runs while the debugger is on (a
   * `debugger` statement could otherwise pause the thread).
   */
  async #learnScripts(isolate: string): Promise<void> {
    const target = this.#isolates?.list().find((t) => t.id === isolate);
    if (!target) return;
    const off = target.on<
      { scriptId: string; hash: string; sourceMapURL?: string }
    >(
      "Debugger.scriptParsed",
      (p) =>
        this.#parsed.set(`${isolate}/${p.scriptId}`, {
          hash: p.hash,
          sourceMapURL: p.sourceMapURL ?? "",
        }),
    );
    try {
      await Promise.all([
        target.send("Debugger.enable"),
        target.send("Debugger.setSkipAllPauses", { skip: true }),
        target.send("Debugger.disable"),
      ]);
    } catch {
      // an isolate that ended: its scripts keep raw positions
    } finally {
      off();
    }
  }
}

/**
 * Maps a generated position (1-based line and column; column 0 when only
 * the line is known) through the script's map, keeping V8's function name:
 * the map's name at a function's start is often a parameter or nothing.
 */
function mapThrough(
  maps: Map<string, PositionLookup>,
  location: GeneratedLocation,
): SourceLocation {
  const map = maps.get(location.file);
  if (!map || !(location.line > 0)) return location;
  const line = location.line;
  const column = location.column > 0 ? location.column - 1 : 0;
  let pos = map.originalPositionFor({
    line,
    column,
    bias: column === 0 ? LEAST_UPPER_BOUND : GREATEST_LOWER_BOUND,
  });
  // Nothing at or before the column on this line: the first mapping after.
  if (pos.source === null && column > 0) {
    pos = map.originalPositionFor({ line, column, bias: LEAST_UPPER_BOUND });
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
}

/**
 * The map of a script whose file has not changed since this process started,
 * so the file on disk is the code V8 runs and no hash need be asked of V8
 * (a process's first `Debugger.enable` replays every script it has loaded:
 * 30–90 ms, most of a first profile's source-map cost). For a transpiled
 * module, Deno's emit cache entry is the emit of that unchanged source.
 * Undefined when the file is newer (or its time unknown): the exact route,
 * with V8's hashes, decides.
 */
function loadUnchanged(
  maps: MapStore,
  path: string,
  url: string,
): string | undefined {
  try {
    const { mtime } = Deno.statSync(path);
    if (mtime === null || mtime.getTime() > performance.timeOrigin) {
      return undefined;
    }
  } catch {
    return undefined;
  }
  if (needsSourceMap(url)) {
    const entry = readEmitCache(path);
    return typeof entry === "string"
      ? entry
      : installEmitEntry(maps, path, entry);
  }
  // The script's end tells whether it names its map; all of it is read only
  // when its last line starts before that (an inline map).
  let code = readTail(path);
  if (code instanceof Error) return undefined;
  if (code === undefined) code = readText(path);
  if (code instanceof Error) return undefined;
  const link = trailingLink(code);
  if (link?.startsWith("data:")) {
    return install(maps, path, decodeDataURL(link), url);
  }
  if (link) return readLinkedMap(maps, path, url, link);
  const text = readText(`${path}.map`);
  if (text instanceof Error) return PLAIN;
  return install(maps, path, text, new URL(`${url}.map`).href);
}

/**
 * A file's text, or the error. Read synchronously: these are small local
 * files read once per process, and each asynchronous read costs a round
 * trip through Deno's blocking thread pool, which on a busy machine took
 * 10–80 ms apiece here.
 */
function readText(path: string): string | Error {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    return error as Error;
  }
}

/** Bytes read from a script's end to find its `//# sourceMappingURL=`. */
const TAIL = 4096;

/**
 * The end of a file from the start of its last non-empty line, when that
 * line starts within the last TAIL bytes; undefined when it starts earlier
 * (or the file is that small: read it all), or the error.
 */
function readTail(path: string): string | undefined | Error {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path);
  } catch (error) {
    return error as Error;
  }
  try {
    const size = file.statSync().size;
    if (size <= TAIL) return undefined;
    file.seekSync(size - TAIL, Deno.SeekMode.Start);
    const bytes = new Uint8Array(TAIL);
    let n = 0;
    while (n < TAIL) {
      const got = file.readSync(bytes.subarray(n));
      if (got === null) break;
      n += got;
    }
    const tail = new TextDecoder().decode(bytes.subarray(0, n));
    const end = tail.trimEnd();
    const start = end.lastIndexOf("\n");
    // A cut multi-byte character can only be at the tail's start.
    return start < 0 ? undefined : tail.slice(start + 1);
  } catch (error) {
    return error as Error;
  } finally {
    file.close();
  }
}

/**
 * The URL of the `//# sourceMappingURL=` comment that ends a script, if any
 * (the same text inside the code, as in this module, is not one).
 */
function trailingLink(code: string): string | undefined {
  const at = code.lastIndexOf(ANNOTATION);
  if (at < 0 || (at > 0 && code[at - 1] !== "\n")) return undefined;
  const [url, ...rest] = code.slice(at + ANNOTATION.length).split("\n");
  if (rest.some((line) => line.trim() !== "")) return undefined;
  return url!.trim() || undefined;
}

/** Finds and reads one script's map, checked against V8's facts; "" on success, PLAIN, or why not. */
async function loadMap(
  maps: MapStore,
  path: string,
  url: string,
  script: Parsed | undefined,
): Promise<string> {
  if (script?.sourceMapURL) return await loadLinkedMap(maps, path, url, script);
  if (needsSourceMap(url)) {
    return await loadEmitCacheMap(maps, path, script?.hash);
  }
  return await loadMapBeside(maps, path, url, script?.hash);
}

/** The map a script names in its `//# sourceMappingURL=` comment. */
async function loadLinkedMap(
  maps: MapStore,
  path: string,
  url: string,
  script: Parsed,
): Promise<string> {
  const link = script.sourceMapURL;
  if (link.startsWith("data:")) {
    return install(maps, path, decodeDataURL(link), url);
  }
  // The script named its map; if its file is readable, it must still be the
  // code that runs (a rebuilt bundle beside a running process is not).
  const code = readText(path);
  if (!(code instanceof Error) && !(await hashMatches(code, script.hash))) {
    return `${path} changed since it was loaded`;
  }
  return readLinkedMap(maps, path, url, link);
}

/** Reads the map at `link`, relative to the script's `url`. */
function readLinkedMap(
  maps: MapStore,
  path: string,
  url: string,
  link: string,
): string {
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
  const text = readText(mapPath);
  if (text instanceof Error) {
    return `cannot read its source map ${mapPath} (${text.name})`;
  }
  return install(maps, path, text, mapURL.href);
}

/** A map inline in the script's file (Deno strips it before V8), or `SCRIPT.map`. */
async function loadMapBeside(
  maps: MapStore,
  path: string,
  url: string,
  v8Hash: string | undefined,
): Promise<string> {
  const code = readText(path);
  if (code instanceof Error) return PLAIN;
  const link = trailingLink(code);
  if (link?.startsWith("data:")) {
    if (v8Hash === undefined) return "V8 reported no hash for the script";
    const ran = code.slice(0, code.lastIndexOf(ANNOTATION));
    if (!(await hashMatches(ran, v8Hash))) {
      return `${path} changed since it was loaded`;
    }
    return install(maps, path, decodeDataURL(link), url);
  }
  const text = readText(`${path}.map`);
  if (text instanceof Error) return PLAIN;
  if (v8Hash === undefined) return "V8 reported no hash for the script";
  if (!(await hashMatches(code, v8Hash))) {
    return `${path} changed since it was loaded`;
  }
  return install(maps, path, text, new URL(`${url}.map`).href);
}

/** A transpiled module's emit cache entry: its text and where its map starts; or why none. */
interface EmitEntry {
  cachePath: string;
  text: string;
  at: number;
}

function readEmitCache(path: string): EmitEntry | string {
  const dir = denoDir();
  if (dir === undefined) return "DENO_DIR unknown (needs --allow-env)";
  const cachePath = `${dir}/gen/file${
    path.startsWith("/") ? "" : "/"
  }${path}.js`;
  const text = readText(cachePath);
  if (text instanceof Error) {
    return `no emit cache entry ${cachePath} (${text.name})`;
  }
  const at = text.lastIndexOf(ANNOTATION);
  if (at < 0) return `no source map in ${cachePath}`;
  return { cachePath, text, at };
}

function installEmitEntry(
  maps: MapStore,
  path: string,
  { text, at }: EmitEntry,
): string {
  const link = text.slice(at + ANNOTATION.length).split("\n")[0]!.trim();
  if (!link.startsWith("data:")) return "source map not inline";
  return install(maps, path, decodeDataURL(link), pathToFileURL(path).href);
}

/**
 * Loads one transpiled module's map from the emit cache, verified against
 * V8's hash of the code it runs.
 */
async function loadEmitCacheMap(
  maps: MapStore,
  path: string,
  v8Hash: string | undefined,
): Promise<string> {
  const entry = readEmitCache(path);
  if (typeof entry === "string") return entry;
  if (v8Hash === undefined) return "V8 reported no hash for the script";
  if (!(await hashMatches(entry.text.slice(0, entry.at), v8Hash))) {
    return `stale emit cache entry ${entry.cachePath}`;
  }
  return installEmitEntry(maps, path, entry);
}

/** The text of a `data:` URL; "" when it cannot be decoded. */
function decodeDataURL(url: string): string {
  const comma = url.indexOf(",");
  if (comma < 0) return "";
  try {
    return url.slice(0, comma).endsWith(";base64")
      ? new TextDecoder().decode(fromBase64(url.slice(comma + 1)))
      : decodeURIComponent(url.slice(comma + 1));
  } catch {
    return "";
  }
}

/**
 * Base64 to bytes: V8's native `Uint8Array.fromBase64` where there is one
 * (2.6 ms for 300 KB here, where `Uint8Array.from(atob(…), callback)` took
 * 160 ms in a fresh process).
 */
function fromBase64(text: string): Uint8Array {
  const native = (Uint8Array as { fromBase64?: (s: string) => Uint8Array })
    .fromBase64;
  if (native) return native(text);
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Keeps `text` as the map of `path`; its relative sources resolve against
 * `base` (where the map is). "" on success, else why not.
 */
function install(
  maps: MapStore,
  path: string,
  text: string,
  base: string,
): string {
  try {
    const map = JSON.parse(text) as RawSourceMap;
    if (typeof map.mappings !== "string") return "unreadable source map";
    maps.set(
      path,
      map.mappings.length > LAZY_ABOVE
        ? new ChunkedMap(map, base)
        : wholeMap(map, base),
    );
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
