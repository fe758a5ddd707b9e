/**
 * `/debug/pprof/ui/`: a flame graph of this process's profiles in the
 * browser, for people without `go tool pprof`. Everything it needs is in
 * this module (no CDN, works offline and inside a compiled binary):
 *
 * - `ui/`           the page; `ui/flame.js` and `ui/flame.css` its assets
 * - `ui/data?type=profile&seconds=5` (or heap, allocs, block, …): takes the
 *   profile through that endpoint, with the same parameters and Go errors,
 *   and answers the flame tree as JSON
 * - `POST ui/data` with a `.pb.gz` (or raw protobuf) body: the same tree
 *   for a profile file the user dropped on the page
 *
 * The page, its script and its style are real files beside this module
 * (`page.html`, `flame.js`, `flame.css`, linted and formatted as such),
 * imported as text: they become part of the module graph, so a bundle or a
 * `deno compile`d binary carries them and a copy of lib/ run from any folder
 * finds them, with no file read at run time.
 */

import { message } from "../../errors.ts";
import type { Endpoint } from "../handler.ts";
import { goError, goNotFound } from "../http.ts";
import FLAME_CSS from "./flame.css" with { type: "text" };
import FLAME_JS from "./flame.js" with { type: "text" };
import PAGE_HTML from "./page.html" with { type: "text" };
import { decodeProfile, flameTree } from "./tree.ts";

/** The profiles the page offers, when this build serves them. */
export const UI_PROFILE_TYPES = [
  "profile",
  "heap",
  "allocs",
  "block",
  "goroutine",
  "mutex",
] as const;

/** A dropped profile larger than this is refused (413). */
export const MAX_UPLOAD_BYTES = 64 * 2 ** 20;

const NOSNIFF = { "X-Content-Type-Options": "nosniff" } as const;
/** Only this origin's own script, style and data: nothing from elsewhere. */
const CSP = "default-src 'self'; img-src 'self' data:; base-uri 'none'; " +
  "form-action 'none'; frame-ancestors 'none'";

function asset(body: string, type: string): Response {
  return new Response(body, {
    headers: {
      ...NOSNIFF,
      "Content-Type": type,
      "Content-Security-Policy": CSP,
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

/**
 * The `ui` endpoint. `sources` are the listener's other endpoints: a fresh
 * profile is taken through them, so parameters and errors stay theirs.
 */
export function uiEndpoint(sources: readonly Endpoint[]): Endpoint {
  const byName = new Map(sources.map((e) => [e.name, e]));
  const types = UI_PROFILE_TYPES.filter((t) => byName.has(t));
  const page = PAGE_HTML.replace(
    "<!--TYPES-->",
    types.map((t) => `<option value="${t}">${t}</option>`).join(""),
  );
  return {
    name: "ui",
    subtree: true,
    timed: true, // ui/data takes a fresh profile
    description: "An interactive flame graph of the profiles above, in the " +
      "browser (click to zoom, hover for values, search); or of a .pb.gz " +
      "file dropped on the page. Nothing is loaded from elsewhere.",
    extraMethods: ["POST"],
    async serve(request, url, signal, path) {
      const sub = path.slice("ui/".length);
      const isData = sub === "data";
      const allowed = isData ? ["GET", "HEAD", "POST"] : ["GET", "HEAD"];
      if (!allowed.includes(request.method)) {
        return goError(405, "Method Not Allowed", {
          Allow: allowed.join(", "),
        });
      }
      switch (sub) {
        case "":
          return asset(page, "text/html; charset=utf-8");
        case "flame.js":
          return asset(FLAME_JS, "text/javascript; charset=utf-8");
        case "flame.css":
          return asset(FLAME_CSS, "text/css; charset=utf-8");
        case "data":
          return request.method === "POST"
            ? await fromUpload(request)
            : await fromEndpoint(request, url, signal);
        default:
          return goNotFound();
      }
    },
  };

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
    target.searchParams.delete("debug"); // the tree needs the protobuf
    const response = await source.serve(request, target, signal, type);
    if (response.status !== 200) return response; // Go's error, as is
    const bytes = new Uint8Array(await response.arrayBuffer());
    return treeResponse(bytes, type);
  }
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
  return treeResponse(bytes, "upload");
}

function treeResponse(bytes: Uint8Array, type: string): Response {
  try {
    return json({ type, ...flameTree(decodeProfile(bytes)) });
  } catch (error) {
    return goError(400, `could not read profile: ${message(error)}`);
  }
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
