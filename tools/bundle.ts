/**
 * `deno task bundle`: coredeno as one JavaScript file with its source map,
 * `dist/coredeno.js` and `dist/coredeno.js.map`. The npm packages are inside,
 * so it runs with an empty DENO_DIR:
 *
 *   deno run --allow-net --allow-read --allow-env --allow-sys --allow-ffi dist/coredeno.js -conf Corefile
 *
 * The script names its map (`//# sourceMappingURL=coredeno.js.map`), so
 * Deno's stack traces and coredeno's profiles show TypeScript files and
 * lines (lib/profile/sourcemap.ts); `deno task compile` builds the
 * executable from this file with the map included. The map leaves out the
 * sources' text (`sourcesContent`).
 *
 *   deno task bundle [--output PATH.js]
 *
 * Deno 2.9.6's `deno bundle` swaps esbuild's `__require` shim for a shorter
 * one after esbuild wrote the map, so every mapping after it points a few
 * lines too low. The map is corrected here: the shift is found by mapping
 * the bundle's function declarations back to their sources, and the build
 * fails if no shift makes all of coredeno's own declarations land on their
 * line.
 */

import { parseArgs } from "node:util";
import {
  GREATEST_LOWER_BOUND,
  originalPositionFor,
  TraceMap,
} from "../lib/deps.ts";
import { message } from "../lib/errors.ts";

export const ENTRY = "main.ts";
export const OUTPUT = "dist/coredeno.js";

/** The `deno bundle` arguments writing `output` and `output.map`. */
export function bundleArgs(output = OUTPUT): string[] {
  return [
    "bundle",
    "--quiet",
    "--sourcemap=linked",
    "--output",
    output,
    ENTRY,
  ];
}

interface RawMap {
  sources: string[];
  names?: string[];
  sourcesContent?: (string | null)[];
  mappings: string;
}

/** What the map check found: how many declarations were checked and the shift applied. */
export interface MapCheck {
  declarations: number;
  shift: number;
}

/**
 * Corrects the map of a bundle `code` in place (see the module comment) and
 * returns what was checked; throws a `RangeError` if it cannot be made exact.
 */
export function correctMap(code: string, map: RawMap): MapCheck {
  const lines = code.split("\n");
  const shim = lines.findIndex((l) =>
    l.includes("__deno_internal_createRequire(import.meta.url)")
  );
  const groups = map.mappings.split(";");
  const sources = map.sources.map((_, i) =>
    map.sourcesContent?.[i]?.split("\n") ?? []
  );
  const own = (source: string) => !source.includes("registry.npmjs.org");
  let best: MapCheck & { wrong: number } | undefined;
  for (let shift = 0; shift <= (shim < 0 ? 0 : 12); shift++) {
    const mappings = shift === 0 ? map.mappings : [
      ...groups.slice(0, shim + 1),
      ...groups.slice(shim + 1 + shift),
    ].join(";");
    const traced = new TraceMap({
      version: 3,
      sources: map.sources,
      names: map.names ?? [],
      mappings,
    });
    let declarations = 0;
    let wrong = 0;
    for (const [i, line] of lines.entries()) {
      const m = /^(?:async )?function\*? ([\w$]+)\(/.exec(line);
      if (!m) continue;
      const pos = originalPositionFor(traced, {
        line: i + 1,
        column: line.indexOf(m[1]!),
        bias: GREATEST_LOWER_BOUND,
      });
      if (pos.source === null) continue;
      const index = traced.resolvedSources.indexOf(pos.source);
      const source = map.sources[index] ?? "";
      if (!own(source)) continue;
      declarations++;
      // esbuild renames clashing top-level names: setup, setup2, setup3, ...
      const name = m[1]!.replace(/\d+$/, "").replaceAll("$", "\\$");
      const text = sources[index]?.[pos.line - 1] ?? "";
      if (!new RegExp(`function\\*? ${name}\\d*[<(]`).test(text)) wrong++;
    }
    if (!best || wrong < best.wrong) best = { declarations, shift, wrong };
    if (wrong === 0 && declarations > 0) break;
  }
  if (!best || best.declarations === 0 || best.wrong > 0) {
    throw new RangeError(
      `Cannot correct the bundle's source map: ${best?.wrong ?? 0} of ${
        best?.declarations ?? 0
      } function declarations map to the wrong line at best (shift ${
        best?.shift ?? 0
      })`,
    );
  }
  if (best.shift > 0) {
    map.mappings = [
      ...groups.slice(0, shim + 1),
      ...groups.slice(shim + 1 + best.shift),
    ].join(";");
  }
  return { declarations: best.declarations, shift: best.shift };
}

/** Bundles `main.ts` into `output` (+ `.map`); returns the map check. */
export async function bundle(output = OUTPUT): Promise<MapCheck> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: bundleArgs(output),
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new Error(
      `deno bundle failed: ${new TextDecoder().decode(result.stderr).trim()}`,
    );
  }
  const code = await Deno.readTextFile(output);
  const map = JSON.parse(await Deno.readTextFile(`${output}.map`));
  const check = correctMap(code, map);
  // The sources' text (two thirds of the map) serves only a debugger showing
  // sources it cannot open; Deno's stack traces and go tool pprof do without
  // it, and every process's first profile reads and parses the map.
  delete map.sourcesContent;
  await Deno.writeTextFile(`${output}.map`, JSON.stringify(map));
  return check;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { output: { type: "string", default: OUTPUT } },
  });
  try {
    await bundle(values.output);
  } catch (error) {
    console.error(message(error));
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
