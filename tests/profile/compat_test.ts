import assert from "node:assert/strict";
import {
  encode,
  existingProcessProfiler,
  heap,
  time,
} from "../../lib/profile/mod.ts";
import { assertProfileInvariants } from "./_invariants.ts";
import {
  bodyOf,
  cumulative,
  framesNamed,
  hottestLine,
  markedLine,
  sampleTypes,
  selfByLine,
  WORKLOAD,
} from "./_helpers.ts";
import { alpha, retainObjects } from "./testdata/workload.ts";

Deno.test("Node-compat time.profile: a decodable .pb.gz wall profile", async () => {
  // The work starts after the profiler does, which then knows all its code
  // (a profiler that starts after a loop was optimized may book the loop
  // to its caller: V8's, in Node's @datadog/pprof as here).
  const profiling = time.profile({ durationMillis: 300 });
  const stop = Date.now() + 400;
  const busy = (async () => {
    while (Date.now() < stop) {
      alpha(5);
      await new Promise((r) => setTimeout(r, 0));
    }
  })();
  const profile = await profiling;
  await busy;
  const dir = await Deno.makeTempDir({ prefix: "coredeno-compat-" });
  try {
    const file = `${dir}/wall.pb.gz`;
    await Deno.writeFile(file, await encode(profile));
    const bytes = await Deno.readFile(file);
    assert.deepEqual([...bytes.subarray(0, 2)], [0x1f, 0x8b]);
    const p = assertProfileInvariants(bytes, "time.profile");
    assert.deepEqual(sampleTypes(p), ["sample/count", "wall/nanoseconds"]);
    assert.ok(cumulative(p, "wall", "alpha") > 0);
    // Source-mapped lines inside alpha, the most on its loop.
    const { start, end } = bodyOf(WORKLOAD, "alpha");
    for (const f of framesNamed(p, "alpha")) {
      assert.ok(f.line >= start && f.line <= end, `alpha line ${f.line}`);
    }
    assert.equal(
      hottestLine(selfByLine(p, "wall", "alpha")),
      markedLine(WORKLOAD, "// hot loop", start),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Node-compat time.start/stop: errors as @datadog/pprof, restart, collectCpuTime", async () => {
  assert.throws(() => time.stop(), /Wall profiler is not started/);
  time.start({ intervalMicros: 1000, collectCpuTime: true });
  assert.ok(time.isStarted());
  assert.throws(() => time.start(), /Wall profiler is already started/);
  alpha(50);
  // restart = true: returns this profile and keeps profiling.
  const first = assertProfileInvariants(
    await encode(time.stop(true)),
    "time.stop(true)",
  );
  assert.deepEqual(sampleTypes(first), [
    "sample/count",
    "wall/nanoseconds",
    "cpu/nanoseconds",
  ]);
  assert.ok(cumulative(first, "cpu", "alpha") > 0);
  assert.ok(time.isStarted());
  alpha(30);
  const second = assertProfileInvariants(
    await encode(time.stop()),
    "time.stop()",
  );
  assert.ok(second.sampleType.length === 3);
  assert.ok(!time.isStarted());
  assert.throws(() => time.stop(), /Wall profiler is not started/);
  assert.ok(!time.isStarted());
  assert.equal(
    existingProcessProfiler()?.agreed(),
    undefined,
    "the capture's hold on the process's profiler is released",
  );
});

Deno.test("Node-compat heap.start/profile/stop: decodable live-heap profile", async () => {
  assert.throws(() => heap.profile(), /Heap profiler is not enabled\./);
  heap.start(512 * 1024, 64);
  assert.throws(() => heap.start(512 * 1024, 64), /already started/);
  const keep: unknown[] = [];
  retainObjects(keep, 300_000);
  const profile = await heap.profile();
  const p = assertProfileInvariants(await encode(profile), "heap.profile");
  assert.deepEqual(sampleTypes(p), [
    "inuse_objects/count",
    "inuse_space/bytes",
  ]);
  assert.ok(cumulative(p, "inuse_space", "retainObjects") > 5e6);
  assert.ok(framesNamed(p, "(external)").length <= 1);
  await heap.stop();
  assert.equal(
    existingProcessProfiler()?.agreed(),
    undefined,
    "heap.stop lets go of the process's profiler",
  );
  await heap.stop(); // no-op
  assert.throws(() => heap.profile(), /Heap profiler is not enabled\./);
  assert.equal(keep.length, 300_000);
});

Deno.test("Node-compat heap.stop leaves a profiler that a surface holds running", async () => {
  const process = existingProcessProfiler()!;
  const surface = process.hold({}, { source: "a pprof surface" });
  await surface.ready;
  heap.start();
  await heap.profile();
  await heap.stop();
  assert.equal(process.backend.profiler?.heapMode, "inuse");
  await surface.release();
});

Deno.test("Node-compat heap.start in allocation mode conflicts with a surface's live-heap sampling", async () => {
  const process = existingProcessProfiler()!;
  const surface = process.hold({ allocations: false }, {
    source: "servePprof()",
  });
  await surface.ready;
  assert.throws(
    () => heap.start(512 * 1024, 64, true),
    /allocations: true conflicts with live-heap sampling held by servePprof\(\)/,
  );
  await surface.release();
});
