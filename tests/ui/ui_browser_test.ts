/**
 * The flame graph as a person uses it, in headless Chromium (Debian's
 * `chromium`, driven by `playwright-core` in `_chromium.ts`) against a
 * running workload: the hot function `alpha` is found, hovered, searched
 * and zoomed, and a dropped heap file is drawn. Screenshots land in
 * tests/ui/out/ (gitignored) for a human to look at.
 */

import assert from "node:assert/strict";
import { CONFIG, startWorkload } from "../_helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const DRIVER = new URL("./_chromium.ts", import.meta.url).pathname;
const OUT = new URL("./out", import.meta.url).pathname;

/** Skips with a visible message, or fails when CI is set (CI installs both). */
function skip(why: string) {
  if (Deno.env.get("CI")) {
    throw new Error(`the browser test needs this when CI is set: ${why}`);
  }
  console.log(`SKIPPED: flame-graph browser test: ${why}`);
}

Deno.test("pprof ui in Chromium: CPU flame graph, hover, search, zoom, dropped file", async () => {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    return skip(`${CHROMIUM} is missing (apt-get install -y chromium)`);
  }
  await Deno.mkdir(OUT, { recursive: true });
  const workload = await startWorkload();
  try {
    const driver = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--config", CONFIG, "-A", DRIVER, workload.base, OUT],
      stdin: "null",
      env: { NO_COLOR: "1" },
    }).output();
    const stdout = new TextDecoder().decode(driver.stdout);
    const stderr = new TextDecoder().decode(driver.stderr);
    if (driver.code === 3) return skip(stdout.trim());
    assert.equal(driver.code, 0, `${stdout}\n${stderr}`);
    assert.equal(stdout.match(/^ok /gm)?.length, 7, stdout);
    console.log(
      `${stdout.trim()}\nscreenshots: ${OUT}/{cpu-search,cpu-zoom,heap-file}.png`,
    );
  } finally {
    await workload.stop();
  }
});
