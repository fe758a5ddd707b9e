/**
 * The first-profile warm-up (lib/profile/warm.ts) runs beside real captures
 * without failing them, and never keeps a process alive.
 */

import assert from "node:assert/strict";
import { captureCpuProfile } from "../../lib/profile/mod.ts";
import { scheduleProfilerWarmUp } from "../../lib/profile/warm.ts";
import { alpha } from "./testdata/workload.ts";

Deno.test("warm-up: CPU captures asked for while it runs are all served", async () => {
  let warm: boolean | undefined;
  const warming = scheduleProfilerWarmUp(0).then((done) => warm = done);
  // Short captures with gaps, so the warm-up's steps run between them and
  // its own capture (on a session of its own) overlaps theirs.
  let captures = 0;
  const deadline = performance.now() + 30_000;
  while (warm === undefined || captures < 5) {
    assert.ok(performance.now() < deadline, "the warm-up never finished");
    const profile = captureCpuProfile({ durationMillis: 15 });
    alpha(5);
    const p = await profile;
    assert.equal(p.sampleType.length, 2, "a CPU profile");
    captures++;
    await new Promise((r) => setTimeout(r, 5));
  }
  await warming;
  assert.equal(warm, true, "the warm-up ran to its end");
});

Deno.test("warm-up: a scheduled warm-up does not keep the process alive", async () => {
  const script = `import { scheduleProfilerWarmUp } from ${
    JSON.stringify(new URL("../../lib/profile/warm.ts", import.meta.url).href)
  };\nscheduleProfilerWarmUp(60_000);\nconsole.log("done");\n`;
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-sys", "--allow-read", "--allow-env", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = out.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const result = await out.output();
  const seconds = (performance.now() - t0) / 1000;
  assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
  assert.equal(new TextDecoder().decode(result.stdout), "done\n");
  // It would wait 60 s for the warm-up if the timer held it.
  assert.ok(seconds < 50, `took ${seconds.toFixed(1)} s`);
});
