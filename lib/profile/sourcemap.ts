/**
 * TypeScript positions for profile frames.
 *
 * V8 runs Deno's transpiled JavaScript, so profiler positions are JS
 * positions, and Deno strips the source map from the code it hands to V8.
 * Deno's emit cache keeps it: `$DENO_DIR/gen/file/<absolute path>.js` is the
 * emitted code followed by an inline `//# sourceMappingURL=data:...` map. The
 * SHA-256 of the text before that annotation equals the `hash` V8 reports in
 * `Debugger.scriptParsed`, which proves the cache entry is the code that runs.
 *
 * Maps are decoded once per script and kept. Where no verified map is found
 * (no read access to DENO_DIR, a stale or missing entry, remote modules, a
 * `deno compile` binary) frames keep their raw JS positions, and the profile
 * says so in a comment.
 */

import process from "node:process";
import { fileURLToPath } from "node:url";
import { SourceMapper } from "../deps.ts";
import type { GeneratedLocation, SourceLocation } from "../deps.ts";
import { on, post } from "./inspector.ts";

/** File extensions Deno transpiles before V8 sees them. */
const TRANSPILED = /\.(ts|tsx|mts|cts|jsx)$/;

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

/** scriptId → V8's SHA-256 of the code it runs. */
const scriptHashes = new Map<string, string>();
/** path → outcome of loading its map ("" when loaded). */
const loaded = new Map<string, string>();
const mapper = new SourceMapper();

/**
 * Makes maps for the given scripts available; returns a mapper for the
 * serializer and one line per transpiled script left with raw positions.
 */
export async function prepareSourceMaps(
  scripts: Iterable<ScriptRef>,
): Promise<{ mapper: LocationMapper; unmapped: string[] }> {
  const wanted = new Map<string, ScriptRef>();
  for (const s of scripts) {
    if (needsSourceMap(s.url)) wanted.set(s.scriptId, s);
  }
  if ([...wanted.keys()].some((id) => !scriptHashes.has(id))) {
    await learnScriptHashes();
  }
  const unmapped: string[] = [];
  for (const { scriptId, url } of wanted.values()) {
    const path = fileURLToPath(url);
    let outcome = loaded.get(path);
    if (outcome === undefined) {
      outcome = await loadEmitCacheMap(path, scriptHashes.get(scriptId));
      loaded.set(path, outcome);
    }
    if (outcome !== "") unmapped.push(`${path}: ${outcome}`);
  }
  return { mapper: keepingNames, unmapped };
}

/**
 * The shared mapper, except that a frame keeps V8's function name: the map's
 * name at a function's start is often a parameter or nothing at all.
 */
const keepingNames: LocationMapper = {
  mappingInfo(location) {
    const mapped = mapper.mappingInfo(location);
    return { ...mapped, name: location.name };
  },
};

/**
 * Replays `Debugger.scriptParsed` for every loaded script. The three commands
 * are dispatched in one synchronous run, so no JavaScript runs while the
 * debugger is enabled (a `debugger` statement could otherwise pause the
 * thread that would have to resume it).
 */
async function learnScriptHashes(): Promise<void> {
  const off = on<{ scriptId: string; hash: string }>(
    "Debugger.scriptParsed",
    (p) => scriptHashes.set(p.scriptId, p.hash),
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

/** Loads one script's map from the emit cache; "" on success, else why not. */
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
  const at = text.lastIndexOf("//# sourceMappingURL=");
  if (at < 0) return `no source map in ${cachePath}`;
  const code = text.slice(0, at);
  if (v8Hash === undefined) return "V8 reported no hash for the script";
  if (!(await hashMatches(code, v8Hash))) {
    return `stale emit cache entry ${cachePath}`;
  }
  const url = text.slice(at + "//# sourceMappingURL=".length).split("\n")[0]!;
  const comma = url.indexOf(",");
  if (!url.startsWith("data:") || comma < 0) return "source map not inline";
  let map: { sources?: string[] };
  try {
    const payload = url.slice(0, comma).endsWith(";base64")
      ? new TextDecoder().decode(
        Uint8Array.from(atob(url.slice(comma + 1)), (c) => c.charCodeAt(0)),
      )
      : decodeURIComponent(url.slice(comma + 1));
    map = JSON.parse(payload);
  } catch {
    return "unreadable source map";
  }
  map.sources = (map.sources ?? []).map((s) =>
    s.startsWith("file://") ? fileURLToPath(s) : s
  );
  // Not part of SourceMapper's declared surface, but the one entry point
  // that builds a consumer from map text without scanning directories.
  const load = (mapper as unknown as {
    loadMapContent(js: string, map: string, dir: string): Promise<void>;
  }).loadMapContent.bind(mapper);
  await load(path, JSON.stringify(map), "/");
  return mapper.hasMappingInfo(path) ? "" : "source map rejected";
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
