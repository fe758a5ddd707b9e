/**
 * P3: profile build time (stop → gzipped bytes), coredeno vs Node; P8: the
 * longest event-loop pause that stop and build cause, vs Node; P3c: a
 * process's first profile against its later ones, on a running server.
 */

import {
  ratioResult,
  type Result,
  run,
  summarize,
  valueResult,
} from "../harness.ts";
import {
  CONFIG,
  type Config,
  FIXTURES,
  sleep,
  startApp,
  type Suite,
} from "./common.ts";

export const P3: Suite = {
  ids: ["P3", "P8", "P3C"],
  title:
    "profile build time and pause (stop → gzipped bytes), deep stacks, vs Node; first profile of a process",
  needs: ["node"],
  async run(c) {
    const seconds = c.quick ? 3 : 30;
    // One capture is one number; three in a row, paired by round (both
    // sides run at once, one core each), give a median.
    const rounds = c.quick ? 1 : 3;
    const out: Result[] = [];
    for (const hz of [100, 1000]) {
      c.log(
        `P3: ${rounds} × ${seconds} s at ${hz} Hz on coredeno${
          c.tools.datadogDir ? " and Node" : ""
        }…`,
      );
      const timeoutMs = rounds * (seconds * 1000 + 20_000) + 60_000;
      const deno = run(Deno.execPath(), [
        "run",
        "--config",
        CONFIG,
        "--allow-read",
        "--allow-env",
        "--allow-sys",
        `${FIXTURES}/build_deno.ts`,
        String(seconds),
        String(hz),
        String(rounds),
      ], { timeoutMs });
      const node = c.tools.datadogDir
        ? run("node", [
          `${FIXTURES}/build_node.mjs`,
          String(seconds),
          String(hz),
          c.tools.datadogDir,
          String(rounds),
        ], { timeoutMs })
        : undefined;
      const d = builds(await deno);
      const n = node ? builds(await node) : undefined;
      const label = `${seconds} s @ ${hz} Hz`;
      const target = hz === 100 && !c.quick;
      const med = (b: Build[], key: keyof Build) =>
        summarize(b.map((x) => x[key] ?? NaN)).median.toFixed(0);
      out.push(valueResult(
        "P3",
        `build ${label}, coredeno (${med(d, "samples")} samples, ${
          med(d, "nodes")
        } nodes; stop ${med(d, "stopMs")} + convert ${
          med(d, "convertMs")
        } + encode ${med(d, "encodeMs")} ms)`,
        summarize(d.map((b) => b.totalMs)),
        "ms",
        target ? 20 : undefined,
      ));
      if (n) {
        out.push(valueResult(
          "P3n",
          `build ${label}, Node @datadog/pprof (${
            med(n, "samples")
          } samples; stop ${med(n, "stopMs")} + encode ${
            med(n, "encodeMs")
          } ms)`,
          summarize(n.map((b) => b.totalMs)),
          "ms",
        ));
        out.push(ratioResult(
          "P3/n",
          `build ${label}: coredeno / Node`,
          paired(d, n, "totalMs"),
          { limit: 1 },
        ));
        out.push(ratioResult(
          "P8",
          `longest event-loop pause in stop + build, ${label}: coredeno ${
            med(d, "pauseMs")
          } ms / Node ${med(n, "pauseMs")} ms`,
          paired(d, n, "pauseMs"),
          hz === 100 ? { limit: 1 } : undefined,
        ));
      }
    }
    out.push(...await firstProfile(c));
    return out;
  },
};

/**
 * P3c: what a scraper taking one profile from each new process sees. A
 * fresh server (the bench app with `pprof`, a light request load on it)
 * is asked for four `profile?seconds=1` in a row, 2 s after it is ready
 * (Parca's and Prometheus's first scrape comes a scrape interval after a
 * target appears); the time beyond the 1 s asked for, first against the
 * median of the later three, in five fresh processes.
 */
async function firstProfile(c: Config): Promise<Result[]> {
  const runs: { first: number; later: number }[] = [];
  for (let i = 0; i < (c.quick ? 2 : 5); i++) {
    c.log(`P3c: first profiles of a fresh server, ${i + 1}…`);
    const { child, app, pprof } = await startApp({ pprof: true });
    let loading = true;
    const load = (async () => {
      while (loading) {
        await fetch(app).then((r) => r.arrayBuffer(), () => {});
        await sleep(2);
      }
    })();
    try {
      await sleep(2000);
      const extra: number[] = [];
      for (let j = 0; j < 4; j++) {
        const t0 = performance.now();
        const r = await fetch(`${pprof}/debug/pprof/profile?seconds=1`);
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`profile: HTTP ${r.status}`);
        extra.push(performance.now() - t0 - 1000);
      }
      runs.push({ first: extra[0]!, later: summarize(extra.slice(1)).median });
    } finally {
      loading = false;
      await load;
      await child.stop();
    }
  }
  return [
    valueResult(
      "P3c",
      "first profile?seconds=1 of a fresh server, time beyond the 1 s (info)",
      summarize(runs.map((r) => r.first)),
      "ms",
    ),
    valueResult(
      "P3w",
      "later profiles of the same server, median of 3 (info)",
      summarize(runs.map((r) => r.later)),
      "ms",
    ),
    ratioResult(
      "P3c/w",
      "first profile / later ones, per process",
      summarize(runs.map((r) => r.first / r.later)),
      { limit: 1.2 },
    ),
  ];
}

interface Build {
  samples: number;
  nodes?: number;
  stopMs: number;
  convertMs?: number;
  encodeMs: number;
  totalMs: number;
  pauseMs: number;
}

/** The fixture's JSON lines, one per round. */
function builds(text: string): Build[] {
  return text.trim().split("\n").map((line) => JSON.parse(line) as Build);
}

/** Round-by-round ratios of `key`, coredeno over Node. */
function paired(d: Build[], n: Build[], key: "totalMs" | "pauseMs") {
  return summarize(d.map((b, i) => b[key] / n[i]![key]));
}
