/**
 * A short soak (the long one is `deno task bench --soak`): a workload with
 * `block` on is scraped round after round (heap, allocs, block, goroutine,
 * a 2 s CPU profile, a trace) while it works. After a warm-up round, its
 * live JS heap after a GC (what `heap?gc=1` reports, the median of the
 * later rounds against that of the earlier ones) grows by less than 10%,
 * and its open files do not grow at all. RSS is printed, not judged: V8
 * resizes its heap with the load, so a few readings of it are no measure
 * (the bench's soak compares minutes of medians).
 */

import assert from "node:assert/strict";
import { startWorkload } from "./_helpers.ts";
import { assertProfileInvariants } from "./profile/_invariants.ts";

const ROUNDS = 5;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function shell(command: string): Promise<string> {
  const output = await new Deno.Command("sh", { args: ["-c", command] })
    .output();
  return new TextDecoder().decode(output.stdout);
}

/** RSS in KiB and open file descriptors of `pid` (Deno itself may not read /proc). */
async function usage(pid: number): Promise<{ rssKiB: number; fds: number }> {
  const status = await shell(`cat /proc/${pid}/status`);
  const rssKiB = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
  const fds = Number((await shell(`ls /proc/${pid}/fd | wc -l`)).trim());
  return { rssKiB, fds };
}

Deno.test("scraping round after round leaks neither memory nor resources", async () => {
  const workload = await startWorkload("        block");
  const pid = workload.child.pid;
  const paths = [
    "heap",
    "allocs",
    "block",
    "goroutine",
    "profile?seconds=2",
    "trace?seconds=0.5",
    "heap?gc=1",
  ];
  const samples: { rssKiB: number; fds: number; liveBytes: number }[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      let liveBytes = 0;
      for (const path of paths) {
        const response = await fetch(`${workload.base}/debug/pprof/${path}`);
        assert.equal(response.status, 200, path);
        const bytes = new Uint8Array(await response.arrayBuffer());
        if (path.startsWith("trace")) continue;
        const profile = assertProfileInvariants(bytes, path);
        if (path === "heap?gc=1") {
          liveBytes = profile.sample.reduce(
            (sum, s) => sum + Number(s.value[1]),
            0,
          );
        }
      }
      samples.push({ ...await usage(pid), liveBytes });
    }
  } finally {
    await workload.stop();
  }
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
  console.log(
    `soak: live heap after GC ${
      samples.map((s) => mib(s.liveBytes)).join(" → ")
    } MiB, RSS ${samples.map((s) => mib(s.rssKiB * 1024)).join(" → ")} MiB, ` +
      `fds ${samples.map((s) => s.fds).join(" → ")}`,
  );
  const [warm, ...rest] = samples;
  const half = rest.length >> 1;
  const early = median(rest.slice(0, half).map((s) => s.liveBytes));
  const late = median(rest.slice(half).map((s) => s.liveBytes));
  const growth = late / early - 1;
  assert.ok(
    growth < 0.1,
    `the live heap grew ${(growth * 100).toFixed(1)}% after warm-up`,
  );
  const last = rest.at(-1)!;
  assert.ok(last.fds <= warm!.fds, `open files ${warm!.fds} → ${last.fds}`);
});
