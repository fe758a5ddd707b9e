/**
 * The first-profile warm-up (lib/profile/warm.ts) runs beside real captures
 * without failing them, gives way to a running capture, and never keeps a
 * process alive. Each case runs in a fresh process: the warm-up is once per
 * process, and other test modules of this run may have had theirs.
 */

import assert from "node:assert/strict";

const WARM = new URL("../../lib/profile/warm.ts", import.meta.url).href;
const PROFILE = new URL("../../lib/profile/mod.ts", import.meta.url).href;

/** Runs `script` (a module importing WARM and PROFILE) in a fresh Deno; its stdout. */
async function runFresh(script: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-sys", "--allow-read", "--allow-env", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(
    `import { scheduleProfilerWarmUp } from ${JSON.stringify(WARM)};\n` +
      `import { captureCpuProfile } from ${JSON.stringify(PROFILE)};\n` +
      script,
  ));
  await writer.close();
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  return new TextDecoder().decode(out.stdout);
}

Deno.test("warm-up: captures asked for while it runs, with gaps of any length, are all served; it ends", async () => {
  const out = await runFresh(`
    let warm;
    scheduleProfilerWarmUp(0).then((done) => warm = done);
    let captures = 0;
    const deadline = performance.now() + 30_000;
    while (warm === undefined || captures < 5) {
      if (performance.now() > deadline) throw new Error("the warm-up never ended");
      const p = await captureCpuProfile({ durationMillis: 5 + Math.random() * 20 });
      if (p.sampleType.length !== 2) throw new Error("not a CPU profile");
      captures++;
      await new Promise((r) => setTimeout(r, Math.random() * 40));
    }
    console.log(JSON.stringify({ warm, captures }));
  `);
  const { warm, captures } = JSON.parse(out);
  assert.equal(typeof warm, "boolean");
  assert.ok(captures >= 5);
});

Deno.test("warm-up: it gives way to a capture that is running, and finishes when none is", async () => {
  const out = await runFresh(`
    const capture = captureCpuProfile({ durationMillis: 500 });
    const during = await scheduleProfilerWarmUp(0);
    await capture;
    console.log(JSON.stringify({ during }));
  `);
  assert.deepEqual(JSON.parse(out), { during: false });
  const idle = await runFresh(`
    console.log(JSON.stringify({ idle: await scheduleProfilerWarmUp(0) }));
  `);
  assert.deepEqual(JSON.parse(idle), { idle: true });
});

Deno.test("warm-up: a scheduled warm-up does not keep the process alive", async () => {
  const t0 = performance.now();
  const out = await runFresh(`
    scheduleProfilerWarmUp(60_000);
    console.log("done");
  `);
  const seconds = (performance.now() - t0) / 1000;
  assert.equal(out, "done\n");
  // It would wait 60 s for the warm-up if the timer held it.
  assert.ok(seconds < 50, `took ${seconds.toFixed(1)} s`);
});
