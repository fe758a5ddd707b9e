/**
 * The flame graph as a person uses it, in headless Chromium (Debian's
 * `chromium`, driven by `playwright-core` in `_chromium.ts`) against a
 * running workload: the hot function `alpha` is found, hovered, searched
 * and zoomed, and a dropped heap file is drawn. Screenshots land in
 * tests/ui/out/ (gitignored) for a human to look at.
 */

import { startWorkload } from "../_helpers.ts";
import { browserTest } from "./_browser.ts";

const OUT = new URL("./out", import.meta.url).pathname;

await browserTest({
  name:
    "pprof ui in Chromium: CPU flame graph, hover, search, zoom, dropped file",
  what: "flame-graph browser test",
  driver: new URL("./_chromium.ts", import.meta.url).pathname,
  steps: 7,
}, async (drive) => {
  await Deno.mkdir(OUT, { recursive: true });
  const workload = await startWorkload();
  try {
    const stdout = await drive([workload.base, OUT]);
    console.log(
      `${stdout.trim()}\nscreenshots: ${OUT}/{cpu-search,cpu-zoom,heap-file}.png`,
    );
  } finally {
    await workload.stop();
  }
});
