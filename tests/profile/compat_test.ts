import assert from "node:assert/strict";
import {
  encode,
  heap,
  heapSamplingMode,
  startHeapSampling,
  stopHeapSampling,
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
  const stop = Date.now() + 400;
  const busy = (async () => {
    while (Date.now() < stop) {
      alpha(5);
      await new Promise((r) => setTimeout(r, 0));
    }
  })();
  const profile = await time.profile({ durationMillis: 300 });
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
  assert.throws(() => time.start({ intervalMicros: 100 }), RangeError);
  assert.ok(!time.isStarted());
});

Deno.test("Node-compat heap.start/profile/stop: decodable live-heap profile", async () => {
  await stopHeapSampling(); // so heap.start owns the sampler
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
    heapSamplingMode(),
    "off",
    "heap.stop stops what heap.start started",
  );
  await heap.stop(); // no-op
  assert.throws(() => heap.profile(), /Heap profiler is not enabled\./);
  assert.equal(keep.length, 300_000);
  await startHeapSampling(); // leave the engine's default mode running
});

Deno.test("Node-compat heap.stop leaves a sampler it did not start running", async () => {
  await startHeapSampling(); // as the pprof plugin does at startup
  heap.start();
  await heap.profile();
  await heap.stop();
  assert.equal(heapSamplingMode(), "inuse");
});
