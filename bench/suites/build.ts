/** P3: profile build time (stop → gzipped bytes), coredeno vs Node. */

import {
  ratioResult,
  type Result,
  run,
  summarize,
  valueResult,
} from "../harness.ts";
import { CONFIG, FIXTURES, type Suite } from "./common.ts";

export const P3: Suite = {
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
