/**
 * P12, the continuous-profiling tax: the bench's HTTP app (the pprof
 * plugin in-process) scraped on Grafana Alloy's default schedule against
 * the same app not scraped, and in the same windows Node 20 with
 * `@datadog/pprof`'s wall profiler running continuously as Datadog's agent
 * runs it, against Node not profiled; with the longest event-loop pause
 * (P8's 1 ms ticker) of a scraped window on each side.
 */

import {
  cpuPerOp,
  ratioResult,
  type Result,
  rotation,
  type Side,
  sideBySide,
  summarize,
  valueResult,
  windowRatios,
} from "../harness.ts";
import {
  httpLoad,
  type NodeApp,
  pacedLoad,
  plainSide,
  skipped,
  sleep,
  startApp,
  startNodeApp,
  type Suite,
  warmUp,
} from "./common.ts";

/**
 * Alloy's default `pyroscope.scrape`: every 15 s, a `profile?seconds=14`
 * and one each of the others. Kept as it is (windows are one scrape
 * interval each), so the CPU profile runs 14 s of every 15.
 */
const INTERVAL_S = 15;
const SCRAPED = ["allocs", "heap", "goroutine", "block", "mutex"];

/** One scrape set on `pprof`, as Alloy sends it at the start of an interval. */
async function scrapeSet(pprof: string): Promise<void> {
  const get = async (path: string) => {
    const r = await fetch(`${pprof}/debug/pprof/${path}`);
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`${path}: HTTP ${r.status}`);
  };
  await Promise.all([
    get(`profile?seconds=${INTERVAL_S - 1}`),
    ...SCRAPED.map(get),
  ]);
}

/** The longest event-loop pause since the last call, as the app's ticker saw it. */
async function pause(url: string): Promise<number> {
  const r = await fetch(new URL("/pause", url));
  return Number(await r.text());
}

export const P12: Suite = {
  ids: ["P12", "P12n", "P12/n", "P12p", "P12q"],
  title:
    "continuous profiling: scraped on Alloy's schedule vs not, coredeno and Node @datadog/pprof, CPU per request and longest pause",
  needs: ["http-load", "node"],
  async run(c) {
    const dir = c.tools.datadogDir;
    const deno = [
      await startApp({ pprof: true, ticker: true }),
      await startApp({ pprof: true, ticker: true }),
    ];
    const node: NodeApp[] = [];
    if (dir) {
      node.push(await startNodeApp(dir, true), await startNodeApp(dir, true));
    }
    const apps = [...deno.map((d) => d.app), ...node.map((n) => n.app)];
    for (const app of apps) await warmUp(c, (s) => httpLoad(c, app, s));
    for (const app of apps) await pacedLoad(c, app, 1);
    const pauses = { deno: [[], []], node: [[], []] } as Record<
      "deno" | "node",
      [quiet: number[], scraped: number[]]
    >;
    /** A side whose window's longest pause is kept under `[who][role]`. */
    const timed = (
      side: Side,
      url: string,
      who: "deno" | "node",
      role: 0 | 1,
    ): Side => ({
      ...side,
      async before() {
        await side.before?.();
        await pause(url); // starts the window's count
      },
      async after() {
        pauses[who][role].push(await pause(url));
        await side.after?.();
      },
    });
    type Deno = (typeof deno)[number];
    const denoRoles = [
      (d: Deno) => timed(plainSide(c, d.child.pid, d.app), d.app, "deno", 0),
      (d: Deno) =>
        timed(
          {
            pid: d.child.pid,
            async load(s) {
              const scrapes = scrapeSet(d.pprof!);
              const ops = await pacedLoad(c, d.app, s);
              await scrapes;
              return ops;
            },
          },
          d.app,
          "deno",
          1,
        ),
    ];
    const nodeRoles = [
      (n: NodeApp) =>
        timed(plainSide(c, n.child.pid, n.app), n.control, "node", 0),
      (n: NodeApp) =>
        timed(
          {
            pid: n.child.pid,
            // Running before the window, as it runs all the time; one
            // collection (stop with restart, encode) at the same moment as
            // coredeno's profile ends, so both sides pay one per interval.
            before: async () => void await n.call("/start?agent"),
            async load(s) {
              const collect = sleep((s - 1) * 1000).then(() =>
                n.call("/collect")
              );
              const ops = await pacedLoad(c, n.app, s);
              await collect;
              return ops;
            },
            after: async () => void await n.call("/stop"),
          },
          n.control,
          "node",
          1,
        ),
    ];
    const rounds = Math.max(2, Math.ceil(c.rounds / 2) * 2);
    c.log(`P12: ${rounds} windows of ${INTERVAL_S} s…`);
    const denoTurn = rotation(deno, denoRoles);
    const nodeTurn = node.length ? rotation(node, nodeRoles) : () => [];
    const windows = await sideBySide(
      (round) => [...denoTurn(round), ...nodeTurn(round)],
      { rounds, seconds: INTERVAL_S },
    );
    const tax = summarize(windowRatios(windows, 0, 1, cpuPerOp, 2));
    const out: Result[] = [
      ratioResult(
        "P12",
        "scraped on Alloy's schedule (profile?seconds=14 + allocs, heap, goroutine, block, mutex every 15 s) / not scraped, CPU-time per request",
        tax,
        { limit: 1.02 },
      ),
    ];
    if (!node.length) {
      return [
        ...out,
        ...skipped(
          ["P12n", "P12/n", "P12p"],
          this.title,
          `skipped: ${c.tools.missing.get("node")}`,
        ),
      ];
    }
    const nodeTax = summarize(windowRatios(windows, 2, 3, cpuPerOp, 2));
    const med = (xs: number[]) => summarize(xs).median;
    const p = pauses;
    out.push(
      ratioResult(
        "P12n",
        "Node @datadog/pprof wall (99 Hz) + heap profilers running, collected every 15 s / not profiled, CPU-time per request",
        nodeTax,
      ),
      ratioResult(
        "P12/n",
        "coredeno's tax over Node's (≤ 1: coredeno costs no more)",
        {
          median: tax.median / nodeTax.median,
          min: tax.min / nodeTax.max,
          max: tax.max / nodeTax.min,
          n: Math.min(tax.n, nodeTax.n),
        },
        { limit: 1 },
      ),
      ratioResult(
        "P12p",
        `longest event-loop pause in a scraped window: coredeno ${
          med(p.deno[1]).toFixed(0)
        } ms / Node ${med(p.node[1]).toFixed(0)} ms`,
        summarize(p.deno[1].map((ms, i) => ms / p.node[1][i]!)),
        { limit: 1 },
      ),
      valueResult(
        "P12q",
        `longest pause in a window not scraped, coredeno (Node ${
          med(p.node[0]).toFixed(0)
        } ms; info)`,
        summarize(p.deno[0]),
        "ms",
      ),
    );
    return out;
  },
};
