/**
 * Responses shaped like Go's `net/http/pprof`: clients read nothing but the
 * status, these headers and the body, so they are kept exact.
 */

const NOSNIFF = { "X-Content-Type-Options": "nosniff" } as const;
const TEXT = "text/plain; charset=utf-8";

/**
 * Go's pprof error helper: `go tool pprof` prints the body only when both
 * `X-Go-Pprof` is set and the type is text/plain, so both always are.
 */
export function goError(
  status: number,
  message: string,
  headers: HeadersInit = {},
): Response {
  return new Response(`${message}\n`, {
    status,
    headers: {
      ...NOSNIFF,
      "Content-Type": TEXT,
      "X-Go-Pprof": "1",
      ...headers,
    },
  });
}

/** A 200 text/plain answer (cmdline, symbol, debug=1 profiles). */
export function goText(body: string): Response {
  return new Response(body, { headers: { ...NOSNIFF, "Content-Type": TEXT } });
}

/** A 200 text/html answer (the index). */
export function goHtml(body: string): Response {
  return new Response(body, {
    headers: { ...NOSNIFF, "Content-Type": "text/html; charset=utf-8" },
  });
}

/** A gzipped profile download, `Content-Disposition` naming it as Go does. */
export function goProfile(bytes: Uint8Array, filename: string): Response {
  return new Response(bytes as Uint8Array<ArrayBuffer>, {
    headers: {
      ...NOSNIFF,
      "Content-Type": "application/octet-stream",
      "Content-Disposition": `attachment; filename="${filename}"`,
    },
  });
}

/** Go's `http.NotFound`, for paths outside /debug/pprof/. */
export function goNotFound(): Response {
  return new Response("404 page not found\n", {
    status: 404,
    headers: { ...NOSNIFF, "Content-Type": TEXT },
  });
}

/** Go's `http.Redirect`: the body is a link, and only for GET. */
export function goRedirect(
  request: Request,
  location: string,
  status: 301 | 302,
): Response {
  const text = status === 301 ? "Moved Permanently" : "Found";
  const body = request.method === "GET"
    ? `<a href="${escapeHtml(location)}">${text}</a>.\n`
    : null;
  return new Response(body, {
    status,
    headers: { Location: location, "Content-Type": "text/html; charset=utf-8" },
  });
}

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "'": "&#39;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&#34;",
};

/** Go's `html.EscapeString`. */
export function escapeHtml(text: string): string {
  return text.replace(/[&'<>"]/g, (c) => HTML_ESCAPES[c]!);
}
