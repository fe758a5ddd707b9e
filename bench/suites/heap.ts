/** P4: `/debug/pprof/heap` response time with a 1 GiB live heap. */

import { rssBytes, summarize, valueResult } from "../harness.ts";
import { sleep, startApp, type Suite } from "./common.ts";

export const P4: Suite = {
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
