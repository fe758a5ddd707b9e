/**
 * P6 and the DNS ratios: whoami queries/s of coredeno vs a Go server on
 * miekg/dns under dnsperf, with and without a CPU profile running.
 */

import {
  alternate,
  cpuPerOp,
  freeDnsPort,
  freePort,
  measure,
  opsPerSecond,
  pairedRatios,
  ratioResult,
  run,
  spawn,
  summarize,
  valueResult,
} from "../harness.ts";
import {
  checkProfile,
  FIXTURES,
  profilingArm,
  skipped,
  startCoredeno,
  type Suite,
  warmUp,
} from "./common.ts";

/**
 * dnsperf against 127.0.0.1:port for `seconds`; completed queries, or with
 * `noerror` the NOERROR answers, failing when fewer than 99% of the replies
 * were NOERROR (a resolver answering SERVFAIL fast is no measure).
 */
export async function dnsLoad(
  port: number,
  queries: string,
  seconds: number,
  options: { noerror?: boolean } = {},
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
  if (!options.noerror) return Number(done);
  const codes = /Response codes:\s*(.*)/.exec(out)?.[1]?.trim() ?? "";
  const noerror = Number(/NOERROR (\d+)/.exec(codes)?.[1] ?? 0);
  if (noerror < 0.99 * Number(done) || Number(done) === 0) {
    throw new Error(
      `127.0.0.1:${port} answered ${done} queries in ${seconds} s, response codes: ${
        codes || "none"
      }`,
    );
  }
  return noerror;
}

export const P6: Suite = {
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
          { limit: 0.9, atLeast: true },
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
          "DNS CPU-time per query, coredeno / Go",
          cpu(0, 1),
          { limit: 1.15 },
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
