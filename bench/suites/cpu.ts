/**
 * CPU cost of profiling an HTTP app, as CPU time per request in alternating
 * windows: P1 (a CPU profile held open), P1n (the same on Node 20 with
 * `@datadog/pprof`), P2/P0 (pprof idle vs none, with an A/A twin), P5 (block
 * profiling) and P11 (`--no-maglev-osr`).
 */

import {
  alternate,
  type Arm,
  cpuPerOp,
  measure,
  opsPerSecond,
  pairedRatios,
  ratioResult,
  spawn,
  summarize,
  type Window,
} from "../harness.ts";
import {
  checkProfile,
  type Config,
  FIXTURES,
  httpLoad,
  plainArm,
  profilingArm,
  skipped,
  sleep,
  startApp,
  type Suite,
  warmUp,
} from "./common.ts";

export const P1: Suite = {
  ids: ["P1"],
  title: "CPU profiling at 100 Hz, CPU-time/request on vs off (HTTP)",
  needs: ["http-load"],
  async run(c) {
    const { child, app, pprof } = await startApp({ pprof: true });
    await warmUp(c, (s) => httpLoad(c, app, s));
    await checkProfile(pprof!);
    const windows = await alternate([
      plainArm(c, "off", child.pid, app),
      profilingArm("on", child.pid, pprof!, (s) => httpLoad(c, app, s)),
    ], { rounds: c.rounds, seconds: c.seconds });
    lastP1 = summarize(pairedRatios(windows, 0, 1, cpuPerOp));
    return [
      ratioResult(
        "P1",
        "CPU profiling 100 Hz on/off, CPU-time per request",
        lastP1,
        {
          limit: 1.01,
        },
      ),
      ratioResult(
        "P1t",
        "CPU profiling 100 Hz on/off, requests/s (info)",
        summarize(pairedRatios(windows, 0, 1, opsPerSecond)),
      ),
    ];
  },
};
/** P1's summary, for P1n's "coredeno ≤ Node" check. */
let lastP1: ReturnType<typeof summarize> | undefined;

export const P1n: Suite = {
  ids: ["P1n"],
  title: "Node 20 + @datadog/pprof time profiler at 100 Hz, on vs off (HTTP)",
  needs: ["http-load", "node"],
  async run(c) {
    const dir = c.tools.datadogDir;
    if (!dir) {
      return skipped(
        ["P1n"],
        this.title,
        `skipped: ${c.tools.missing.get("node")}`,
      );
    }
    const child = spawn("node", [`${FIXTURES}/node_app.mjs`, "0", "0", dir]);
    await child.waitFor("ready");
    let ready: RegExpExecArray | null;
    while ((ready = /^ready (\d+) (\d+)$/m.exec(child.output())) === null) {
      await sleep(5); // the rest of the line
    }
    const [, appPort, controlPort] = ready;
    const app = `http://127.0.0.1:${appPort}/`;
    const control = `http://127.0.0.1:${controlPort}`;
    const call = async (path: string) => {
      const r = await fetch(`${control}${path}`);
      const text = await r.text();
      if (!r.ok) throw new Error(`node control ${path}: ${r.status} ${text}`);
    };
    await warmUp(c, (s) => httpLoad(c, app, s));
    const on: Arm = {
      name: "on",
      async window(s) {
        await call("/start");
        await sleep(100);
        const w = await measure(child.pid, () => httpLoad(c, app, s));
        await call("/stop");
        await sleep(200);
        return w;
      },
    };
    const windows = await alternate([plainArm(c, "off", child.pid, app), on], {
      rounds: c.rounds,
      seconds: c.seconds,
    });
    const node = summarize(pairedRatios(windows, 0, 1, cpuPerOp));
    const out = [
      ratioResult(
        "P1n",
        "Node @datadog/pprof 100 Hz on/off, CPU-time per request",
        node,
      ),
    ];
    if (lastP1) {
      // coredeno ≤ Node: compare the medians of the two on/off ratios.
      out.push({
        ...ratioResult(
          "P1n/P1",
          "coredeno on/off ratio over Node's (≤ 1: coredeno costs no more)",
          {
            median: lastP1.median / node.median,
            min: lastP1.min / node.max,
            max: lastP1.max / node.min,
            n: Math.min(lastP1.n, node.n),
          },
          { limit: 1 },
        ),
      });
    }
    return out;
  },
};

/** One coredeno process per named setup; load alternates between them. */
async function alternateApps(
  c: Config,
  setups: [name: string, options: Parameters<typeof startApp>[0]][],
): Promise<Window[][]> {
  const apps = [];
  for (const [, options] of setups) apps.push(await startApp(options));
  for (const { app } of apps) await warmUp(c, (s) => httpLoad(c, app, s));
  return await alternate(
    apps.map(({ child, app }, i) => plainArm(c, setups[i]![0], child.pid, app)),
    { rounds: c.rounds, seconds: c.seconds },
  );
}

export const P2: Suite = {
  ids: ["P2", "P0"],
  title: "pprof configured but idle (heap sampling on) vs no pprof",
  needs: ["http-load"],
  async run(c) {
    // A second process without pprof measures the method's own noise
    // (A/A) in the same windows: P2 is read against it.
    const windows = await alternateApps(c, [
      ["none", {}],
      ["pprof", { pprof: true }],
      ["twin", {}],
    ]);
    return [
      ratioResult(
        "P2",
        "pprof idle (heap sampling) vs none, CPU-time per request",
        summarize(pairedRatios(windows, 0, 1, cpuPerOp)),
        { limit: 1.005 },
      ),
      ratioResult(
        "P0",
        "A/A: a second process without pprof vs none (the method's noise, info)",
        summarize(pairedRatios(windows, 0, 2, cpuPerOp)),
      ),
    ];
  },
};

export const P5: Suite = {
  ids: ["P5"],
  title: "block profiling on vs off",
  needs: ["http-load"],
  async run(c) {
    const windows = await alternateApps(c, [
      ["base", { pprof: true }],
      ["block", { pprof: true, pprofBody: "block" }],
    ]);
    return [
      ratioResult(
        "P5",
        "block profiling on vs off, CPU-time per request",
        summarize(pairedRatios(windows, 0, 1, cpuPerOp)),
        { limit: 1.03 },
      ),
    ];
  },
};

export const P11: Suite = {
  ids: ["P11", "P11aa"],
  title: "V8 started with --no-maglev-osr vs defaults (CPU per request)",
  needs: ["http-load"],
  async run(c) {
    // A start-time alternative to the captures' re-optimization, measured
    // for the pprof README: without Maglev's on-stack replacement fewer
    // loops run in code a later profiler cannot see (TurboFan's still do;
    // lib/profile/inspector.ts discardOptimizedCode).
    // A twin with V8's defaults measures the method's own noise (A/A).
    const windows = await alternateApps(c, [
      ["defaults", { pprof: true }],
      ["no-maglev-osr", { pprof: true, v8Flags: "--no-maglev-osr" }],
      ["twin", { pprof: true }],
    ]);
    return [
      ratioResult(
        "P11",
        "--no-maglev-osr vs V8 defaults, CPU-time per request (info)",
        summarize(pairedRatios(windows, 0, 1, cpuPerOp)),
      ),
      ratioResult(
        "P11aa",
        "V8 defaults twin vs V8 defaults, CPU-time per request (A/A)",
        summarize(pairedRatios(windows, 0, 2, cpuPerOp)),
      ),
    ];
  },
};
