/**
 * A short soak (the long one is `deno task bench --soak`): a workload with
 * `block` on is scraped round after round (heap, allocs, block, goroutine,
 * a 2 s CPU profile, a trace) while it works. After a warm-up round, its RSS
 * grows by less than 10% and its open files do not grow at all.
 */

import assert from "node:assert/strict";
import { startWorkload } from "./_helpers.ts";
import { assertProfileInvariants } from "./profile/_invariants.ts";

const ROUNDS = 5;

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
  const samples: { rssKiB: number; fds: number }[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const path of paths) {
        const response = await fetch(`${workload.base}/debug/pprof/${path}`);
        assert.equal(response.status, 200, path);
        const bytes = new Uint8Array(await response.arrayBuffer());
        if (!path.startsWith("trace")) assertProfileInvariants(bytes, path);
      }
      samples.push(await usage(pid));
    }
  } finally {
    await workload.stop();
  }
  const [warm, ...rest] = samples;
  const last = rest.at(-1)!;
  const growth = last.rssKiB / warm!.rssKiB - 1;
  console.log(
    `soak: RSS ${
      samples.map((s) => Math.round(s.rssKiB / 1024)).join(" → ")
    } MiB, ` +
      `fds ${samples.map((s) => s.fds).join(" → ")}`,
  );
  assert.ok(
    growth < 0.1,
    `RSS grew ${(growth * 100).toFixed(1)}% after warm-up`,
  );
  assert.ok(last.fds <= warm!.fds, `open files ${warm!.fds} → ${last.fds}`);
});
