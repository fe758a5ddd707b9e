/**
 * `go tool pprof -http` in headless Chromium, as a Go user opens it on our
 * profiles: the graph (Graphviz), the flame graph and the source view.
 * Run by `pprof_web_test.ts` as its own process with `-A` (playwright-core
 * reads /proc/sys/fs/binfmt_misc at import, which Deno grants only to -A).
 *
 * Usage: deno run -A _pprof_web.ts SERVED_UI SYNTHETIC_UI OUT_DIR
 *   SERVED_UI: pprof's UI on a CPU profile saved from a running coredeno;
 *   SYNTHETIC_UI: pprof's UI on `_synthetic_cpu.ts`'s profile (title
 *   `SYNTHETIC_TITLE` from the environment).
 * Prints "ok STEP" per step; exit 0 all passed, 1 a step failed,
 * 3 playwright-core does not load.
 */

import assert from "node:assert/strict";
import { CHROMIUM, loadPlaywright } from "./_browser.ts";

const [served, synthetic, out] = Deno.args;
if (!served || !synthetic || !out) {
  throw new Error("usage: _pprof_web.ts SERVED_UI SYNTHETIC_UI OUT_DIR");
}
const syntheticTitle = Deno.env.get("SYNTHETIC_TITLE") ?? "";

const playwright = await loadPlaywright();

async function step(name: string, fn: () => Promise<void>) {
  await fn();
  console.log(`ok ${name}`);
}

/** The pseudo-frames of the synthetic profile, with the file each gets. */
const PSEUDO: [string, string][] = [
  ["[program]", "[v8]/[program]"],
  ["[gc]", "[v8]/[gc]"],
  ["op_net_send_udp", "[v8]/op_net_send_udp"],
  ["JSON.stringify", "[v8]/JSON.stringify"],
  ["[native: Deno runtime/non-JS]", "[deno]/[native: Deno runtime/non-JS]"],
];

const browser = await playwright.chromium.launch({
  executablePath: CHROMIUM,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
});
try {
  const page = await browser.newPage({
    viewport: { width: 1280, height: 800 },
  });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("response", (r) => {
    if (r.status() >= 400 && new URL(r.url()).pathname !== "/favicon.ico") {
      errors.push(`${r.status()} ${r.url()}`);
    }
  });

  await step(
    "the graph's title and legend name coredeno's main module",
    async () => {
      await page.goto(`${served}/ui/`);
      assert.equal(await page.title(), "main.ts cpu");
      // The header's name for the profile (the "unknown cpu"), and
      // the details box Go fills from the legend.
      assert.equal((await page.textContent("#details"))?.trim(), "main.ts cpu");
      const details = await page.locator("#detailsbox").textContent() ?? "";
      assert.match(details, /File: main\.ts/);
      assert.match(details, /Build ID: \S+/);
      // Graphviz drew the call graph.
      await page.locator("#graph svg g.node").first().waitFor({
        timeout: 20_000,
      });
      await page.screenshot({ path: `${out}/pprof-graph.png`, fullPage: true });
    },
  );

  await step(
    "the flame graph shows JavaScript and pseudo-frames by name",
    async () => {
      await page.goto(`${synthetic}/ui/flamegraph`);
      assert.equal(await page.title(), syntheticTitle);
      await page.locator("#chart svg").waitFor({ timeout: 20_000 });
      const text = await page.locator("#chart").textContent() ?? "";
      for (const name of ["handle", "encode", "[gc]", "[program]"]) {
        assert.ok(text.includes(name), `${name} in the flame graph: ${text}`);
      }
      await page.screenshot({ path: `${out}/pprof-flame.png`, fullPage: true });
    },
  );

  await step(
    "the source view: one block per pseudo-frame, its own file and time",
    async () => {
      await page.goto(`${synthetic}/ui/source`);
      assert.equal(await page.title(), syntheticTitle);
      const blocks = await page.locator("h2").evaluateAll((hs) =>
        hs.map((h) => ({
          name: h.textContent ?? "",
          file: h.nextElementSibling?.textContent ?? "",
          total: h.nextElementSibling?.nextElementSibling?.textContent?.match(
            /Total:\s+(\S+)/,
          )?.[1] ?? "",
        }))
      );
      for (const [name, file] of PSEUDO) {
        const mine = blocks.filter((b) => b.name === name);
        assert.equal(mine.length, 1, `${name}: ${JSON.stringify(blocks)}`);
        assert.equal(mine[0]!.file, file);
        assert.notEqual(mine[0]!.total, "0");
      }
      assert.ok(
        blocks.every((b) => b.file !== "[v8]" && b.file !== "."),
        JSON.stringify(blocks),
      );
      await page.screenshot({
        path: `${out}/pprof-source.png`,
        fullPage: true,
      });
    },
  );

  assert.deepEqual(errors, [], "no page errors or failed loads");
  console.log("ok no page errors");
} catch (error) {
  console.log(`FAILED: ${(error as Error).stack ?? error}`);
  Deno.exitCode = 1;
} finally {
  await browser.close();
}
