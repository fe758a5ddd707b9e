/**
 * U1: the viewer on a 50 000-node profile (distinct call paths), from its
 * link to the flame graph drawn, in headless Chromium; U1w: what the page
 * weighs (its HTML, scripts and style; speedscope's build apart, loaded
 * only when opened).
 */

import { run, summarize, valueResult } from "../harness.ts";
import { CONFIG, FIXTURES, skipped, startApp, type Suite } from "./common.ts";
import { largeProfile } from "../../tests/ui/_profiles.ts";
import { CHROMIUM } from "../../tests/ui/_browser.ts";

const NODES = 50_000;
const PAGE = [
  "",
  "viewer.js",
  "flame.js",
  "tables.js",
  "format.js",
  "viewer.css",
];

export const U1: Suite = {
  ids: ["U1", "U1W"],
  title:
    "viewer: a 50 000-node profile's flame graph, link → drawn; page weight",
  needs: [],
  async run(c) {
    try {
      await Deno.stat(CHROMIUM);
    } catch {
      return skipped(["U1"], this.title, `skipped: ${CHROMIUM} is missing`);
    }
    const { child, pprof } = await startApp({ pprof: true });
    try {
      const ui = `${pprof}/debug/pprof/ui/`;
      const kept = await fetch(`${ui}load?name=large.pb.gz`, {
        method: "POST",
        body: largeProfile(NODES) as Uint8Array<ArrayBuffer>,
      });
      if (kept.status !== 200) throw new Error(`load: ${await kept.text()}`);
      const { id } = await kept.json() as { id: string };
      const rounds = c.quick ? 3 : 7;
      c.log(`U1: ${rounds} loads of the viewer on ${NODES} nodes…`);
      const out = await run(Deno.execPath(), [
        "run",
        "--config",
        CONFIG,
        "-A",
        `${FIXTURES}/ui_render.ts`,
        `${ui}?id=${id}`,
        String(rounds + 1),
      ], { timeoutMs: 300_000 });
      // The first load warms the server's JIT and Chromium's caches.
      const loads = out.trim().split("\n").slice(1).map((l) =>
        JSON.parse(l) as {
          renderedMs: number;
          flameJsonMs: number;
          flameJsonBytes: number;
          frames: number;
          nodes: number;
        }
      );
      if (!loads.every((l) => l.nodes >= NODES)) {
        throw new Error(`the page drew fewer nodes: ${out}`);
      }
      const med = (key: keyof typeof loads[number]) =>
        summarize(loads.map((l) => l[key])).median;
      const weights = await Promise.all(PAGE.map(async (name) => {
        const r = await fetch(`${ui}${name}`);
        return (await r.arrayBuffer()).byteLength;
      }));
      const speedscope = await (await fetch(`${ui}speedscope/speedscope.js`))
        .arrayBuffer();
      const kib = (n: number) => (n / 1024).toFixed(0);
      return [
        valueResult(
          "U1",
          `viewer link → flame graph drawn, ${NODES} nodes (flame.json ${
            med("flameJsonMs").toFixed(0)
          } ms, ${(med("flameJsonBytes") / 2 ** 20).toFixed(1)} MiB; ${
            med("frames").toFixed(0)
          } boxes drawn)`,
          summarize(loads.map((l) => l.renderedMs)),
          "ms",
          1000,
        ),
        valueResult(
          "U1w",
          `viewer page weight: HTML, 4 scripts, style (speedscope's build, opened on demand: ${
            kib(speedscope.byteLength)
          } KiB)`,
          summarize([weights.reduce((a, b) => a + b, 0) / 1024]),
          "KiB",
        ),
      ];
    } finally {
      await child.stop();
    }
  },
};
