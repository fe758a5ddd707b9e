/**
 * Drives the flame graph in headless Chromium with playwright-core, as a
 * person would: index → link → CPU profile → alpha's frame → hover → search
 * → zoom → a dropped heap file. Run by `ui_browser_test.ts` as its own
 * process with `-A`: playwright-core reads /proc/sys/fs/binfmt_misc at import,
 * which Deno grants only to --allow-all, and the test task grants less.
 *
 * Usage: deno run -A _chromium.ts BASE_URL OUT_DIR
 * Prints "ok STEP" per step; exit 0 all passed, 1 a step failed,
 * 3 playwright-core does not load.
 *
 * `deno run -A _chromium.ts --probe` only loads playwright-core: exit 0, or
 * 3 with the reason, so the test knows before it starts whether it can run.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { CHROMIUM, loadPlaywright } from "./_browser.ts";

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const [base = "", out = ""] = Deno.args;
const probe = base === "--probe";
if (!probe && (!base || !out)) {
  throw new Error("usage: _chromium.ts BASE_URL OUT_DIR | --probe");
}

const playwright = await loadPlaywright();
if (probe) Deno.exit(0);

async function step(name: string, fn: () => Promise<void>) {
  await fn();
  console.log(`ok ${name}`);
}

const browser = await playwright.chromium.launch({
  executablePath: CHROMIUM,
  args: ARGS,
});
try {
  const page = await browser.newPage({
    viewport: { width: 1280, height: 800 },
  });
  const foreign: string[] = [];
  const errors: string[] = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(base)) foreign.push(r.url());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    // Failed loads are reported with their URL below.
    if (m.type() === "error" && !m.text().startsWith("Failed to load")) {
      errors.push(m.text());
    }
  });
  page.on("response", (r) => {
    // The browser asks for /favicon.ico on Go's index page, which has none.
    if (r.status() >= 400 && new URL(r.url()).pathname !== "/favicon.ico") {
      errors.push(`${r.status()} ${r.url()}`);
    }
  });
  const alpha = page.locator('#flame g.frame[data-name="alpha"]');
  /** The widest alpha frame (there may be several call paths to it). */
  const widest = async () => {
    const widths = await alpha.evaluateAll((gs) =>
      gs.map((g) => g.getBoundingClientRect().width)
    );
    const i = widths.indexOf(Math.max(...widths));
    return { frame: alpha.nth(i), width: widths[i]! };
  };

  await step("the index links to the page", async () => {
    await page.goto(`${base}/debug/pprof/`);
    await page.click("a[href='ui/']");
    await page.waitForURL(`${base}/debug/pprof/ui/`);
    assert.equal(await page.title(), "Flame graph · /debug/pprof/");
  });

  await step("a 2 s CPU profile renders, with alpha's frame", async () => {
    await page.selectOption("#type", "profile");
    await page.fill("#seconds", "2");
    await page.click("#load");
    await alpha.first().waitFor({ timeout: 20_000 });
    assert.match(
      await page.textContent("#status") ?? "",
      /^CPU profile of 2 s: [\d.]+ (s|ms) of cpu in \d+ frames$/,
    );
    assert.equal(await page.getAttribute("#flame", "data-zoom"), "root");
    assert.match(await page.textContent("#top tbody") ?? "", /alpha/);
  });

  await step("hovering shows the frame's values", async () => {
    await (await widest()).frame.hover();
    const tip = page.locator("#tooltip");
    await tip.waitFor({ state: "visible" });
    const text = await tip.textContent() ?? "";
    assert.match(text, /^alpha/);
    assert.match(text, /workload\.ts/);
    assert.match(text, /Total: [\d.]+ (s|ms) \([\d.]+% of all\)/);
  });

  await step("search highlights alpha and dims the rest", async () => {
    await page.fill("#search", "alpha");
    assert.match(await alpha.first().getAttribute("class") ?? "", /\bmatch\b/);
    assert.equal(
      await page.locator("#flame g.frame.match").count(),
      await alpha.count(),
      "only alpha matches",
    );
    assert.match(
      await page.textContent("#matched") ?? "",
      /^Matched: .+ \([\d.]+%\)$/,
    );
    assert.equal(await page.getAttribute("#flame", "class"), "searching");
    await page.mouse.move(0, 0);
    await page.screenshot({ path: `${out}/cpu-search.png`, fullPage: true });
  });

  await step("clicking alpha zooms to it; Esc zooms out", async () => {
    await page.fill("#search", "");
    const svgWidth = Number(await page.getAttribute("#flame", "width"));
    const before = await widest();
    assert.ok(before.width < svgWidth * 0.99, `alpha ${before.width}px`);
    await before.frame.click();
    assert.equal(await page.getAttribute("#flame", "data-zoom"), "alpha");
    const after = await widest();
    assert.ok(
      after.width > svgWidth * 0.99,
      `zoomed alpha spans the chart: ${after.width}/${svgWidth}`,
    );
    assert.ok(await page.isEnabled("#reset"));
    await page.mouse.move(0, 0);
    await page.screenshot({ path: `${out}/cpu-zoom.png`, fullPage: true });
    await page.keyboard.press("Escape");
    assert.equal(await page.getAttribute("#flame", "data-zoom"), "root");
  });

  await step("a dropped .pb.gz file is drawn too (heap)", async () => {
    const bytes = await (await fetch(`${base}/debug/pprof/heap`)).bytes();
    await page.setInputFiles("#file", {
      name: "heap.pb.gz",
      mimeType: "application/octet-stream",
      buffer: Buffer.from(bytes),
    });
    await page.locator('#flame g.frame[data-name="retainMemory"]').first()
      .waitFor({ timeout: 10_000 });
    assert.match(
      await page.textContent("#status") ?? "",
      /^heap\.pb\.gz: [\d.]+ MiB of inuse_space/,
    );
    await page.screenshot({ path: `${out}/heap-file.png`, fullPage: true });
  });

  await step("nothing fetched from elsewhere, no script errors", () => {
    assert.deepEqual(foreign, []);
    assert.deepEqual(errors, []);
    return Promise.resolve();
  });
} catch (error) {
  console.log(`FAILED: ${(error as Error).stack ?? error}`);
  Deno.exitCode = 1;
} finally {
  await browser.close();
}
