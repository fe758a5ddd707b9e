/** P7: start → first 200 from `/debug/pprof/`, and idle RSS. */

import { rssBytes, summarize, valueResult } from "../harness.ts";
import { sleep, startCoredeno, type Suite } from "./common.ts";

export const P7: Suite = {
  ids: ["P7"],
  title: "start → first 200 from /debug/pprof/, idle RSS",
  needs: [],
  async run(c) {
    const once = async () => {
      const t0 = performance.now();
      // DNS and pprof on :0: pprof's port is in the Listening line it logs
      // once bound, before which no request could be answered anyway.
      const child = startCoredeno(0, 0);
      const deadline = t0 + 30_000;
      let ms = NaN;
      while (performance.now() < deadline) {
        const pprofPort = /plugin\/pprof: Listening on \S+:(\d+)$/m.exec(
          child.output(),
        )?.[1];
        try {
          if (pprofPort === undefined) throw new Error("not bound yet");
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
