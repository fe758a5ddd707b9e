/**
 * P12, the continuous-profiling tax: the bench's HTTP app (the pprof
 * plugin in-process) scraped on Grafana Alloy's default schedule against
 * the same app not scraped, and in the same windows Node 20 with
 * `@datadog/pprof`'s wall profiler running continuously as Datadog's agent
 * runs it, against Node not profiled; with the longest event-loop pause
 * that a scrape (a collection, on Node) causes, from a 1 ms ticker in each
 * app (pause.mjs, as P8) whose pauses are matched with the moments the
 * bench asked for something.
 */

import {
  cpuPerOp,
  ratioOfRatios,
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

/** `a 3, b 1`: how often each text came, most often first. */
function tally(texts: string[]): string {
  const counts = new Map<string, number>();
  for (const t of texts) counts.set(t, (counts.get(t) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([t, n]) => `${t} ${n}`)
    .join(", ");
}

/** Now, in ms since the epoch, as the apps' tickers stamp their pauses. */
const now = () => performance.timeOrigin + performance.now();

/** `[from, to]`, ms since the epoch, and what was served then. */
type Span = [number, number, string];

/**
 * One scrape set on `pprof`, as Alloy sends it at the start of an
 * interval; adds to `asked` when each request was served (for the CPU
 * profile, its last second: the build).
 */
async function scrapeSet(
  pprof: string,
  asked: Span[],
  seconds = INTERVAL_S - 1,
): Promise<void> {
  const get = async (path: string, last?: number) => {
    const t0 = now();
    const r = await fetch(`${pprof}/debug/pprof/${path}`);
    await r.arrayBuffer();
    const t1 = now();
    if (r.status !== 200) throw new Error(`${path}: HTTP ${r.status}`);
    asked.push([last ? t1 - last : t0, t1, path.split("?")[0]!]);
  };
  await Promise.all([
    get(`profile?seconds=${seconds}`, 1000),
    ...SCRAPED.map((path) => get(path)),
  ]);
}

/** The app's ticker's pauses since the last call, `[endedAtMs, ms]` each. */
async function pauses(url: string): Promise<[number, number][]> {
  const r = await fetch(new URL("/pause", url));
  return await r.json();
}

/**
 * The longest pause that overlaps any of `spans` (0 if none does), and
 * what was being served then.
 */
function longestIn(
  gaps: [number, number][],
  spans: Span[],
): { ms: number; during: string } {
  let longest = { ms: 0, during: "" };
  for (const [end, ms] of gaps) {
    const span = spans.find(([from, to]) => end >= from && end - ms <= to);
    if (span && ms > longest.ms) {
      const during = spans.filter(([from, to]) => end >= from && end - ms <= to)
        .map(([, , what]) => what).join("+");
      longest = { ms, during };
    }
  }
  return longest;
}

export const P12: Suite = {
  ids: ["P12", "P12c", "P12n", "P12/n", "P12p", "P12q"],
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
    // A process's first scrape (collection) pays first-time costs (P3c's);
    // continuous profiling is about the later ones.
    for (const d of deno) await scrapeSet(d.pprof!, [], 1);
    for (const n of node) {
      for (const path of ["/start?agent", "/collect", "/stop"]) {
        await n.call(path);
      }
    }
    type Who = "deno" | "node";
    /** What the bench asked of the scraped process of each kind, this window. */
    const asked: Record<Who, Span[]> = { deno: [], node: [] };
    /** The longest pause at those moments, per window, in either role. */
    const longest: Record<Who, [quiet: number[], scraped: number[]]> = {
      deno: [[], []],
      node: [[], []],
    };
    /** What coredeno was serving when its longest pause came, per window. */
    const during: string[] = [];
    /**
     * `side` with its ticker's pauses read after the window: the longest
     * one at a moment the scraped process of its kind was asked something
     * (its twin's, for the one not scraped: the control).
     */
    const timed = (side: Side, url: string, who: Who, role: 0 | 1): Side => ({
      ...side,
      async before() {
        if (role === 1) asked[who] = [];
        await side.before?.();
        await pauses(url); // the window's count starts
      },
      async after() {
        const seen = longestIn(await pauses(url), asked[who]);
        longest[who][role].push(seen.ms);
        if (who === "deno" && role === 1) during.push(seen.during || "-");
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
              const scrapes = scrapeSet(d.pprof!, asked.deno);
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
              const collect = sleep((s - 1) * 1000).then(async () => {
                const t0 = now();
                await n.call("/collect");
                asked.node.push([t0, now(), "collect"]);
              });
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
    /**
     * CPU ms one interval's scrapes (collection) cost, per turn: the extra
     * CPU per request, scraped over not, times the requests of the
     * interval, averaged over the turn's two windows (each process's own
     * speed cancels as in the ratio). What the ratio is made of: a cost per
     * interval, so the ratio falls as the load grows.
     */
    const perInterval = (quiet: number, scraped: number) => {
      const out: number[] = [];
      const [q, s] = [windows[quiet] ?? [], windows[scraped] ?? []];
      for (let i = 0; i + 1 < s.length; i += 2) {
        const extra = (j: number) =>
          (cpuPerOp(s[j]!) - cpuPerOp(q[j]!)) * s[j]!.ops * 1000;
        out.push((extra(i) + extra(i + 1)) / 2);
      }
      return summarize(out);
    };
    const out: Result[] = [
      ratioResult(
        "P12",
        "scraped on Alloy's schedule (profile?seconds=14 + allocs, heap, goroutine, block, mutex every 15 s) / not scraped, CPU-time per request",
        tax,
        { limit: 1.02 },
      ),
    ];
    out.push(valueResult(
      "P12c",
      `what that is: CPU per ${INTERVAL_S} s interval of scrapes, coredeno${
        node.length
          ? ` (Node's collection: ${perInterval(2, 3).median.toFixed(0)} ms)`
          : ""
      }, at ${c.rate} requests/s (info)`,
      perInterval(0, 1),
      "ms",
    ));
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
    const p = longest;
    out.push(
      ratioResult(
        "P12n",
        "Node @datadog/pprof wall (99 Hz) + heap profilers running, collected every 15 s / not profiled, CPU-time per request",
        nodeTax,
      ),
      ratioResult(
        "P12/n",
        "coredeno's tax over Node's (≤ 1: coredeno costs no more)",
        ratioOfRatios(tax, nodeTax),
        { limit: 1 },
      ),
      ratioResult(
        "P12p",
        `longest event-loop pause while a scrape is served: coredeno ${
          med(p.deno[1]).toFixed(0)
        } ms (during ${tally(during)}) / Node (collection) ${
          med(p.node[1]).toFixed(0)
        } ms, window by window`,
        summarize(p.deno[1].map((ms, i) => ms / p.node[1][i]!)),
        { limit: 1 },
      ),
      valueResult(
        "P12q",
        `control: longest pause at the same moments in the twin not scraped, coredeno (Node ${
          med(p.node[0]).toFixed(0)
        } ms; info)`,
        summarize(p.deno[0]),
        "ms",
      ),
    );
    return out;
  },
};
