/**
 * Drives the viewer in headless Chromium with playwright-core, as a person
 * would, each view opened from its link: the index's heap link, a CPU
 * profile's flame graph (hover, search, zoom kept in the address), the top
 * table (sort, filter), the source view at the hot line, the Markdown
 * report, a comparison (an added function grown), a label filter,
 * speedscope on the same profile, and a dropped file. Run by
 * `ui_browser_test.ts` as its own process with `-A`: playwright-core reads
 * /proc/sys/fs/binfmt_misc at import, which Deno grants only to --allow-all.
 *
 * Usage: deno run -A _chromium.ts BASE_URL OUT_DIR
 * Prints "ok STEP" per step and screenshots each view into OUT_DIR
 * (docs/viewer/ keeps a copy); exit 0 all passed, 1 a step failed,
 * 3 playwright-core does not load.
 *
 * `deno run -A _chromium.ts --probe` only loads playwright-core: exit 0, or
 * 3 with the reason, so the test knows before it starts whether it can run.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { CHROMIUM, loadPlaywright } from "./_browser.ts";
import { diffPair, labelledProfile } from "./_profiles.ts";

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

const ui = `${base}/debug/pprof/ui/`;
const WORKLOAD = new URL("../pprof/fixtures/workload.ts", import.meta.url)
  .pathname;
const workloadLines = Deno.readTextFileSync(WORKLOAD).split("\n");
const alphaHotLine = 1 +
  workloadLines.findIndex((l, i) =>
    l.endsWith("// hot") &&
    workloadLines.slice(0, i).some((p) =>
      p.startsWith("export function alpha(")
    )
  );

async function step(name: string, fn: () => Promise<void>) {
  await fn();
  console.log(`ok ${name}`);
}

/** Keeps a profile in the viewer, as the page's file input does; returns its id. */
async function keep(bytes: Uint8Array, name: string): Promise<string> {
  const r = await fetch(`${ui}load?name=${name}`, {
    method: "POST",
    body: bytes as Uint8Array<ArrayBuffer>,
  });
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.json()).id;
}

const browser = await playwright.chromium.launch({
  executablePath: CHROMIUM,
  args: ARGS,
});
try {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
  });
  const page = await context.newPage();
  const foreign: string[] = [];
  const errors: string[] = [];
  const watch = (p: typeof page) => {
    p.on("request", (r) => {
      if (!r.url().startsWith(base) && !r.url().startsWith("data:")) {
        foreign.push(r.url());
      }
    });
    p.on("pageerror", (e) => errors.push(String(e)));
    p.on("console", (m) => {
      // Failed loads are reported with their URL below.
      if (m.type() === "error" && !m.text().startsWith("Failed to load")) {
        errors.push(m.text());
      }
    });
    p.on("response", (r) => {
      // The browser asks for /favicon.ico on Go's index page, which has none.
      if (r.status() >= 400 && new URL(r.url()).pathname !== "/favicon.ico") {
        errors.push(`${r.status()} ${r.url()}`);
      }
    });
  };
  watch(page);
  const frame = (name: string) =>
    page.locator(`#flame g.frame[data-name="${name}"]`);
  const status = async () => await page.textContent("#status") ?? "";
  const shot = (name: string) =>
    page.screenshot({ path: `${out}/${name}.png`, fullPage: false });
  /** The widest frame named `name` (there may be several call paths to it). */
  const widest = async (name: string) => {
    const widths = await frame(name).evaluateAll((gs) =>
      gs.map((g) => g.getBoundingClientRect().width)
    );
    const i = widths.indexOf(Math.max(...widths));
    return { frame: frame(name).nth(i), width: widths[i]! };
  };

  await step("the index's heap link opens the heap's flame graph", async () => {
    await page.goto(`${base}/debug/pprof/`);
    await page.click("a[href='ui/?type=heap']");
    await frame("retainMemory").first().waitFor({ timeout: 15_000 });
    assert.equal(await page.title(), "Profile viewer · /debug/pprof/");
    assert.match(await status(), /^heap profile: [\d.]+ MiB of inuse_space/);
    assert.match(page.url(), /[?&]id=[0-9a-f]{12}/, "the address names it");
  });

  let cpu = "";
  await step("a CPU profile's link renders alpha's flame graph", async () => {
    await page.goto(`${ui}?type=profile&seconds=2`);
    await frame("alpha").first().waitFor({ timeout: 20_000 });
    assert.match(
      await status(),
      /^CPU profile of 2 s: [\d.]+ (s|ms) of cpu · \d+ call-path nodes$/,
    );
    cpu = new URL(page.url()).searchParams.get("id") ?? "";
    assert.match(cpu, /^[0-9a-f]{12}$/);
    assert.equal(await page.getAttribute("#flame", "data-zoom"), "root");
    await page.mouse.move(0, 0);
    await shot("viewer-flame");
  });

  await step("hovering shows the frame's values", async () => {
    await (await widest("alpha")).frame.hover();
    const tip = page.locator("#tooltip");
    await tip.waitFor({ state: "visible" });
    const text = await tip.textContent() ?? "";
    assert.match(text, /^alpha/);
    assert.match(text, /workload\.ts/);
    assert.match(text, /Total: [\d.]+ (s|ms) \([\d.]+% of all\)/);
  });

  await step("search highlights alpha and dims the rest", async () => {
    await page.fill("#search", "^alpha$");
    assert.match(
      await frame("alpha").first().getAttribute("class") ?? "",
      /\bmatch\b/,
    );
    assert.equal(
      await page.locator("#flame g.frame.match").count(),
      await frame("alpha").count(),
      "only alpha matches",
    );
    assert.match(
      await page.textContent("#matched") ?? "",
      /^Matched: .+ \([\d.]+%\)$/,
    );
    assert.match(page.url(), /search=%5Ealpha%24/, "the address keeps it");
    await page.fill("#search", "");
  });

  await step("clicking alpha zooms; the address keeps the zoom", async () => {
    const svgWidth = Number(await page.getAttribute("#flame", "width"));
    const before = await widest("alpha");
    assert.ok(before.width < svgWidth * 0.99, `alpha ${before.width}px`);
    await before.frame.click();
    assert.equal(await page.getAttribute("#flame", "data-zoom"), "alpha");
    assert.match(await page.textContent("#details") ?? "", /^alpha /);
    await page.reload();
    await frame("alpha").first().waitFor();
    assert.equal(await page.getAttribute("#flame", "data-zoom"), "alpha");
    const after = await widest("alpha");
    assert.ok(after.width > svgWidth * 0.99, `zoomed alpha spans the chart`);
    await page.keyboard.press("Escape");
    assert.equal(await page.getAttribute("#flame", "data-zoom"), "root");
  });

  await step("the top table: alpha first, sortable, filtered", async () => {
    await page.click("nav a[data-view=top]");
    const rows = page.locator("#top tbody tr");
    await rows.first().waitFor();
    assert.equal(await rows.first().getAttribute("data-name"), "alpha");
    assert.match(page.url(), /view=top/);
    assert.match(
      await rows.first().locator("td.where").textContent() ?? "",
      new RegExp(`workload\\.ts:${alphaHotLine}$`),
    );
    await page.click("#top th[data-sort=cum]");
    assert.match(page.url(), /sort=cum/);
    assert.notEqual(await rows.first().getAttribute("data-name"), "alpha");
    await page.click("#top th[data-sort=flat]");
    await page.mouse.move(0, 0);
    await shot("viewer-top");
    await page.fill("#search", "^beta$");
    assert.deepEqual(
      await rows.evaluateAll((trs) => trs.map((t) => t.dataset.name)),
      ["beta"],
    );
    await page.fill("#search", "");
  });

  await step(
    "the source view's link shows alpha's hot line hottest",
    async () => {
      await page.goto(`${ui}?id=${cpu}&view=source`);
      const hottest = page.locator("#source tr.hottest");
      await hottest.waitFor();
      assert.equal(
        await hottest.getAttribute("data-line"),
        String(alphaHotLine),
      );
      assert.match(
        await hottest.locator("td.code").textContent() ?? "",
        /\/\/ hot$/,
      );
      assert.match(
        await hottest.locator("td.num").nth(1).textContent() ?? "",
        /[\d.]+ (s|ms)/,
      );
      assert.match(await page.inputValue("#files"), /workload\.ts$/);
      assert.match(
        await status(),
        new RegExp(`hottest line …/workload\\.ts:${alphaHotLine}$`),
      );
      await shot("viewer-source");
    },
  );

  await step("the report view shows the Markdown summary", async () => {
    await page.goto(`${ui}?id=${cpu}&view=report`);
    await page.locator("#report", { hasText: "## Hottest lines" }).waitFor();
    const md = await page.textContent("#report") ?? "";
    assert.match(md, /^# CPU profile of 2 s\n/);
    assert.match(md, /\| `alpha` \|/);
    await shot("viewer-report");
  });

  await step(
    "against a base, the added function is grown, the halved one shrunk",
    async () => {
      const pair = diffPair();
      const before = await keep(pair.base, "base.pb.gz");
      const now = await keep(pair.now, "now.pb.gz");
      await page.goto(`${ui}?id=${now}&base=${before}`);
      await frame("added").first().waitFor();
      assert.match(
        await frame("added").first().getAttribute("class") ?? "",
        /\bgrew\b/,
      );
      assert.match(
        await frame("parse").first().getAttribute("class") ?? "",
        /\bshrank\b/,
      );
      assert.equal(await page.inputValue("#base"), before);
      assert.match(
        await status(),
        /^now\.pb\.gz: 650\.0 ms of cpu, against base\.pb\.gz \(500\.0 ms, change \+150\.0 ms\)/,
      );
      await page.mouse.move(0, 0);
      await shot("viewer-diff");
      await page.click("nav a[data-view=top]");
      const first = page.locator("#top tbody tr").first();
      await first.waitFor();
      assert.equal(await first.getAttribute("data-name"), "added");
      assert.deepEqual(
        await first.locator("td.num").allTextContents(),
        ["+250.0 ms", "+250.0 ms", "new", "250.0 ms"],
      );
      await shot("viewer-diff-top");
    },
  );

  await step("a label narrows the view to one isolate", async () => {
    const id = await keep(labelledProfile(), "isolates.pb.gz");
    await page.goto(`${ui}?id=${id}`);
    await frame("crunch").first().waitFor();
    assert.ok(await frame("handle").count() > 0);
    await page.selectOption("#label", "isolate=worker:1");
    await page.waitForURL(/label=isolate%3Dworker%3A1/);
    await page.locator("#status", { hasText: "only isolate=worker:1" })
      .waitFor();
    assert.equal(await frame("handle").count(), 0, "the main isolate is gone");
    assert.ok(await frame("crunch").count() > 0);
    await page.mouse.move(0, 0);
    await shot("viewer-labels");
  });

  await step("speedscope opens the same profile, offline", async () => {
    await page.goto(`${ui}?id=${cpu}`);
    await frame("alpha").first().waitFor();
    const href = await page.getAttribute("#speedscope", "href") ?? "";
    assert.match(href, /^speedscope\/#profileURL=/);
    const speedscope = await context.newPage();
    watch(speedscope);
    await speedscope.goto(new URL(href, page.url()).href);
    await speedscope.locator("canvas").first().waitFor({ timeout: 15_000 });
    await speedscope.getByText("alpha").first().waitFor({ timeout: 15_000 })
      .catch(
        () => {}, // speedscope draws names on a canvas; the title says it loaded
      );
    assert.match(await speedscope.title(), /CPU profile of 2 s - speedscope/);
    await speedscope.waitForTimeout(500);
    await speedscope.screenshot({ path: `${out}/viewer-speedscope.png` });
    await speedscope.close();
  });

  await step("a dropped .pb.gz file is drawn too (heap)", async () => {
    const bytes = await (await fetch(`${base}/debug/pprof/heap`)).bytes();
    await page.setInputFiles("#file", {
      name: "heap.pb.gz",
      mimeType: "application/octet-stream",
      buffer: Buffer.from(bytes),
    });
    await page.locator("#status", { hasText: "heap.pb.gz" }).waitFor();
    await frame("retainMemory").first().waitFor({ timeout: 10_000 });
    assert.match(await status(), /^heap\.pb\.gz: [\d.]+ MiB of inuse_space/);
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
