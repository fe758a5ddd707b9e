/**
 * CPU cost of profiling an HTTP app, as CPU time per request of processes
 * loaded side by side (harness.ts has the method): P1 (a CPU profile held
 * open, with its A/A P1aa), P1n (the same on Node 20 with
 * `@datadog/pprof`), P2/P0 (pprof idle vs none, with an A/A twin), P5
 * (block profiling) and P11 (`--no-maglev-osr`, with its A/A P11aa).
 */

import {
  cpuPerOp,
  ratioOfRatios,
  ratioResult,
  rotation,
  type Side,
  sideBySide,
  summarize,
  type Window,
  windowRatios,
} from "../harness.ts";
import {
  checkProfile,
  type Config,
  httpLoad,
  plainSide,
  skipped,
  sleep,
  startApp,
  startNodeApp,
  type Suite,
  warmUp,
  withCapture,
} from "./common.ts";

/** `rounds` rounded up to whole turns of `n` processes. */
export const wholeTurns = (rounds: number, n: number) =>
  Math.max(n, Math.ceil(rounds / n) * n);

export const P1: Suite = {
  ids: ["P1", "P1aa"],
  title: "CPU profiling at 100 Hz, CPU-time/request on vs off (HTTP)",
  needs: ["http-load"],
  async run(c) {
    // Three identical processes with pprof take the roles off, on and off
    // (the A/A) in turn; each turn of three windows is one ratio.
    type App = Awaited<ReturnType<typeof startApp>>;
    const apps: App[] = [];
    for (let i = 0; i < 3; i++) apps.push(await startApp({ pprof: true }));
    for (const { app } of apps) await warmUp(c, (s) => httpLoad(c, app, s));
    for (const { pprof } of apps) await checkProfile(pprof!);
    const off = (a: App) => plainSide(c, a.child.pid, a.app);
    const windows = await sideBySide(
      rotation(apps, [
        off,
        (a) => withCapture(off(a), a.pprof!, c.seconds),
        off,
      ]),
      { rounds: wholeTurns(c.rounds, 3), seconds: c.seconds },
    );
    lastP1 = summarize(windowRatios(windows, 0, 1, cpuPerOp, 3));
    return [
      ratioResult(
        "P1",
        "CPU profiling 100 Hz on/off, CPU-time per request",
        lastP1,
        { limit: 1.01 },
      ),
      ratioResult(
        "P1aa",
        "A/A: off/off in P1's windows, CPU-time per request (the method's noise, info)",
        summarize(windowRatios(windows, 0, 2, cpuPerOp, 3)),
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
    const apps = [await startNodeApp(dir), await startNodeApp(dir)];
    for (const { app } of apps) await warmUp(c, (s) => httpLoad(c, app, s));
    const on = (a: (typeof apps)[number]): Side => ({
      ...plainSide(c, a.child.pid, a.app),
      async before() {
        await a.call("/start");
        await sleep(100);
      },
      async after() {
        await a.call("/stop");
        await sleep(200);
      },
    });
    const windows = await sideBySide(
      rotation(apps, [(a) => plainSide(c, a.child.pid, a.app), on]),
      { rounds: wholeTurns(c.rounds, 2), seconds: c.seconds },
    );
    const node = summarize(windowRatios(windows, 0, 1, cpuPerOp, 2));
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
          ratioOfRatios(lastP1, node),
          { limit: 1 },
        ),
      });
    }
    return out;
  },
};

/**
 * Settings fixed at a process's start: `c.sets` fresh sets of one coredeno
 * process per named setup, loaded side by side for `c.rounds` windows each.
 * Returns each setup's windows over all sets (a set's windows together).
 */
async function freshSets(
  c: Config,
  setups: [name: string, options: Parameters<typeof startApp>[0]][],
): Promise<Window[][]> {
  const all: Window[][] = setups.map(() => []);
  for (let set = 0; set < c.sets; set++) {
    c.log(
      `  set ${set + 1} of ${c.sets}: ${setups.map(([n]) => n).join(", ")}`,
    );
    const apps: Awaited<ReturnType<typeof startApp>>[] = [];
    for (const [, options] of setups) apps.push(await startApp(options));
    try {
      for (const { app } of apps) await warmUp(c, (s) => httpLoad(c, app, s));
      const windows = await sideBySide(
        () => apps.map(({ child, app }) => plainSide(c, child.pid, app)),
        { rounds: c.rounds, seconds: c.seconds },
      );
      windows.forEach((w, i) => all[i]!.push(...w));
    } finally {
      for (const { child } of apps) await child.stop();
    }
  }
  return all;
}

export const P2: Suite = {
  ids: ["P2", "P0"],
  title: "pprof configured but idle (heap sampling on) vs no pprof",
  needs: ["http-load"],
  async run(c) {
    // A second process without pprof measures the method's own noise
    // (A/A) in the same windows: P2 is read against it.
    const windows = await freshSets(c, [
      ["none", {}],
      ["pprof", { pprof: true }],
      ["twin", {}],
    ]);
    return [
      ratioResult(
        "P2",
        "pprof idle (heap sampling) vs none, CPU-time per request",
        summarize(windowRatios(windows, 0, 1, cpuPerOp)),
        { limit: 1.005 },
      ),
      ratioResult(
        "P0",
        "A/A: a second process without pprof vs none (the method's noise, info)",
        summarize(windowRatios(windows, 0, 2, cpuPerOp)),
      ),
    ];
  },
};

export const P5: Suite = {
  ids: ["P5"],
  title: "block profiling on vs off",
  needs: ["http-load"],
  async run(c) {
    const windows = await freshSets(c, [
      ["base", { pprof: true }],
      ["block", { pprof: true, pprofBody: "block" }],
    ]);
    return [
      ratioResult(
        "P5",
        "block profiling on vs off, CPU-time per request",
        summarize(windowRatios(windows, 0, 1, cpuPerOp)),
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
    // Measured for the pprof README: without Maglev's on-stack replacement
    // fewer loops run in code a profiler started later cannot see.
    // A twin with V8's defaults measures the method's own noise (A/A).
    const windows = await freshSets(c, [
      ["defaults", { pprof: true }],
      ["no-maglev-osr", { pprof: true, v8Flags: "--no-maglev-osr" }],
      ["twin", { pprof: true }],
    ]);
    return [
      ratioResult(
        "P11",
        "--no-maglev-osr vs V8 defaults, CPU-time per request (info)",
        summarize(windowRatios(windows, 0, 1, cpuPerOp)),
      ),
      ratioResult(
        "P11aa",
        "V8 defaults twin vs V8 defaults, CPU-time per request (A/A)",
        summarize(windowRatios(windows, 0, 2, cpuPerOp)),
      ),
    ];
  },
};
