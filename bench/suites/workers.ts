/**
 * Workers with pprof attached: P13, a Worker's start (`new Worker` → its
 * first reply) and a pool that runs every task in a fresh worker, under
 * `coredeno run` (the watcher) against a plain `deno run`, with an A/A twin
 * and the in-process surface (`servePprof()` in the program) as
 * information; P1w, CPU per operation of a program whose work runs in four
 * busy Workers, under `coredeno run` with a CPU capture held open (and
 * idle) against the plain program.
 */

import {
  alternate,
  type Arm,
  cpuPerOp,
  opsPerSecond,
  pairedRatios,
  ratioResult,
  type Result,
  type Side,
  sideBySide,
  summarize,
  valueResult,
  type Window,
  windowRatios,
} from "../harness.ts";
import {
  type Config,
  type How,
  type Program,
  startProgram,
  type Suite,
  withCapture,
} from "./common.ts";

/** Starts one program per setup, in order; stops them all if one fails. */
async function startAll(
  script: string,
  hows: How[],
  args: string[] = [],
): Promise<Program[]> {
  const programs: Program[] = [];
  try {
    for (const how of hows) {
      programs.push(await startProgram(script, how, args));
    }
  } catch (error) {
    for (const p of programs) await p.child.stop();
    throw error;
  }
  return programs;
}

async function json<T>(url: string): Promise<T> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status} ${await r.text()}`);
  return await r.json() as T;
}

export const P13: Suite = {
  ids: ["P13", "P13aa", "P13i", "P13ms", "P13p", "P13paa", "P13pi"],
  title:
    "Workers with pprof attached and idle: new Worker → first reply, and a pool of fresh workers (coredeno run vs deno run)",
  needs: [],
  async run(c) {
    // plain, watched (coredeno run), twin (A/A), inproc (servePprof()).
    const programs = await startAll("spawn.ts", [
      "plain",
      "watched",
      "plain",
      "inproc",
    ]);
    try {
      return [
        ...await firstReply(c, programs),
        ...await pool(c, programs),
      ];
    } finally {
      for (const p of programs) await p.child.stop();
    }
  },
};

/**
 * `new Worker` → first reply, one worker at a time, the programs taking
 * turns (in an order that rotates) so each trial's ratio compares moments
 * of the same machine (a trial: the median of three workers); the median
 * of the trials' ratios.
 */
async function firstReply(c: Config, programs: Program[]): Promise<Result[]> {
  for (const p of programs) await json(`${p.url}/first?n=${c.quick ? 1 : 3}`);
  const trials = c.quick ? 4 : 20;
  const ms: number[][] = programs.map(() => []);
  for (let t = 0; t < trials; t++) {
    for (let k = 0; k < programs.length; k++) {
      const i = (k + t) % programs.length;
      // Three workers a trial (their median), one where each takes a second.
      const n = i === 3 ? 1 : 3;
      const times = await json<number[]>(`${programs[i]!.url}/first?n=${n}`);
      ms[i]!.push(summarize(times).median);
    }
  }
  const ratio = (i: number) => summarize(ms[i]!.map((x, t) => x / ms[0]![t]!));
  const med = (i: number) => summarize(ms[i]!).median.toFixed(1);
  return [
    ratioResult(
      "P13",
      "new Worker → first reply, coredeno run (watcher) / deno run",
      ratio(1),
      { limit: 1.5 },
    ),
    ratioResult(
      "P13aa",
      "A/A: new Worker → first reply, a second deno run / deno run (info)",
      ratio(2),
    ),
    ratioResult(
      "P13i",
      "new Worker → first reply, servePprof() in-process / deno run (info: Deno holds each Worker while a session is connected)",
      ratio(3),
    ),
    valueResult(
      "P13ms",
      `new Worker → first reply, coredeno run (deno run ${
        med(0)
      } ms, in-process ${med(3)} ms; info)`,
      summarize(ms[1]!),
      "ms",
    ),
  ];
}

/**
 * Tasks per second of a two-slot pool that runs each task in a fresh
 * worker: windows one program after the other, each compared with the
 * mean of the plain program's windows around it.
 */
async function pool(c: Config, programs: Program[]): Promise<Result[]> {
  const arm = (p: Program): Arm => ({
    name: String(p.pid),
    async window(seconds): Promise<Window> {
      const t0 = performance.now();
      const ops = await json<number>(`${p.url}/pool?seconds=${seconds}&size=2`);
      return { ops, cpu: NaN, seconds: (performance.now() - t0) / 1000 };
    },
  });
  if (!c.quick) {
    for (const p of programs) await arm(p).window(1);
  }
  const windows = await alternate(programs.map(arm), {
    rounds: c.rounds,
    seconds: c.seconds,
  });
  const ratio = (i: number) =>
    summarize(pairedRatios(windows, 0, i, opsPerSecond));
  const perSecond = (i: number) =>
    summarize(windows[i]!.map(opsPerSecond)).median.toFixed(0);
  return [
    ratioResult(
      "P13p",
      `pool of fresh workers, tasks/s, coredeno run / deno run (${
        perSecond(1)
      } / ${perSecond(0)} tasks/s)`,
      ratio(1),
      { limit: 0.95, atLeast: true },
    ),
    ratioResult(
      "P13paa",
      "A/A: pool tasks/s, a second deno run / deno run (info)",
      ratio(2),
    ),
    ratioResult(
      "P13pi",
      `pool tasks/s, servePprof() in-process / deno run (${
        perSecond(3)
      } tasks/s; info)`,
      ratio(3),
    ),
  ];
}

export const P1w: Suite = {
  ids: ["P1w", "P1wi", "P1waa"],
  title:
    "four busy Workers: CPU per operation under coredeno run with a CPU capture held open (and idle) vs deno run",
  needs: [],
  async run(c) {
    const rounds = Math.max(2, Math.ceil(c.rounds / 2) * 2);
    const capturing: number[] = [];
    const idle: number[] = [];
    const aa: number[] = [];
    for (let set = 0; set < c.sets; set++) {
      c.log(`  set ${set + 1} of ${c.sets}: deno run, coredeno run, deno run`);
      const programs = await startAll("busy_workers.ts", [
        "plain",
        "watched",
        "plain",
      ]);
      const [plain, watched, twin] = programs as [Program, Program, Program];
      try {
        const side = (p: Program): Side => ({
          pid: p.pid,
          load: (s) => json<number>(`${p.url}/run?seconds=${s}`),
        });
        if (!c.quick) await Promise.all(programs.map((p) => side(p).load(1)));
        // The watched program holds a capture in every other window.
        const windows = await sideBySide((round) => [
          side(plain),
          round % 2
            ? withCapture(side(watched), watched.pprof!, c.seconds)
            : side(watched),
          side(twin),
        ], { rounds, seconds: c.seconds });
        windowRatios(windows, 0, 1, cpuPerOp).forEach((r, round) =>
          (round % 2 ? capturing : idle).push(r)
        );
        aa.push(...windowRatios(windows, 0, 2, cpuPerOp));
      } finally {
        for (const p of programs) await p.child.stop();
      }
    }
    return [
      ratioResult(
        "P1w",
        "4 busy Workers, coredeno run with a CPU capture held open / deno run, CPU-time per operation",
        summarize(capturing),
        { limit: 1.03 },
      ),
      ratioResult(
        "P1wi",
        "4 busy Workers, coredeno run idle / deno run, CPU-time per operation (info)",
        summarize(idle),
      ),
      ratioResult(
        "P1waa",
        "A/A: 4 busy Workers, a second deno run / deno run, CPU-time per operation (info)",
        summarize(aa),
      ),
    ];
  },
};
