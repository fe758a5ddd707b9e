/**
 * P7: start → first 200 from `/debug/pprof/`, and idle RSS, of the Corefile
 * server (in-process profiler); P7w: the same for `coredeno run` of a small
 * `Deno.serve` app (the watcher Worker over the private inspector), beside
 * the same app under a plain `deno run`.
 */

import { type Child, rssBytes, summarize, valueResult } from "../harness.ts";
import {
  readyProgram,
  sleep,
  spawnProgram,
  startCoredeno,
  startProgram,
  type Suite,
  watchedPprof,
} from "./common.ts";

/**
 * Milliseconds from `t0` until `/debug/pprof/` answers 200 at the address
 * `address()` finds in the output (undefined: not known yet).
 */
async function untilPprof(
  child: Child,
  t0: number,
  address: () => string | undefined,
): Promise<number> {
  const deadline = t0 + 30_000;
  while (performance.now() < deadline) {
    const at = address();
    try {
      if (at === undefined) throw new Error("not bound yet");
      const r = await fetch(`${at}/debug/pprof/`);
      await r.arrayBuffer();
      if (r.status === 200) return performance.now() - t0;
    } catch { /* not listening yet */ }
    await sleep(2);
  }
  throw new Error(`no /debug/pprof/ answered:\n${child.output()}`);
}

const mib = (pid: number) => rssBytes(pid) / 2 ** 20;

/** Runs `once` after one start that warms Deno's caches (as any second start has them). */
async function starts<T>(quick: boolean, once: () => Promise<T>) {
  await once();
  const runs: T[] = [];
  for (let i = 0; i < (quick ? 2 : 5); i++) runs.push(await once());
  return runs;
}

export const P7: Suite = {
  ids: ["P7", "P7rss"],
  title: "start → first 200 from /debug/pprof/, idle RSS",
  needs: [],
  async run(c) {
    const runs = await starts(c.quick, async () => {
      const t0 = performance.now();
      // DNS and pprof on :0: pprof's port is in the Listening line it logs
      // once bound, before which no request could be answered anyway.
      const child = startCoredeno(0, 0);
      const ms = await untilPprof(child, t0, () => {
        const port = /plugin\/pprof: Listening on \S+:(\d+)$/m.exec(
          child.output(),
        )?.[1];
        return port && `http://127.0.0.1:${port}`;
      });
      await sleep(1500);
      const rss = mib(child.pid);
      await child.stop();
      return { ms, rss };
    });
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

export const P7w: Suite = {
  ids: ["P7w", "P7wrss", "P7wsup", "P7wapp"],
  title:
    "coredeno run (the watcher) of a small Deno.serve app: start → first 200 from /debug/pprof/, idle RSS",
  needs: [],
  async run(c) {
    const runs = await starts(c.quick, async () => {
      // Plain first: the app's own start and RSS, for comparison.
      let t0 = performance.now();
      const plain = await startProgram("hello.ts", "plain");
      const plainReady = performance.now() - t0;
      await sleep(1500);
      const plainRss = mib(plain.pid);
      await plain.child.stop();

      t0 = performance.now();
      // `coredeno run` prints the address before the program starts.
      const child = spawnProgram("hello.ts", "watched");
      const ms = await untilPprof(child, t0, () => watchedPprof(child));
      const program = await readyProgram(child, "watched");
      const ready = performance.now() - t0;
      await sleep(1500);
      const rss = mib(program.pid);
      const supervisor = mib(program.supervisor!);
      await program.child.stop();
      return { ms, rss, supervisor, ready, plainReady, plainRss };
    });
    const med = (key: keyof (typeof runs)[number]) =>
      summarize(runs.map((r) => r[key])).median;
    return [
      valueResult(
        "P7w",
        "coredeno run: start → first 200 from /debug/pprof/",
        summarize(runs.map((r) => r.ms)),
        "ms",
        100,
      ),
      valueResult(
        "P7wrss",
        `coredeno run: the program's idle RSS, watcher included (deno run: ${
          med("plainRss").toFixed(1)
        } MiB)`,
        summarize(runs.map((r) => r.rss)),
        "MiB",
        80,
      ),
      valueResult(
        "P7wsup",
        "coredeno run: its own process's idle RSS, beside the program (info)",
        summarize(runs.map((r) => r.supervisor)),
        "MiB",
      ),
      valueResult(
        "P7wapp",
        `coredeno run: start → the app's ready line (deno run: ${
          med("plainReady").toFixed(0)
        } ms; info)`,
        summarize(runs.map((r) => r.ready)),
        "ms",
      ),
    ];
  },
};
