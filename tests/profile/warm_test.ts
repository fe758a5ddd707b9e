/**
 * The first-profile warm-up (lib/profile/warm.ts), owned by the profiler:
 * it runs the profile build once, a while after the profiler starts, and
 * leaves the build's source maps read; closing the profiler first cancels
 * it, leaving no timer behind (the sanitizers are on); a profiler never
 * keeps a program alive.
 */

import assert from "node:assert/strict";
import { LocalIsolates, Profiler } from "../../lib/profile/mod.ts";

const WARM = new URL("../../lib/profile/warm.ts", import.meta.url);

Deno.test("warm-up: it runs once, after its delay, and leaves the build's own source map read", async () => {
  const profiler = new Profiler(new LocalIsolates());
  // Its timer does not keep a process alive: this test does, meanwhile.
  const keep = setTimeout(() => {}, 10_000);
  try {
    assert.equal(await profiler.warmedUp, true);
    // Its synthetic profile's frames are in warm.ts: that file's map is in.
    const mapped = profiler.sourceMaps.mapper.mappingInfo({
      file: WARM.pathname,
      line: 30,
      column: 0,
      name: "x",
    } as never) as { file: string };
    assert.equal(mapped.file, WARM.pathname);
    // A capture right after it is served.
    const p = await profiler.cpuProfile({ durationMillis: 20 });
    assert.equal(p.sampleType.length, 2);
  } finally {
    clearTimeout(keep);
    await profiler.close();
  }
});

Deno.test("warm-up: a profiler closed before it runs cancels it, with no timer left behind", async () => {
  const profiler = new Profiler(new LocalIsolates());
  await profiler.close();
  assert.equal(await profiler.warmedUp, false);
});

Deno.test("a running profiler does not keep a program alive", async () => {
  const t0 = performance.now();
  const child = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-sys", "--allow-read", "--allow-env", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(
    `import { LocalIsolates, Profiler } from ${
      JSON.stringify(new URL("../../lib/profile/mod.ts", import.meta.url).href)
    };\n` +
      `new Profiler(new LocalIsolates());\nconsole.log("done");\n`,
  ));
  await writer.close();
  const out = await child.output();
  const seconds = (performance.now() - t0) / 1000;
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(new TextDecoder().decode(out.stdout), "done\n");
  // Its keepalive renewal is every 10 minutes, its warm-up 1 s away.
  assert.ok(seconds < 30, `took ${seconds.toFixed(1)} s`);
});
