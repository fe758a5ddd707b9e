/**
 * speedscope (npm `speedscope`, MIT, Jamie Wong), its release build served
 * at `ui/speedscope/` for the views it does best: Time Order, Left Heavy
 * (WebGL: smooth on profiles of any size) and Sandwich (a function's
 * callers and callees). The viewer opens it on a kept profile with
 * `#profileURL=../profile.pb.gz?id=…`; speedscope reads pprof itself and
 * shows the profile's default sample type, which that URL sets.
 *
 * Its script and style are imported as text from the pinned package (part
 * of the module graph: bundled and compiled in, no network). Left out: the
 * Source Code Pro font (a `bytes` import needs --unstable-raw-imports, so
 * the style falls back to the browser's monospace), the favicons, and the
 * JFR and example files.
 */

import SPEEDSCOPE_CSS from "npm:speedscope@1.25.0/dist/release/speedscope-GHPHNKXC.css" with {
  type: "text",
};
import SPEEDSCOPE_JS from "npm:speedscope@1.25.0/dist/release/speedscope-Y2522XSH.js" with {
  type: "text",
};

export const SPEEDSCOPE_VERSION = "1.25.0";

const PAGE = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1.0">
    <title>speedscope</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="speedscope.css">
  </head>
  <body>
    <script src="speedscope.js"></script>
  </body>
</html>
`;

/**
 * speedscope styles with inline style elements (aphrodite) and instantiates
 * a small WebAssembly demangler at start: both are allowed here, and still
 * nothing from another origin.
 */
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; " +
  "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

const ASSETS: Record<string, [string, string]> = {
  "": [PAGE, "text/html; charset=utf-8"],
  "speedscope.js": [SPEEDSCOPE_JS, "text/javascript; charset=utf-8"],
  // The font is not embedded (see above): its rule would only 404.
  "speedscope.css": [
    SPEEDSCOPE_CSS.replace(/@font-face\{[^}]*\}/g, ""),
    "text/css; charset=utf-8",
  ],
};

/** speedscope's page or asset at `path` under `ui/speedscope/`, if there is one. */
export function speedscopeAsset(path: string): Response | undefined {
  const asset = ASSETS[path];
  if (!asset) return undefined;
  return new Response(asset[0], {
    headers: {
      "X-Content-Type-Options": "nosniff",
      "Content-Type": asset[1],
      "Content-Security-Policy": CSP,
      "Cache-Control": "no-cache",
    },
  });
}
