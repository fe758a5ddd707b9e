/**
 * The viewer as a person uses it, in headless Chromium (Debian's
 * `chromium`, driven by `playwright-core` in `_chromium.ts`) against a
 * running workload: each view opened from its link (flame graph, top,
 * source at the hot line, report, a comparison, a label filter,
 * speedscope), and a dropped file. Screenshots land in tests/ui/out/
 * (gitignored); docs/viewer/ keeps a copy for the README.
 */

import { startWorkload } from "../_helpers.ts";
import { browserTest } from "./_browser.ts";

const OUT = new URL("./out", import.meta.url).pathname;

await browserTest({
  name:
    "pprof ui in Chromium: every view from its link, a diff, labels, speedscope",
  what: "viewer browser test",
  driver: new URL("./_chromium.ts", import.meta.url).pathname,
  steps: 13,
}, async (drive) => {
  await Deno.mkdir(OUT, { recursive: true });
  const workload = await startWorkload();
  try {
    const stdout = await drive([workload.base, OUT]);
    console.log(
      `${stdout.trim()}\nscreenshots: ${OUT}/viewer-*.png`,
    );
  } finally {
    await workload.stop();
  }
});
