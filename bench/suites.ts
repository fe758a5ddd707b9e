/**
 * The bench's metrics (P1–P7 and the DNS ratios), each a suite that starts
 * its own processes on free 127.0.0.1 ports and stops them when done.
 */

import {
  alternate,
  type Arm,
  type Child,
  cpuPerOp,
  freeDnsPort,
  freePort,
  measure,
  opsPerSecond,
  pairedRatios,
  ratioResult,
  type Result,
  rssBytes,
  run,
  spawn,
  summarize,
  valueResult,
  type Window,
} from "./harness.ts";
import { type Need, REPO, type Tools } from "./setup.ts";

export interface Config {
  quick: boolean;
  rounds: number;
  seconds: number;
  tools: Tools;
  log(text: string): void;
}

export interface Suite {
  ids: string[];
  title: string;
  needs: Need[];
  run(c: Config): Promise<Result[]>;
}

const CONFIG = `${REPO}deno.json`;
const MAIN = `${REPO}main.ts`;
const FIXTURES = `${REPO}bench/fixtures`;
/** What `deno task start` grants coredeno. */
const START_PERMISSIONS = [
  "--allow-net",
  "--allow-read",
  "--allow-env",
  "--allow-sys",
];
const HTTP_CONNECTIONS = 16;

/** A first second of load (JIT, connections), skipped by --quick. */
async function warmUp(c: Config, load: (seconds: number) => Promise<number>) {
  if (!c.quick) await load(1);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function skipped(ids: string[], name: string, note: string): Result[] {
  return ids.map((id) => ({ id, name, unit: "", note }));
}

// ---------------------------------------------------------------- processes

/** The coredeno HTTP workload (bench/fixtures/app.ts). */
async function startApp(options: {
  pprof?: boolean;
  pprofBody?: string;
  retainMb?: number;
  v8Flags?: string;
}): Promise<{ child: Child; app: string; pprof?: string }> {
  const appPort = freePort();
  const pprofPort = options.pprof ? freePort() : undefined;
  const child = spawn(Deno.execPath(), [
    "run",
    "--config",
    CONFIG,
    ...START_PERMISSIONS,
    ...(options.v8Flags ? [`--v8-flags=${options.v8Flags}`] : []),
    `${FIXTURES}/app.ts`,
    "--app-port",
    String(appPort),
    ...(pprofPort ? ["--pprof-port", String(pprofPort)] : []),
    ...(options.pprofBody ? ["--pprof-body", options.pprofBody] : []),
    ...(options.retainMb ? ["--retain-mb", String(options.retainMb)] : []),
  ], { env: { NO_COLOR: "1" } });
  await child.waitFor("ready", 120_000);
  return {
    child,
    app: `http://127.0.0.1:${appPort}/`,
    ...(pprofPort ? { pprof: `http://127.0.0.1:${pprofPort}` } : {}),
  };
}

/** Completed requests against `url` in `seconds`, from a separate process. */
async function httpLoad(
  c: Config,
  url: string,
  seconds: number,
): Promise<number> {
  if (c.tools.loader === "wrk") {
    const out = await run("wrk", [
      "-t1",
      `-c${HTTP_CONNECTIONS}`,
      `-d${Math.max(1, Math.round(seconds))}s`,
      url,
    ], { timeoutMs: seconds * 1000 + 30_000 });
    const ops = /(\d+) requests in/.exec(out)?.[1];
    if (ops === undefined) throw new Error(`unexpected wrk output:\n${out}`);
    const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1];
    return Number(ops) - Number(errors ?? 0);
  }
  const out = await run(Deno.execPath(), [
    "run",
    "--allow-net=127.0.0.1",
    `${FIXTURES}/load.ts`,
    url,
    String(seconds),
    "8",
  ], { timeoutMs: seconds * 1000 + 30_000 });
  return (JSON.parse(out) as { ops: number }).ops;
}

/** An "off" window: load only. */
function plainArm(c: Config, name: string, pid: number, url: string): Arm {
  return {
    name,
    window: (s) => measure(pid, () => httpLoad(c, url, s)),
  };
}

/**
 * An "on" window for coredeno: a CPU profile request held open around the
 * load (the client leaves when the window ends, which stops the profile).
 * The profiler's start and its final build are outside the window: P3
 * measures the build.
 */
function profilingArm(
  name: string,
  pid: number,
  pprof: string,
  load: (seconds: number) => Promise<number>,
): Arm {
  return {
    name,
    async window(s) {
      const abort = new AbortController();
      const seconds = Math.ceil(s) + 5;
      const profile = fetch(`${pprof}/debug/pprof/profile?seconds=${seconds}`, {
        signal: abort.signal,
      }).then((r) => r.arrayBuffer()).catch(() => {});
      await sleep(100);
      const w = await measure(pid, () => load(s));
      abort.abort();
      await profile;
      await sleep(200); // the server builds the profile it was asked for
      return w;
    },
  };
}

/** Checks that a CPU profile can be taken (a 1 s one), so "on" is really on. */
async function checkProfile(pprof: string): Promise<void> {
  const r = await fetch(`${pprof}/debug/pprof/profile?seconds=1`);
  const bytes = new Uint8Array(await r.arrayBuffer());
  if (r.status !== 200 || bytes[0] !== 0x1f) {
    throw new Error(`profile endpoint answered ${r.status}`);
  }
}

// ---------------------------------------------------------------- suites

const P1: Suite = {
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

const P1n: Suite = {
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
    const appPort = freePort();
    const controlPort = freePort();
    const child = spawn("node", [
      `${FIXTURES}/node_app.mjs`,
      String(appPort),
      String(controlPort),
      dir,
    ]);
    await child.waitFor("ready");
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

/** Two coredeno processes; load alternates between them. */
async function twoProcesses(
  c: Config,
  base: Parameters<typeof startApp>[0],
  other: Parameters<typeof startApp>[0],
): Promise<Window[][]> {
  const a = await startApp(base);
  const b = await startApp(other);
  await warmUp(c, (s) => httpLoad(c, a.app, s));
  await warmUp(c, (s) => httpLoad(c, b.app, s));
  return await alternate([
    plainArm(c, "base", a.child.pid, a.app),
    plainArm(c, "other", b.child.pid, b.app),
  ], { rounds: c.rounds, seconds: c.seconds });
}

const P2: Suite = {
  ids: ["P2", "P0"],
  title: "pprof configured but idle (heap sampling on) vs no pprof",
  needs: ["http-load"],
  async run(c) {
    // A second process without pprof measures the method's own noise
    // (A/A) in the same windows: P2 is read against it.
    const none = await startApp({});
    const pprof = await startApp({ pprof: true });
    const twin = await startApp({});
    for (const p of [none, pprof, twin]) {
      await warmUp(c, (s) => httpLoad(c, p.app, s));
    }
    const windows = await alternate([
      plainArm(c, "none", none.child.pid, none.app),
      plainArm(c, "pprof", pprof.child.pid, pprof.app),
      plainArm(c, "twin", twin.child.pid, twin.app),
    ], { rounds: c.rounds, seconds: c.seconds });
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

const P5: Suite = {
  ids: ["P5"],
  title: "block profiling on vs off",
  needs: ["http-load"],
  async run(c) {
    const windows = await twoProcesses(c, { pprof: true }, {
      pprof: true,
      pprofBody: "block",
    });
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

const P8: Suite = {
  ids: ["P8", "P8aa"],
  title: "V8 started with --no-maglev-osr vs defaults (CPU per request)",
  needs: ["http-load"],
  async run(c) {
    // A start-time alternative to the captures' re-optimization, measured
    // for the pprof README: without Maglev's on-stack replacement fewer
    // loops run in code a later profiler cannot see (TurboFan's still do;
    // lib/profile/inspector.ts discardOptimizedCode).
    // A twin with V8's defaults measures the method's own noise (A/A).
    const base = await startApp({ pprof: true });
    const flagged = await startApp({ pprof: true, v8Flags: "--no-maglev-osr" });
    const twin = await startApp({ pprof: true });
    for (const p of [base, flagged, twin]) {
      await warmUp(c, (s) => httpLoad(c, p.app, s));
    }
    const windows = await alternate([
      plainArm(c, "defaults", base.child.pid, base.app),
      plainArm(c, "no-maglev-osr", flagged.child.pid, flagged.app),
      plainArm(c, "twin", twin.child.pid, twin.app),
    ], { rounds: c.rounds, seconds: c.seconds });
    return [
      ratioResult(
        "P8",
        "--no-maglev-osr vs V8 defaults, CPU-time per request (info)",
        summarize(pairedRatios(windows, 0, 1, cpuPerOp)),
      ),
      ratioResult(
        "P8aa",
        "V8 defaults twin vs V8 defaults, CPU-time per request (A/A)",
        summarize(pairedRatios(windows, 0, 2, cpuPerOp)),
      ),
    ];
  },
};

const P3: Suite = {
  ids: ["P3"],
  title: "profile build time (stop → gzipped bytes), deep stacks, vs Node",
  needs: ["node"],
  async run(c) {
    const seconds = c.quick ? 3 : 30;
    const out: Result[] = [];
    for (const hz of [100, 1000]) {
      c.log(
        `P3: ${seconds} s at ${hz} Hz on coredeno${
          c.tools.datadogDir ? " and Node" : ""
        }…`,
      );
      // Both run at once (one core each), so the suite takes `seconds`.
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
      ], { timeoutMs: seconds * 1000 + 60_000 });
      const node = c.tools.datadogDir
        ? run("node", [
          `${FIXTURES}/build_node.mjs`,
          String(seconds),
          String(hz),
          c.tools.datadogDir,
        ], { timeoutMs: seconds * 1000 + 60_000 })
        : undefined;
      const d = JSON.parse(await deno) as Build;
      const n = node ? JSON.parse(await node) as Build : undefined;
      const label = `${seconds} s @ ${hz} Hz`;
      out.push({
        ...valueResult(
          "P3",
          `build ${label}, coredeno (${d.samples} samples, ${d.nodes} nodes; stop ${
            d.stopMs.toFixed(0)
          } + convert ${d.convertMs!.toFixed(0)} + gzip ${
            d.encodeMs.toFixed(0)
          } ms)`,
          one(d.totalMs),
          "ms",
          hz === 100 && !c.quick ? 20 : undefined,
        ),
      });
      out.push(valueResult(
        "P3c",
        `first profile in a process (cold: source maps, JIT), ${hz} Hz, coredeno (info)`,
        one(d.coldMs),
        "ms",
      ));
      if (n) {
        out.push(valueResult(
          "P3n",
          `build ${label}, Node @datadog/pprof (${n.samples} samples; stop ${
            n.stopMs.toFixed(0)
          } + encode ${n.encodeMs.toFixed(0)} ms)`,
          one(n.totalMs),
          "ms",
        ));
        out.push(ratioResult(
          "P3/n",
          `build ${label}: coredeno / Node`,
          one(d.totalMs / n.totalMs),
          { limit: 1.5 },
        ));
      }
    }
    return out;
  },
};

interface Build {
  samples: number;
  nodes?: number;
  stopMs: number;
  convertMs?: number;
  encodeMs: number;
  totalMs: number;
  coldMs: number;
}

const one = (x: number) => summarize([x]);

const P4: Suite = {
  ids: ["P4"],
  title: "heap response time with a 1 GiB live heap",
  needs: [],
  async run(c) {
    const { child, pprof } = await startApp({
      pprof: true,
      retainMb: 1024,
      v8Flags: "--max-old-space-size=4096",
    });
    const heapUsed = rssBytes(child.pid);
    const time = async (path: string) => {
      const t0 = performance.now();
      const r = await fetch(`${pprof}${path}`);
      const bytes = await r.arrayBuffer();
      if (r.status !== 200 || bytes.byteLength === 0) {
        throw new Error(`${path}: ${r.status}`);
      }
      return performance.now() - t0;
    };
    await time("/debug/pprof/heap"); // first call: source maps, JIT
    const reps = c.quick ? 3 : 7;
    const plain: number[] = [];
    const gc: number[] = [];
    for (let i = 0; i < reps; i++) {
      plain.push(await time("/debug/pprof/heap"));
      await sleep(100);
    }
    for (let i = 0; i < (c.quick ? 1 : 3); i++) {
      gc.push(await time("/debug/pprof/heap?gc=1"));
    }
    return [
      valueResult(
        "P4",
        `heap response, ${
          (heapUsed / 2 ** 30).toFixed(2)
        } GiB RSS (1 GiB live JS heap)`,
        summarize(plain),
        "ms",
        100,
      ),
      valueResult(
        "P4gc",
        "heap?gc=1 response, same heap (info)",
        summarize(gc),
        "ms",
      ),
    ];
  },
};

/** A coredeno process as users run it (`main.ts -conf`), DNS + pprof. */
function startCoredeno(dnsPort: number, pprofPort: number): Child {
  const dir = Deno.makeTempDirSync({ prefix: "coredeno-bench-" });
  Deno.writeTextFileSync(
    `${dir}/Corefile`,
    `.:${dnsPort} {\n    whoami\n    pprof 127.0.0.1:${pprofPort}\n}\n`,
  );
  const child = spawn(Deno.execPath(), [
    "run",
    "--config",
    CONFIG,
    ...START_PERMISSIONS,
    MAIN,
    "-conf",
    `${dir}/Corefile`,
  ], { cwd: dir, env: { NO_COLOR: "1" } });
  const stop = child.stop;
  child.stop = async () => {
    await stop();
    await Deno.remove(dir, { recursive: true });
  };
  return child;
}

const P7: Suite = {
  ids: ["P7"],
  title: "start → first 200 from /debug/pprof/, idle RSS",
  needs: [],
  async run(c) {
    const once = async () => {
      const pprofPort = freePort();
      const t0 = performance.now();
      const child = startCoredeno(await freeDnsPort(), pprofPort);
      const deadline = t0 + 30_000;
      let ms = NaN;
      while (performance.now() < deadline) {
        try {
          const r = await fetch(`http://127.0.0.1:${pprofPort}/debug/pprof/`);
          await r.arrayBuffer();
          if (r.status === 200) {
            ms = performance.now() - t0;
            break;
          }
        } catch { /* not listening yet */ }
        await sleep(2);
      }
      if (!Number.isFinite(ms)) {
        throw new Error(
          `coredeno did not serve /debug/pprof/:\n${child.output()}`,
        );
      }
      await sleep(1500);
      const rss = rssBytes(child.pid) / 2 ** 20;
      await child.stop();
      return { ms, rss };
    };
    await once(); // warm Deno's caches, as any second start has them
    const runs = [];
    for (let i = 0; i < (c.quick ? 2 : 5); i++) runs.push(await once());
    return [
      valueResult(
        "P7",
        "start → first 200 from /debug/pprof/",
        summarize(runs.map((r) => r.ms)),
        "ms",
        300,
      ),
      valueResult(
        "P7rss",
        "idle RSS",
        summarize(runs.map((r) => r.rss)),
        "MiB",
        70,
      ),
    ];
  },
};

/** dnsperf against 127.0.0.1:port for `seconds`; completed queries. */
async function dnsLoad(
  port: number,
  queries: string,
  seconds: number,
): Promise<number> {
  const out = await run("dnsperf", [
    "-s",
    "127.0.0.1",
    "-p",
    String(port),
    "-d",
    queries,
    "-l",
    String(seconds),
    "-c",
    "1",
    "-q",
    "64",
  ], { timeoutMs: seconds * 1000 + 30_000 });
  const done = /Queries completed:\s+(\d+)/.exec(out)?.[1];
  if (done === undefined) throw new Error(`unexpected dnsperf output:\n${out}`);
  return Number(done);
}

const P6: Suite = {
  ids: ["P6", "P6p", "P6e", "DNSp"],
  title:
    "DNS whoami queries/s: coredeno vs Go miekg/dns; CPU profile on vs idle",
  needs: ["dnsperf", "go"],
  async run(c) {
    if (!c.tools.dnsperf) {
      return skipped(
        this.ids,
        this.title,
        `skipped: ${c.tools.missing.get("dnsperf")}`,
      );
    }
    if (!c.tools.goWhoami) {
      return skipped(
        this.ids,
        this.title,
        `skipped: ${c.tools.missing.get("go")}`,
      );
    }
    const dir = Deno.makeTempDirSync({ prefix: "coredeno-bench-dns-" });
    const queries = `${dir}/queries`;
    Deno.writeTextFileSync(
      queries,
      Array.from({ length: 100 }, (_, i) => `host${i}.example.org A\n`).join(
        "",
      ),
    );
    try {
      const goPort = await freeDnsPort();
      const go = spawn(c.tools.goWhoami, ["-addr", `127.0.0.1:${goPort}`]);
      await go.waitFor("ready");
      const dnsPort = await freeDnsPort();
      const pprofPort = freePort();
      const cd = startCoredeno(dnsPort, pprofPort);
      await cd.waitFor("coredeno-");
      const echoPort = await freeDnsPort();
      const echo = spawn(Deno.execPath(), [
        "run",
        "--allow-net",
        "--unstable-net",
        `${FIXTURES}/udp_echo.ts`,
        String(echoPort),
      ]);
      await echo.waitFor("ready");
      const pprof = `http://127.0.0.1:${pprofPort}`;
      await warmUp(c, (s) => dnsLoad(goPort, queries, s));
      await warmUp(c, (s) => dnsLoad(dnsPort, queries, s));
      await checkProfile(pprof);
      const seconds = Math.max(1, Math.round(c.seconds * 2 / 3));
      const windows = await alternate([
        {
          name: "go",
          window: (s) => measure(go.pid, () => dnsLoad(goPort, queries, s)),
        },
        {
          name: "coredeno",
          window: (s) => measure(cd.pid, () => dnsLoad(dnsPort, queries, s)),
        },
        profilingArm(
          "coredeno+cpu",
          cd.pid,
          pprof,
          (s) => dnsLoad(dnsPort, queries, s),
        ),
        {
          name: "echo",
          window: (s) => measure(echo.pid, () => dnsLoad(echoPort, queries, s)),
        },
      ], { rounds: c.rounds, seconds });
      const qps = (a: number, b: number) =>
        summarize(pairedRatios(windows, a, b, opsPerSecond));
      const cpu = (a: number, b: number) =>
        summarize(pairedRatios(windows, a, b, cpuPerOp));
      const qpsOf = (i: number) => summarize(windows[i]!.map(opsPerSecond));
      return [
        ratioResult(
          "P6",
          "DNS whoami queries/s, coredeno (pprof idle) / Go miekg/dns",
          qps(0, 1),
          {
            limit: 0.6,
            atLeast: true,
          },
        ),
        ratioResult(
          "P6p",
          "DNS whoami queries/s, coredeno (CPU profile running) / Go (info)",
          qps(0, 2),
        ),
        ratioResult(
          "P6e",
          "bare UDP echo on Deno's socket (no DNS work: P6's ceiling) / Go (info)",
          qps(0, 3),
        ),
        ratioResult(
          "DNSp",
          "DNS whoami queries/s, CPU profile running / pprof idle (info)",
          qps(1, 2),
        ),
        ratioResult(
          "DNSc",
          "DNS CPU-time per query, coredeno / Go (info)",
          cpu(0, 1),
        ),
        ratioResult(
          "DNScp",
          "DNS CPU-time per query, CPU profile running / idle (info)",
          cpu(1, 2),
        ),
        valueResult(
          "DNSq",
          "coredeno whoami queries/s, pprof idle (info)",
          qpsOf(1),
          "q/s",
        ),
        valueResult(
          "DNSg",
          "Go miekg/dns whoami queries/s (info)",
          qpsOf(0),
          "q/s",
        ),
      ];
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
};

export const SUITES: Suite[] = [P1, P1n, P2, P5, P8, P3, P4, P6, P7];
