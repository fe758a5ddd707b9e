/**
 * The `/debug/pprof/` HTTP surface: routing, methods, the index page and the
 * small endpoints. Profiles plug in as further `Endpoint`s; the index lists
 * exactly what is served.
 */

import { message } from "../errors.ts";
import { clean } from "../go_path.ts";
import { legacySymbols } from "../profile/text.ts";
import { program } from "../profile/program.ts";
import { pluginLogger } from "../log.ts";
import {
  escapeHtml,
  goError,
  goHtml,
  goNotFound,
  goRedirect,
  goText,
} from "./http.ts";

const log = pluginLogger("pprof");

/** Where Go's `net/http/pprof` serves, and so every pprof client looks. */
export const PPROF_PATH = "/debug/pprof";

/** One name under `/debug/pprof/`. */
export interface Endpoint {
  readonly name: string;
  /** Shown on the index page (plain text; escaped on output). */
  readonly description: string;
  /** Methods besides GET and HEAD that this endpoint accepts. */
  readonly extraMethods?: readonly string[];
  /**
   * Owns `NAME/` and every path under it, as Go's `mux.Handle("NAME/")`;
   * `NAME` itself redirects (301) there. Listed on the index apart from the
   * profiles, linked to `NAME/`.
   */
  readonly subtree?: boolean;
  /** Links into a subtree endpoint, listed beside it on the index. */
  readonly links?: readonly { text: string; href: string }[];
  /**
   * Runs for a while whatever its parameters (a CPU profile, a trace), so
   * it ends early when the client goes away. Any request with `seconds` does.
   */
  readonly timed?: boolean;
  /** The index's Count column (records in the profile); 0 when not counted. */
  count?(): number;
  /**
   * Answers one request. `signal` aborts when the client goes away or the
   * listener shuts down, so long captures end early instead of holding on.
   * `path` is the decoded path under the base (`heap`, `ui/viewer.js`).
   */
  serve(
    request: Request,
    url: URL,
    signal: AbortSignal,
    path: string,
  ): Response | Promise<Response>;
}

export type PprofHandler = (
  request: Request,
  signal?: AbortSignal,
) => Promise<Response>;

/**
 * Builds the handler for a set of endpoints served under `base` (Go's
 * `/debug/pprof`; another path for apps that mount it elsewhere). What an
 * endpoint throws is answered with Go's 500 and logged as `plugin/pprof:`.
 */
export function createPprofHandler(
  endpoints: readonly Endpoint[],
  base: string = PPROF_PATH,
  clientSignal = false,
): PprofHandler {
  const byName = new Map(endpoints.map((e) => [e.name, e]));
  const sorted = [...endpoints].sort((a, b) => a.name < b.name ? -1 : 1);
  return async function handle(request, shutdown) {
    const url = new URL(request.url);
    const path = url.pathname;
    const clean = cleanPath(path);
    if (clean !== path) return goRedirect(request, clean + url.search, 301);
    if (path !== base && !path.startsWith(`${base}/`)) return goNotFound();

    const name = decodeName(path.slice(base.length + 1));
    const endpoint = name === undefined ? undefined : lookup(name);
    const allowed = ["GET", "HEAD", ...(endpoint?.extraMethods ?? [])];
    if (!allowed.includes(request.method)) {
      return goError(405, "Method Not Allowed", { Allow: allowed.join(", ") });
    }
    // CoreDNS redirects the bare path itself (302); Go's mux would say 301.
    if (path === base) return goRedirect(request, `${base}/`, 302);
    if (name === "") return goHtml(indexPage(base, sorted));
    if (endpoint === undefined || name === undefined) {
      return goError(404, "Unknown profile");
    }
    if (endpoint.subtree && name === endpoint.name) {
      return goRedirect(request, `${path}/${url.search}`, 301);
    }
    const signal = captureSignal(
      request,
      url,
      endpoint,
      shutdown,
      clientSignal,
    );
    try {
      return await endpoint.serve(request, url, signal, name);
    } catch (error) {
      // The one error mapper of the surface: what an endpoint did not expect
      // is still Go's error (go tool pprof prints it) and one log line.
      // A plain Error's message says it all; another class may name a bug.
      const text = message(error);
      const named = error instanceof Error && error.name !== "Error"
        ? `${error.name}: ${text}`
        : text;
      log.error(`${endpoint.name}: ${named}`);
      return goError(500, `Could not serve ${endpoint.name}: ${text}`);
    }
  };

  /** An exact name, or a path under a subtree endpoint's `NAME/`. */
  function lookup(name: string): Endpoint | undefined {
    const slash = name.indexOf("/");
    const owner = byName.get(slash < 0 ? name : name.slice(0, slash));
    return slash < 0 || owner?.subtree ? owner : undefined;
  }
}

/**
 * What ends a request early: the listener's shutdown, and, where
 * `clientSignal` allows it, for requests that take a while, the client going
 * away. Reading `request.signal` makes Deno (outside
 * `--unstable-no-legacy-abort`) print a note into the process's stderr once
 * the response is sent, so it is read only in the watcher Worker, whose
 * console is its own and silent; in the program's own isolate a long capture
 * runs to its end (or the listener's shutdown).
 */
function captureSignal(
  request: Request,
  url: URL,
  endpoint: Endpoint,
  shutdown: AbortSignal | undefined,
  clientSignal: boolean,
): AbortSignal {
  const signals = shutdown ? [shutdown] : [];
  if (clientSignal && (endpoint.timed || url.searchParams.has("seconds"))) {
    signals.push(request.signal);
  }
  return AbortSignal.any(signals);
}

/** The path-derived profile name, percent-decoded as Go's `r.URL.Path` is. */
function decodeName(encoded: string): string | undefined {
  try {
    return decodeURIComponent(encoded);
  } catch {
    return undefined; // malformed escapes name no profile
  }
}

/** `http.ServeMux`'s cleanPath: Go's `path.Clean` of the rooted path, trailing slash kept. */
export function cleanPath(path: string): string {
  const cleaned = clean(path.startsWith("/") ? path : `/${path}`);
  return path.endsWith("/") && cleaned !== "/" ? `${cleaned}/` : cleaned;
}

/** Go's index page, with descriptions written for a JavaScript process. */
function indexPage(base: string, endpoints: readonly Endpoint[]): string {
  const profiles = endpoints.filter((e) => !e.subtree);
  const views = endpoints.filter((e) => e.subtree).map((e) => {
    const name = escapeHtml(e.name);
    const links = (e.links ?? []).map((l) =>
      ` <a href='${escapeHtml(l.href)}'>${escapeHtml(l.text)}</a>`
    );
    return `<a href='${name}/'>${name}/</a>${
      links.length ? `:${links.join("")}` : ""
    }`;
  });
  const rows = profiles.map((e) => {
    const name = escapeHtml(e.name);
    return `<tr><td>${
      e.count?.() ?? 0
    }</td><td><a href='${name}?debug=1'>${name}</a></td></tr>`;
  });
  const descriptions = endpoints.map((e) =>
    `<li><div class=profile-name>${
      e.subtree
        ? `<a href='${escapeHtml(e.name)}/'>${escapeHtml(e.name)}</a>`
        : escapeHtml(e.name)
    }: </div> ${escapeHtml(e.description)}</li>`
  );
  return `<html>
<head>
<title>${escapeHtml(base)}/</title>
<style>
.profile-name{
\tdisplay:inline-block;
\twidth:6rem;
}
</style>
</head>
<body>
${escapeHtml(base)}/<br>
<br>
${
    views.length
      ? `Views in the browser: ${views.join(" ")}<br>\n<br>\n`
      : ""
  }Types of profiles available:
<table>
<thead><td>Count</td><td>Profile</td></thead>
${rows.join("\n")}
</table>
<br>
<p>
Profile Descriptions:
<ul>
${descriptions.join("\n")}
</ul>
</p>
</body>
</html>
`;
}

/** `cmdline`: the process's argv joined with NUL, as Go's `os.Args`. */
export const cmdlineEndpoint: Endpoint = {
  name: "cmdline",
  description: "The command line invocation of the current program: " +
    "the runtime, the main module and its arguments, separated by NUL bytes",
  serve: () => goText(program.argv.join("\0")),
};

/** Go reads at most this much of a symbol request; so do we. */
const SYMBOL_INPUT_LIMIT = 1 << 20;

/**
 * `symbol`: Go's address lookup protocol. Binary profiles carry function
 * names, so `go tool pprof` never asks for them; the `debug=1` text formats
 * have only addresses (one made up per frame), which this resolves.
 */
export const symbolEndpoint: Endpoint = {
  name: "symbol",
  description: "Looks up program counters (GET raw query or POST body, " +
    "separated by +): the frame addresses of the debug=1 text profiles " +
    "resolve to their function names",
  extraMethods: ["POST"],
  async serve(request, url) {
    const input = request.method === "POST" && request.body
      ? await readText(request.body, SYMBOL_INPUT_LIMIT)
      : url.search.slice(1);
    return goText(
      ["num_symbols: 1", ...legacySymbols(input)].map((l) => `${l}\n`).join(""),
    );
  },
};

/** Up to `limit` bytes of a body as text; the rest is cancelled. */
async function readText(
  body: ReadableStream<Uint8Array>,
  limit: number,
): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  let read = 0;
  const reader = body.getReader();
  while (read < limit) {
    const { done, value } = await reader.read();
    if (done) return text + decoder.decode();
    const room = Math.min(value.byteLength, limit - read);
    text += decoder.decode(value.subarray(0, room), { stream: true });
    read += room;
  }
  await reader.cancel();
  return text + decoder.decode();
}
