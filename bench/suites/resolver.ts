/**
 * P9 and P10: coredeno as a resolver (`cache` in front of `forward`) against
 * Debian's unbound, under the same dnsperf load in the same run. P9 is cache
 * hits (the same 100 names asked again and again) against unbound answering
 * them from its own cache; P10 is the CPU a forwarded query costs coredeno
 * (a server block without `cache`) against the CPU unbound spends on a query.
 * A second unbound answering from its cache, measured in the same rounds as
 * the first, is the method's A/A (P9n, P10n: what a ratio of 1 reads as).
 * Then a CPU profile from coredeno's own /debug/pprof/profile under each load
 * says which plugins and frames the time goes to.
 */

import { gunzipSync } from "node:zlib";
import { Profile } from "../../lib/deps.ts";
import {
  alternate,
  cpuPerOp,
  cpuSeconds,
  freeDnsPort,
  measure,
  opsPerSecond,
  pairedRatios,
  ratioResult,
  type Result,
  spawn,
  summarize,
  valueResult,
  type Window,
} from "../harness.ts";
import { REPO } from "../setup.ts";
import { startUnbound } from "../unbound.ts";
import {
  checkProfile,
  FIXTURES,
  skipped,
  startCorefile,
  type Suite,
} from "./common.ts";
import { dnsLoad } from "./dns.ts";

const NAMES = 100;

export const P9: Suite = {
  ids: ["P9", "P10"],
  title:
    "resolver: cache hits and forwarded queries, coredeno vs unbound (dnsperf)",
  needs: ["dnsperf", "unbound"],
  async run(c) {
    const why = !c.tools.dnsperf
      ? c.tools.missing.get("dnsperf")
      : !c.tools.unbound
      ? c.tools.missing.get("unbound")
      : undefined;
    if (why !== undefined) {
      return skipped(["P9", "P10"], this.title, `skipped: ${why}`);
    }
    const names = Array.from(
      { length: NAMES },
      (_, i) => `n${i}.example.test.`,
    );
    const dir = Deno.makeTempDirSync({ prefix: "coredeno-bench-resolver-" });
    const queries = `${dir}/queries`;
    Deno.writeTextFileSync(queries, names.map((n) => `${n} A\n`).join(""));
    try {
      // The authority both resolvers forward to, and unbound as a resolver.
      const authority = await startUnbound(c.tools.unbound!, {
        data: [
          "example.test. 3600 IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 30",
          ...names.map((n, i) => `${n} 3600 IN A 192.0.2.${i % 250 + 1}`),
        ],
        probe: names[0]!,
      });
      const unbound = await startUnbound(c.tools.unbound!, {
        forwardTo: authority.port,
        probe: names[0]!,
      });
      const twin = await startUnbound(c.tools.unbound!, {
        forwardTo: authority.port,
        probe: names[0]!,
      });
      const unboundForward = await startUnbound(c.tools.unbound!, {
        forwardTo: authority.port,
        cache: false,
        probe: names[0]!,
      });
      const cached = await freeDnsPort();
      const forwarded = await freeDnsPort();
      const whoami = await freeDnsPort();
      const target = `127.0.0.1:${authority.port}`;
      const cd = startCorefile(
        `.:${cached} {\n    pprof 127.0.0.1:0\n    cache 3600\n` +
          `    forward . ${target}\n}\n\n` +
          `.:${forwarded} {\n    forward . ${target}\n}\n\n` +
          // The same process answering without cache or forward: P9's ceiling.
          `.:${whoami} {\n    whoami\n}\n`,
      );
      await cd.waitFor("\ncoredeno-"); // the version line, after the Listening line
      // A bare UDP echo on the socket coredeno uses: no DNS work at all.
      const echoPort = await freeDnsPort();
      const echo = spawn(Deno.execPath(), [
        "run",
        "--allow-net",
        "--unstable-net",
        `${FIXTURES}/udp_echo.ts`,
        String(echoPort),
      ]);
      await echo.waitFor("ready");
      const pprofPort = /plugin\/pprof: Listening on \S+:(\d+)$/m.exec(
        cd.output(),
      )?.[1];
      const pprof = `http://127.0.0.1:${pprofPort}`;
      // Fills both caches and warms the JIT, --quick or not: P9 is hits only.
      await dnsLoad(unbound.port, queries, 1, { noerror: true });
      await dnsLoad(twin.port, queries, 1, { noerror: true });
      await dnsLoad(cached, queries, 1, { noerror: true });
      await dnsLoad(whoami, queries, 1, { noerror: true });
      if (!c.quick) {
        await dnsLoad(forwarded, queries, 1, { noerror: true });
        await dnsLoad(unboundForward.port, queries, 1, { noerror: true });
      }
      await checkProfile(pprof);

      // The authority's CPU per query in the forwarding windows: what each
      // forwarder costs its upstream (unbound joins identical queries in flight).
      const upstream: number[][] = [[], []];
      const forwarding = (
        name: string,
        pid: number,
        port: number,
        costs: number[],
      ) => ({
        name,
        async window(s: number) {
          const a0 = cpuSeconds(authority.child.pid);
          const w = await measure(
            pid,
            () => dnsLoad(port, queries, s, { noerror: true }),
          );
          costs.push((cpuSeconds(authority.child.pid) - a0) / w.ops);
          return w;
        },
      });
      const seconds = Math.max(1, Math.round(c.seconds * 2 / 3));
      const windows = await alternate([
        {
          name: "unbound cache",
          window: (s) =>
            measure(
              unbound.child.pid,
              () => dnsLoad(unbound.port, queries, s, { noerror: true }),
            ),
        },
        {
          name: "coredeno cache",
          window: (s) =>
            measure(
              cd.pid,
              () => dnsLoad(cached, queries, s, { noerror: true }),
            ),
        },
        forwarding("coredeno forward", cd.pid, forwarded, upstream[0]!),
        forwarding(
          "unbound forward",
          unboundForward.child.pid,
          unboundForward.port,
          upstream[1]!,
        ),
        {
          name: "coredeno whoami",
          window: (s) =>
            measure(
              cd.pid,
              () => dnsLoad(whoami, queries, s, { noerror: true }),
            ),
        },
        {
          name: "echo",
          window: (s) =>
            measure(
              echo.pid,
              () => dnsLoad(echoPort, queries, s, { noerror: true }),
            ),
        },
        {
          name: "unbound cache, twin",
          window: (s) =>
            measure(
              twin.child.pid,
              () => dnsLoad(twin.port, queries, s, { noerror: true }),
            ),
        },
      ], { rounds: c.rounds, seconds });
      const qps = (a: number, b: number) =>
        summarize(pairedRatios(windows, a, b, opsPerSecond));
      const cpu = (a: number, b: number) =>
        summarize(pairedRatios(windows, a, b, cpuPerOp));
      const us = (w: Window[]) => summarize(w.map((x) => cpuPerOp(x) * 1e6));
      const out: Result[] = [
        ratioResult(
          "P9",
          "cache hits queries/s, coredeno (cache + forward) / unbound (its cache)",
          qps(0, 1),
          { limit: 0.5, atLeast: true },
        ),
        ratioResult(
          "P9w",
          "cache hits queries/s / whoami queries/s, same coredeno process (info: what answering at all costs)",
          qps(4, 1),
        ),
        ratioResult(
          "P9n",
          "A/A: unbound's cache hits queries/s, a second unbound / the first (the method's noise, info)",
          qps(0, 6),
        ),
        ratioResult(
          "P9e",
          "bare UDP echo on Deno.listenDatagram (the socket without --allow-ffi; no DNS work) / unbound's cache hits, queries/s (info)",
          qps(0, 5),
        ),
        ratioResult(
          "P9f",
          "CPU-time per query, bare UDP echo on Deno.listenDatagram / unbound's cache hits (info)",
          cpu(0, 5),
        ),
        ratioResult(
          "P9c",
          "CPU-time per cache hit, coredeno / unbound (info)",
          cpu(0, 1),
        ),
        valueResult(
          "P9q",
          "coredeno cache hits queries/s (info)",
          summarize(windows[1]!.map(opsPerSecond)),
          "q/s",
        ),
        valueResult(
          "P9u",
          "unbound cache hits queries/s (info)",
          summarize(windows[0]!.map(opsPerSecond)),
          "q/s",
        ),
        ratioResult(
          "P10",
          "CPU-time per forwarded query, coredeno forward (no cache) / unbound forwarding (no cache)",
          cpu(3, 2),
          { limit: 1.5 },
        ),
        ratioResult(
          "P10n",
          "A/A: CPU-time per query, a second unbound answering from its cache / the first (the method's noise, info)",
          cpu(0, 6),
        ),
        ratioResult(
          "P10h",
          "CPU-time per query, coredeno forwarding / unbound answering from its cache (info)",
          cpu(0, 2),
        ),
        ratioResult(
          "P10t",
          "forwarded queries/s, coredeno / unbound (info)",
          qps(3, 2),
        ),
        ratioResult(
          "P10a",
          "upstream's CPU-time per forwarded query, coredeno's / unbound's (info)",
          summarize(upstream[0]!.map((x, i) => x / upstream[1]![i]!)),
        ),
        valueResult(
          "P10u",
          "CPU per query: coredeno forwarding (info)",
          us(windows[2]!),
          "µs",
        ),
        valueResult(
          "P10v",
          "CPU per query: unbound forwarding (info)",
          us(windows[3]!),
          "µs",
        ),
        valueResult(
          "P10b",
          "CPU per query: unbound answering from its cache (info)",
          us(windows[0]!),
          "µs",
        ),
        valueResult(
          "P10q",
          "coredeno forwarded queries/s (info)",
          summarize(windows[2]!.map(opsPerSecond)),
          "q/s",
        ),
        valueResult(
          "P10w",
          "unbound forwarded queries/s (info)",
          summarize(windows[3]!.map(opsPerSecond)),
          "q/s",
        ),
      ];
      const profileSeconds = c.quick ? 2 : 5;
      for (
        const [id, label, port] of [
          ["P10p", "forward load", forwarded],
          ["P9p", "cache-hit load", cached],
        ] as const
      ) {
        c.log(`${id}: ${profileSeconds} s CPU profile under ${label}…`);
        const load = dnsLoad(port, queries, profileSeconds + 1, {
          noerror: true,
        });
        const profile = await fetch(
          `${pprof}/debug/pprof/profile?seconds=${profileSeconds}`,
        ).then(async (r) => {
          const bytes = new Uint8Array(await r.arrayBuffer());
          if (r.status !== 200) throw new Error(`profile answered ${r.status}`);
          return Profile.decode(gunzipSync(bytes));
        });
        await load;
        out.push(...profileRows(id, label, profile, c.log));
      }
      return out;
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
};

interface Frame {
  name: string;
  self: number;
  total: number;
}

/**
 * Rows from a CPU profile: each plugin's share of the samples (inclusive,
 * with its self time and hottest frame), then the hottest frames by self time
 * anywhere, which is what bounds the rest. The frames also go to the log.
 */
function profileRows(
  id: string,
  label: string,
  p: Profile,
  log: (text: string) => void,
): Result[] {
  const s = p.stringTable.strings;
  const short = (file: string) =>
    file.replace(/^file:\/\//, "").replace(REPO, "").replace(
      /^.*\/node_modules\//,
      "npm:",
    );
  const frameOf = new Map<string, { name: string; file: string }>();
  for (const f of p.function) {
    const file = short(s[Number(f.filename)] ?? "");
    const line = Number(f.startLine);
    frameOf.set(String(f.id), {
      name: `${s[Number(f.name)] || "(anonymous)"} ${file}${
        line > 0 ? `:${line}` : ""
      }`,
      file,
    });
  }
  const stackOf = new Map<string, string[]>();
  for (const l of p.location) {
    stackOf.set(String(l.id), l.line.map((x) => String(x.functionId)));
  }
  const plugin = (file: string) => /^plugins\/([a-z0-9_]+)\//.exec(file)?.[1];
  const frames = new Map<string, Frame>();
  const plugins = new Map<string, Frame>();
  let all = 0;
  const add = (
    map: Map<string, Frame>,
    key: string,
    n: number,
    self: boolean,
  ) => {
    const f = map.get(key) ?? { name: key, self: 0, total: 0 };
    f.total += n;
    if (self) f.self += n;
    map.set(key, f);
  };
  for (const sample of p.sample) {
    const n = Number(sample.value[0]);
    all += n;
    const stack = sample.locationId.flatMap((l) =>
      stackOf.get(String(l)) ?? []
    );
    const leaf = stack[0];
    const leafPlugin = plugin(frameOf.get(leaf ?? "")?.file ?? "");
    for (const fn of new Set(stack)) {
      add(frames, frameOf.get(fn)?.name ?? fn, n, fn === leaf);
    }
    const inPlugins = new Set(
      stack.map((fn) => plugin(frameOf.get(fn)?.file ?? "")),
    );
    for (const name of inPlugins) {
      if (name) add(plugins, name, n, name === leafPlugin);
    }
  }
  const pct = (x: number) => 100 * x / Math.max(all, 1);
  const top = (list: Frame[], by: "self" | "total", k: number) =>
    list.sort((a, b) => b[by] - a[by]).slice(0, k);
  const pluginFrames = [...frames.values()].filter((f) =>
    / plugins\//.test(f.name)
  );
  log(`${id}: ${all} samples under ${label}; top plugin frames (inclusive):`);
  for (const f of top(pluginFrames, "total", 8)) {
    log(
      `  ${pct(f.total).toFixed(1)}% (self ${
        pct(f.self).toFixed(1)
      }%) ${f.name}`,
    );
  }
  log(`${id}: top frames by self time:`);
  const hottest = top([...frames.values()], "self", 10);
  for (const f of hottest) {
    log(`  self ${pct(f.self).toFixed(1)}% ${f.name}`);
  }
  const one = (x: number) => summarize([x]);
  const rows: Result[] = top([...plugins.values()], "total", 6).map((g) => {
    const hot = top(
      pluginFrames.filter((f) => f.name.includes(` plugins/${g.name}/`)),
      "total",
      1,
    )[0];
    return valueResult(
      id,
      `profile, ${label}: plugin/${g.name} inclusive (self ${
        pct(g.self).toFixed(1)
      }%; top frame ${hot?.name ?? "-"}) (info)`,
      one(pct(g.total)),
      "%",
    );
  });
  for (const f of hottest.slice(0, 5)) {
    rows.push(valueResult(
      id,
      `profile, ${label}: self time in ${f.name} (info)`,
      one(pct(f.self)),
      "%",
    ));
  }
  return rows;
}
