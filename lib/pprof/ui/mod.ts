/**
 * `/debug/pprof/ui/`: this process's profiles in the browser, for people
 * without `go tool pprof`. Every view is a link: opening it takes (or loads)
 * the profile and shows it, no clicks. Everything it needs is in this
 * module (no CDN, works offline and inside a compiled binary).
 *
 * The page (`ui/?…`, see README "The viewer" for its parameters) and its
 * scripts; the profiles it shows are kept here under ids (store.ts):
 *
 * - `ui/load?type=profile&seconds=10` (or heap, allocs, block, …): takes
 *   the profile through that endpoint, with its parameters and Go errors,
 *   keeps it, answers its id; `POST ui/load` keeps a `.pb.gz` file
 * - `ui/kept.json`: the profiles kept, newest first
 * - `ui/flame.json`, `ui/top.json`, `ui/source.json`, `ui/report.md`,
 *   `ui/profile.pb.gz` (`?id=…`): one kept profile as a flame tree, a top
 *   table, a source file's lines with their cost, Markdown, or the profile
 *   itself; each narrowed by `sample=TYPE` and `label=KEY=VALUE`, and set
 *   against another with `base=ID` (`normalize=1` scales it to the same total)
 * - `ui/speedscope/`: speedscope's own views of the same profile
 *
 * The scripts and style are real files beside this module, imported as
 * text: part of the module graph, so a bundle or a `deno compile`d binary
 * carries them, with no file read at run time.
 */

import { gzipSync } from "node:zlib";
import { message } from "../../errors.ts";
import type { Profile } from "../../deps.ts";
import { int64 } from "../../profile/pprof.ts";
import type { Endpoint } from "../handler.ts";
import { goError, goNotFound, goRedirect } from "../http.ts";
import {
  compareTo,
  type Comparison,
  decodeProfile,
  flameTree,
  labelSummary,
  lineCosts,
  type Model,
  parseSelection,
  type Selection,
  SelectionError,
  topTable,
  total,
} from "./analysis.ts";
import { markdownReport } from "./report.ts";
import { SourceFiles } from "./source.ts";
import { speedscopeAsset } from "./speedscope.ts";
import { type Kept, ProfileStore } from "./store.ts";
import FLAME_JS from "./flame.js" with { type: "text" };
import FORMAT_JS from "./format.js" with { type: "text" };
import PAGE_HTML from "./page.html" with { type: "text" };
import TABLES_JS from "./tables.js" with { type: "text" };
import VIEWER_CSS from "./viewer.css" with { type: "text" };
import VIEWER_JS from "./viewer.js" with { type: "text" };

/** The profiles the viewer offers, when this build serves them. */
export const UI_PROFILE_TYPES = [
  "profile",
  "heap",
  "allocs",
  "block",
  "goroutine",
  "mutex",
] as const;

/** How long the index's CPU link profiles for. */
export const LINK_SECONDS = 10;

/** A dropped profile larger than this is refused (413). */
export const MAX_UPLOAD_BYTES = 64 * 2 ** 20;

const NOSNIFF = { "X-Content-Type-Options": "nosniff" } as const;
/** Only this origin's own script, style and data: nothing from elsewhere. */
const CSP = "default-src 'self'; img-src 'self' data:; base-uri 'none'; " +
  "form-action 'none'; frame-ancestors 'none'";

const ASSETS: Record<string, [string, string]> = {
  "viewer.js": [VIEWER_JS, "text/javascript; charset=utf-8"],
  "flame.js": [FLAME_JS, "text/javascript; charset=utf-8"],
  "tables.js": [TABLES_JS, "text/javascript; charset=utf-8"],
  "format.js": [FORMAT_JS, "text/javascript; charset=utf-8"],
  "viewer.css": [VIEWER_CSS, "text/css; charset=utf-8"],
};

function asset(body: string | Uint8Array, type: string, csp = CSP): Response {
  return new Response(body as BodyInit, {
    headers: {
      ...NOSNIFF,
      "Content-Type": type,
      "Content-Security-Policy": csp,
      "Cache-Control": "no-cache",
    },
  });
}

function json(value: unknown): Response {
  return new Response(JSON.stringify(value), {
    headers: {
      ...NOSNIFF,
      "Content-Type": "application/json; charset=utf-8",
      "Cache-Control": "no-store",
    },
  });
}

/** What a view of one kept profile asked for. */
interface Query {
  kept: Kept;
  selection: Selection;
  base?: Kept;
  comparison?: Comparison;
}

/** A CPU profile's title names its length; the others their endpoint. */
function titleOf(type: string, url: URL): string {
  const seconds = url.searchParams.get("seconds");
  if (type === "profile") return `CPU profile of ${seconds ?? 30} s`;
  return seconds ? `${type} profile, ${seconds} s delta` : `${type} profile`;
}

/**
 * The `ui` endpoint. `sources` are the listener's other endpoints: a fresh
 * profile is taken through them, so parameters and errors stay theirs.
 */
export function uiEndpoint(sources: readonly Endpoint[]): Endpoint {
  const byName = new Map(sources.map((e) => [e.name, e]));
  const types = UI_PROFILE_TYPES.filter((t) => byName.has(t));
  const store = new ProfileStore();
  const files = new SourceFiles();
  const page = PAGE_HTML.replace(
    "<!--TYPES-->",
    types.map((t) => `<option value="${t}">${t}</option>`).join(""),
  );
  /** The views of a kept profile, by path. */
  const VIEWS: Record<string, (q: Query, url: URL) => Promise<Response>> = {
    "flame.json": (q) =>
      Promise.resolve(json({
        ...meta(q),
        tree: flameTree(q.kept.model, q.selection, q.comparison),
      })),
    "top.json": (q) =>
      Promise.resolve(json({
        ...meta(q),
        rows: topTable(q.kept.model, q.selection, q.comparison),
      })),
    "source.json": sourceView,
    "report.md": async (q, url) => {
      const top = Number(url.searchParams.get("top") ?? 10);
      const text = await markdownReport(q.kept.model, q.selection, {
        title: q.kept.title,
        top: Number.isInteger(top) && top > 0 ? Math.min(top, 1000) : 10,
        ...(q.comparison && q.base
          ? { comparison: { ...q.comparison, title: q.base.title } }
          : {}),
        source: async (file) => {
          const text = await files.read(file);
          return "text" in text ? text.text.split("\n") : undefined;
        },
      });
      return new Response(text, {
        headers: {
          ...NOSNIFF,
          "Content-Type": "text/markdown; charset=utf-8",
          "Content-Disposition":
            `inline; filename="${q.kept.source}-${q.kept.id}.md"`,
        },
      });
    },
    "profile.pb.gz": (q) => {
      const bytes = narrowed(q);
      return Promise.resolve(
        new Response(bytes as Uint8Array<ArrayBuffer>, {
          headers: {
            ...NOSNIFF,
            "Content-Type": "application/octet-stream",
            "Content-Disposition":
              `attachment; filename="${q.kept.source}-${q.kept.id}.pb.gz"`,
          },
        }),
      );
    },
  };

  return {
    name: "ui",
    subtree: true,
    timed: true, // ui/load takes a fresh profile
    description: "The profiles above in the browser, each a link: a flame " +
      "graph (search, zoom), a top table, each source line's cost, " +
      "a comparison of two profiles, a Markdown report, and speedscope's " +
      "views; or of .pb.gz files opened on the page. Nothing is loaded " +
      "from elsewhere.",
    links: types.map((t) => ({
      text: t,
      href: `ui/?type=${t}${t === "profile" ? `&seconds=${LINK_SECONDS}` : ""}`,
    })),
    extraMethods: ["POST"],
    async serve(request, url, signal, path) {
      const sub = path.slice("ui/".length);
      const allowed = sub === "load"
        ? ["GET", "HEAD", "POST"]
        : ["GET", "HEAD"];
      if (!allowed.includes(request.method)) {
        return goError(405, "Method Not Allowed", {
          Allow: allowed.join(", "),
        });
      }
      if (sub === "") return asset(page, "text/html; charset=utf-8");
      const known = ASSETS[sub];
      if (known) return asset(...known);
      if (sub === "speedscope") {
        return goRedirect(request, `${url.pathname}/${url.search}`, 301);
      }
      if (sub.startsWith("speedscope/")) {
        return speedscopeAsset(sub.slice("speedscope/".length)) ??
          goNotFound();
      }
      switch (sub) {
        case "load":
          return request.method === "POST"
            ? await fromUpload(request)
            : await fromEndpoint(request, url, signal);
        case "kept.json":
          return json(store.list().map(describe));
      }
      const view = VIEWS[sub];
      if (!view) return goNotFound();
      let query: Query;
      try {
        query = parseQuery(url);
      } catch (error) {
        if (error instanceof QueryError) return error.response;
        if (error instanceof SelectionError) {
          return goError(400, error.message);
        }
        throw error;
      }
      return await view(query, url);
    },
  };

  function parseQuery(url: URL): Query {
    const params = url.searchParams;
    const kept = keptProfile(params.get("id"), "id");
    const selection = parseSelection(kept.model, params);
    const baseId = params.get("base");
    if (baseId === null || baseId === "") return { kept, selection };
    const base = keptProfile(baseId, "base");
    const comparison = compareTo(
      kept.model,
      selection,
      base.model,
      params.get("normalize") === "1",
    );
    return { kept, selection, base, comparison };
  }

  function keptProfile(id: string | null, param: string): Kept {
    if (id === null || id === "") {
      throw new QueryError(
        goError(400, `missing "${param}": a kept profile's id`),
      );
    }
    const kept = store.get(id);
    if (!kept) {
      throw new QueryError(goError(
        404,
        `profile ${id} is no longer kept: this server keeps the last profiles the viewer took or was given, in memory; take it again`,
      ));
    }
    return kept;
  }

  /** What every view answers besides its own data. */
  function meta(q: Query) {
    const { kept, selection, base, comparison } = q;
    return {
      ...describe(kept),
      index: selection.index,
      labels: labelSummary(kept.model, selection.index),
      total: total(kept.model, selection),
      comments: kept.model.comments,
      ...(base && comparison
        ? {
          base: {
            ...describe(base),
            total: total(base.model, comparison.selection) * comparison.scale,
            scale: comparison.scale,
          },
        }
        : {}),
    };
  }

  async function fromEndpoint(
    request: Request,
    url: URL,
    signal: AbortSignal,
  ): Promise<Response> {
    const type = url.searchParams.get("type") ?? "";
    const source = (types as readonly string[]).includes(type)
      ? byName.get(type)
      : undefined;
    if (!source) {
      return goError(
        400,
        `invalid value for "type" - must be one of ${types.join(", ")}`,
      );
    }
    const target = new URL(url);
    target.searchParams.delete("type");
    target.searchParams.delete("debug"); // the viewer needs the protobuf
    const response = await source.serve(request, target, signal, type);
    if (response.status !== 200) return response; // Go's error, as is
    const bytes = new Uint8Array(await response.arrayBuffer());
    const kept = keep(bytes, {
      title: titleOf(type, target),
      source: type,
      query: target.searchParams.toString(),
    });
    if (kept instanceof Response) return kept;
    // A profile this process took of itself: its scripts may be shown.
    files.allow(kept.model.funcs.map((f) => f.file));
    return json(describe(kept));
  }

  async function fromUpload(request: Request): Promise<Response> {
    if (!request.body) return goError(400, "empty body: POST a .pb.gz profile");
    const bytes = await readLimited(request.body, MAX_UPLOAD_BYTES);
    if (bytes === undefined) {
      return goError(
        413,
        `profile too large: at most ${MAX_UPLOAD_BYTES >> 20} MiB`,
      );
    }
    if (bytes.byteLength === 0) {
      return goError(400, "empty body: POST a .pb.gz profile");
    }
    const name = new URL(request.url).searchParams.get("name") || "upload";
    const kept = keep(bytes, { title: name, source: "upload" });
    return kept instanceof Response ? kept : json(describe(kept));
  }

  function keep(
    bytes: Uint8Array,
    what: { title: string; source: string; query?: string },
  ): Kept | Response {
    try {
      return store.add(bytes, what);
    } catch (error) {
      return goError(400, `could not read profile: ${message(error)}`);
    }
  }

  async function sourceView(q: Query, url: URL): Promise<Response> {
    const costs = lineCosts(q.kept.model, q.selection, q.comparison);
    const byFile = new Map<
      string,
      { file: string; flat: number; cum: number }
    >();
    for (const c of costs) {
      const f = byFile.get(c.file) ?? { file: c.file, flat: 0, cum: 0 };
      f.flat += c.flat;
      f.cum = Math.max(f.cum, c.cum);
      byFile.set(c.file, f);
    }
    const fileList = [...byFile.values()].sort((a, b) =>
      b.flat - a.flat || b.cum - a.cum
    );
    let file = url.searchParams.get("file") ?? "";
    if (file === "") {
      // The hottest line's file, preferring one whose text can be shown.
      file = (costs.find((c) => c.flat > 0 && files.allowed(c.file)) ??
        costs.find((c) => c.flat > 0) ?? costs[0])?.file ?? "";
    } else if (!byFile.has(file)) {
      return goError(404, `no line of ${file} is in this profile`);
    }
    const text = file ? await files.read(file) : { reason: "no lines" };
    const lines = costs.filter((c) => c.file === file);
    return json({
      ...meta(q),
      files: fileList,
      file,
      ...("text" in text
        ? { from: text.from, text: text.text.split("\n") }
        : { reason: `source not available: ${text.reason}` }),
      lines: lines.map((c) => ({
        line: c.line,
        name: c.name,
        flat: c.flat,
        cum: c.cum,
        ...(q.comparison ? { baseFlat: c.baseFlat, baseCum: c.baseCum } : {}),
      })),
    });
  }
}

/** A query that cannot be answered, and Go's error saying why. */
class QueryError extends Error {
  constructor(readonly response: Response) {
    super("query error");
  }
}

function describe(kept: Kept) {
  const { model } = kept;
  return {
    id: kept.id,
    title: kept.title,
    source: kept.source,
    query: kept.query,
    keptAt: kept.keptAt,
    timeNanos: model.timeNanos,
    durationNanos: model.durationNanos,
    sampleTypes: model.sampleTypes,
    defaultIndex: model.defaultIndex,
  };
}

/**
 * The kept profile for other tools (Save, speedscope): as it came, or with
 * only the labelled samples asked for and the chosen sample type as default
 * (speedscope shows the default type).
 */
function narrowed(q: Query): Uint8Array {
  const { kept, selection } = q;
  if (
    selection.labels.size === 0 && selection.index === kept.model.defaultIndex
  ) {
    return kept.bytes;
  }
  const profile: Profile = decodeProfile(kept.bytes);
  const strings = profile.stringTable.strings;
  const str = (i: unknown) => strings[int64(i as number)] ?? "";
  profile.sample = profile.sample.filter((s) => {
    for (const [key, values] of selection.labels) {
      if (!s.label.some((l) => str(l.key) === key && values.has(str(l.str)))) {
        return false;
      }
    }
    return true;
  });
  const type = kept.model.sampleTypes[selection.index]!.type;
  profile.defaultSampleType = profile.stringTable.dedup(type);
  return gzipSync(profile.encode());
}

/** The whole body, or undefined when it exceeds `limit` (the rest is cancelled). */
async function readLimited(
  body: ReadableStream<Uint8Array>,
  limit: number,
): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

export type { Model };
