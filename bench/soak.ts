/**
 * `deno task bench --soak [--minutes M]`: the reliability soak. The bench's
 * HTTP app runs in a coredeno process with `pprof { block }` under load from
 * another process, while a scraper alternates heap, allocs, block and 2 s CPU
 * profiles for M minutes (default 10).
 *
 * RSS is sampled after every round. A single reading is not a measure: V8
 * grows and shrinks its heap with the load (without pprof at all, RSS swings
 * between 65 and 92 MiB here, minute to minute). So growth is the median RSS
 * of the last window against the median of the first window after a
 * one-minute warm-up (each window a third of the rest, at most two minutes),
 * with the least-squares trend alongside. Once a minute `heap?gc=1` and the
 * app's `Deno.memoryUsage()` give the live JavaScript heap, which tells a
 * JavaScript leak from native growth. Passes
 * when RSS grows by less than 10%, open files do not grow, and no scrape
 * fails; exits 1 otherwise.
 *
 * For finding where memory goes: `--soak-body TEXT` replaces the pprof block
 * body ("" for a bare `pprof`), `--soak-body none` runs without pprof, and
 * `--no-scrape` keeps pprof idle.
 */

import { START_PERMISSIONS } from "../lib/permissions.ts";

const REPO = new URL("../", import.meta.url);
const CONFIG = new URL("deno.json", REPO).pathname;
const MiB = 1024 * 1024;

/** What to soak: `body` is the pprof block body (undefined: no pprof at all). */
export interface SoakOptions {
  minutes: number;
  body?: string;
  scrape: boolean;
}

interface Reading {
  /** Minutes since the load started. */
  at: number;
  rssMiB: number;
  fds: number;
}

async function shell(command: string): Promise<string> {
  const output = await new Deno.Command("sh", { args: ["-c", command] })
    .output();
  return new TextDecoder().decode(output.stdout);
}

/** RSS (MiB) and open descriptors of `pid`, through the shell: Deno reads /proc only with -A. */
async function usage(pid: number) {
  const status = await shell(`cat /proc/${pid}/status`);
  const rssMiB = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
  const fds = Number((await shell(`ls /proc/${pid}/fd | wc -l`)).trim());
  return { rssMiB, fds };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Least-squares slope of y over x. */
function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export async function soak(
  { minutes, body, scrape }: SoakOptions,
  log: (text: string) => void,
): Promise<boolean> {
  const app = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      CONFIG,
      ...START_PERMISSIONS,
      new URL("bench/fixtures/app.ts", REPO).pathname,
      "--app-port",
      "0",
      ...(body === undefined
        ? []
        : ["--pprof-port", "0", "--pprof-body", body]),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = app.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  let ready: RegExpExecArray | null = null;
  while ((ready = /^ready (\d+) (\S+) /m.exec(seen)) === null) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the soak app exited before it was ready");
    seen += value;
  }
  reader.releaseLock();
  app.stdout.cancel().catch(() => {});
  const [, appPort = "", pprofPort] = ready;

  const start = Date.now();
  const end = start + minutes * 60_000;
  const load = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      new URL("bench/fixtures/load.ts", REPO).pathname,
      `http://127.0.0.1:${appPort}/`,
      String(minutes * 60),
      "4",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();

  const base = `http://127.0.0.1:${pprofPort}/debug/pprof`;
  const paths = body === undefined || !scrape ? [] : [
    "heap",
    "allocs",
    ...(body.includes("block") ? ["block"] : []),
    "profile?seconds=2",
  ];
  let scrapes = 0;
  let failures = 0;
  const scrapeOnce = async (path: string) => {
    const response = await fetch(`${base}/${path}`).catch(() => undefined);
    if (response?.status === 200) scrapes++;
    else failures++;
    await response?.arrayBuffer();
  };
  const readings: Reading[] = [];
  const heaps: { at: number; heapMiB: number }[] = [];
  const warmAt = Math.min(1, minutes / 5);
  let nextMinute = 1;
  while (Date.now() < end) {
    if (paths.length === 0) await new Promise((r) => setTimeout(r, 2000));
    for (const path of paths) await scrapeOnce(path);
    const at = (Date.now() - start) / 60_000;
    const reading = { at, ...await usage(app.pid) };
    readings.push(reading);
    if (at >= nextMinute) {
      // Once a minute, the live JavaScript heap: `gc=1` collects first
      // (without pprof nothing can, and the reading includes garbage).
      if (paths.length > 0) await scrapeOnce("heap?gc=1");
      const heapMiB = await heapUsedMiB(appPort);
      heaps.push({ at, heapMiB });
      log(
        `soak: ${at.toFixed(1)} min: RSS ${
          reading.rssMiB.toFixed(1)
        } MiB, ${reading.fds} open files, V8 heap used ${
          heapMiB.toFixed(1)
        } MiB`,
      );
      nextMinute = Math.floor(at) + 1;
    }
  }
  const loadResult = JSON.parse(
    new TextDecoder().decode((await load.output()).stdout).trim() || "{}",
  );
  app.kill("SIGTERM");
  await app.status;

  const after = readings.filter((r) => r.at >= warmAt);
  const span = after.at(-1)!.at - after[0]!.at;
  const window = Math.min(2, span / 3);
  const first = after.filter((r) => r.at <= after[0]!.at + window);
  const last = after.filter((r) => r.at >= after.at(-1)!.at - window);
  const rssFirst = median(first.map((r) => r.rssMiB));
  const rssLast = median(last.map((r) => r.rssMiB));
  const growth = rssLast / rssFirst - 1;
  const rssTrend = slope(after.map((r) => ({ x: r.at, y: r.rssMiB })));
  const heapsAfter = heaps.filter((h) => h.at >= warmAt);
  const heapTrend = slope(heapsAfter.map((h) => ({ x: h.at, y: h.heapMiB })));
  const fdsFirst = Math.max(...first.map((r) => r.fds));
  const fdsLast = Math.max(...last.map((r) => r.fds));
  const ok = growth < 0.1 && fdsLast <= fdsFirst && failures === 0;
  const round = (x: number, digits = 1) => Number(x.toFixed(digits));
  console.log(JSON.stringify({
    name: "soak",
    minutes,
    pprof: body === undefined ? null : `pprof { ${body} }`,
    scrapes,
    failures,
    requests: loadResult.ops,
    requestErrors: loadResult.errors,
    windowMinutes: round(window, 2),
    rssFirstMiB: round(rssFirst),
    rssLastMiB: round(rssLast),
    rssGrowth: round(growth, 4),
    rssMinMiB: round(Math.min(...after.map((r) => r.rssMiB))),
    rssMaxMiB: round(Math.max(...after.map((r) => r.rssMiB))),
    rssTrendMiBPerMin: round(rssTrend, 2),
    heapFirstMiB: round(heapsAfter[0]?.heapMiB ?? NaN),
    heapLastMiB: round(heapsAfter.at(-1)?.heapMiB ?? NaN),
    heapTrendMiBPerMin: round(heapTrend, 3),
    fdsFirst,
    fdsLast,
    ok,
  }));
  return ok;
}

/** The app's V8 used heap, MiB. */
async function heapUsedMiB(appPort: string): Promise<number> {
  try {
    const response = await fetch(`http://127.0.0.1:${appPort}/memory`);
    const usage = await response.json() as { heapUsed: number };
    return usage.heapUsed / MiB;
  } catch {
    return NaN;
  }
}
