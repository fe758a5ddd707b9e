/**
 * Source text for the viewer's source view, behind a boundary: the pprof
 * surface may be reachable by others than the process's owner, so it shows
 * only files that appeared in a profile this process took of itself (the
 * scripts V8 ran), never a path a request or an uploaded profile names,
 * and only where Deno's permissions already let the process read them (a
 * permission is queried, never prompted for: a prompt would stop a server).
 *
 * Where from, in order: the file on disk; the `sourcesContent` of the
 * source map Deno's emit cache keeps for a transpiled module
 * (`$DENO_DIR/gen/file/<path>.js`) or of the map beside the main module
 * (a bundle); else "source not available", with the reason.
 */

import { fileURLToPath, pathToFileURL } from "node:url";
import { message } from "../../errors.ts";
import { denoDir } from "../../profile/sourcemap.ts";

/** Scripts only: a profile's file that is not one is never read. */
const SCRIPT = /\.(ts|tsx|mts|cts|js|jsx|mjs|cjs)$/;
/** A source file larger than this is not shown. */
const MAX_SOURCE_BYTES = 8 * 2 ** 20;

export type SourceText =
  | { text: string; from: "file" | "source map" }
  | { reason: string };

/** The files of this process's own profiles: the only ones ever read. */
export class SourceFiles {
  readonly #files = new Set<string>();

  /** Remembers the files of a profile this process took of itself. */
  allow(files: Iterable<string>): void {
    for (const file of files) {
      if (localPath(file) !== undefined) this.#files.add(file);
    }
  }

  /** Whether `file` appeared in one of those profiles. */
  allowed(file: string): boolean {
    return this.#files.has(file);
  }

  /** The text of an allowed file, or why there is none. */
  async read(file: string): Promise<SourceText> {
    if (!this.allowed(file)) {
      return {
        reason:
          "not a file of a profile this process took of itself (an uploaded profile's files are not read)",
      };
    }
    const path = localPath(file)!;
    const fromFile = await readIfAllowed(path);
    if (typeof fromFile === "string") return { text: fromFile, from: "file" };
    const fromMap = await fromSourceMaps(path);
    if (fromMap !== undefined) return { text: fromMap, from: "source map" };
    return {
      reason: `${fromFile.reason}, and no source map with its text was found`,
    };
  }
}

/** The absolute path a profile's file names, if it names a local script. */
function localPath(file: string): string | undefined {
  let path = file;
  if (file.startsWith("file://")) {
    try {
      path = fileURLToPath(file);
    } catch {
      return undefined;
    }
  }
  const absolute = path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path);
  return absolute && SCRIPT.test(path) ? path : undefined;
}

/** The file's text, when Deno already grants reading it; else why not. */
async function readIfAllowed(
  path: string,
): Promise<string | { reason: string }> {
  const state = Deno.permissions.querySync({ name: "read", path }).state;
  if (state !== "granted") {
    return { reason: `the process may not read ${path} (--allow-read)` };
  }
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) return { reason: `${path} is not a file` };
    if (info.size > MAX_SOURCE_BYTES) {
      return { reason: `${path} is larger than ${MAX_SOURCE_BYTES >> 20} MiB` };
    }
    return await Deno.readTextFile(path);
  } catch (error) {
    return { reason: `${path} cannot be read: ${message(error)}` };
  }
}

/** The text a source map embeds for `path`, from the maps Deno or a bundle keep. */
async function fromSourceMaps(path: string): Promise<string | undefined> {
  const url = pathToFileURL(path).href;
  const dir = denoDir();
  if (dir !== undefined && path.startsWith("/")) {
    const emitted = await readIfAllowed(`${dir}/gen/file${path}.js`);
    if (typeof emitted === "string") {
      // The map's own line: Deno writes a metadata comment after it.
      const inline =
        /^\/\/# sourceMappingURL=data:application\/json;base64,(\S+)$/m
          .exec(emitted)?.[1];
      const text = inline && embedded(atobText(inline), url, undefined);
      if (text !== undefined) return text;
    }
  }
  if (Deno.mainModule.startsWith("file://")) {
    const mapPath = `${fileURLToPath(Deno.mainModule)}.map`;
    const map = await readIfAllowed(mapPath);
    if (typeof map === "string") return embedded(map, url, Deno.mainModule);
  }
  return undefined;
}

function atobText(base64: string): string {
  return new TextDecoder().decode(
    Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)),
  );
}

/** `sourcesContent` of the map's source that is `url` (sources relative to `base`). */
function embedded(
  mapText: string,
  url: string,
  base: string | undefined,
): string | undefined {
  try {
    const map = JSON.parse(mapText) as {
      sourceRoot?: string;
      sources?: string[];
      sourcesContent?: (string | null)[];
    };
    const sources = map.sources ?? [];
    for (let i = 0; i < sources.length; i++) {
      const source = `${map.sourceRoot ?? ""}${sources[i]}`;
      const resolved = base ? new URL(source, base).href : source;
      if (resolved === url) return map.sourcesContent?.[i] ?? undefined;
    }
  } catch {
    // an unreadable map has no text to give
  }
  return undefined;
}
