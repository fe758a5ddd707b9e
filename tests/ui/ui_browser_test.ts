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

/** Why the test cannot run on this machine (Chromium or playwright-core missing), if it cannot. */
async function missing(): Promise<string | undefined> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    return `${CHROMIUM} is missing (apt-get install -y chromium)`;
  }
  const probe = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--config", CONFIG, "-A", DRIVER, "--probe"],
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  if (probe.code === 0) return undefined;
  const text = new TextDecoder().decode(probe.stdout) +
    new TextDecoder().decode(probe.stderr);
  return text.trim() || `the driver's probe exited with ${probe.code}`;
}

// Ignored, with the reason printed, where Chromium cannot run; with CI set
// (CI installs both) the test runs and fails with that reason instead.
const MISSING = await missing();
const CI = Boolean(Deno.env.get("CI"));
if (MISSING !== undefined && !CI) {
  console.log(`SKIPPED: flame-graph browser test: ${MISSING}`);
}

Deno.test({
  name:
    "pprof ui in Chromium: CPU flame graph, hover, search, zoom, dropped file",
  ignore: MISSING !== undefined && !CI,
  fn: inChromium,
});

async function inChromium() {
  if (MISSING !== undefined) {
    throw new Error(`the browser test needs this when CI is set: ${MISSING}`);
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
    assert.equal(driver.code, 0, `${stdout}\n${stderr}`);
    assert.equal(stdout.match(/^ok /gm)?.length, 7, stdout);
    console.log(
      `${stdout.trim()}\nscreenshots: ${OUT}/{cpu-search,cpu-zoom,heap-file}.png`,
    );
  } finally {
    await workload.stop();
  }
}
