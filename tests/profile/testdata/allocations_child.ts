// Run by tests/profile/allocations_test.ts in its own process, because the
// sampler's mode is process-wide. Prints one JSON line of measurements.

import process from "node:process";
import { encodeProfile } from "../../../lib/profile/mod.ts";
import { LocalIsolates } from "../../../lib/profile/inspector.ts";
import { Profiler } from "../../../lib/profile/profiler.ts";
import { makeGarbage, retainObjects } from "./workload.ts";

const profiler = new Profiler(new LocalIsolates(), { heap: "allocations" });
await profiler.ready();
const collectGarbage = () => profiler.collectGarbage();
const heapProfile = (options: { gc?: boolean } = {}) =>
  profiler.heapProfile(options);

// The size of one { a, b } object: fill a preallocated array (so only the
// objects are new) and compare the live heap before and after.
const kept: unknown[] = new Array(200_000).fill(0);
await collectGarbage();
const before = process.memoryUsage().heapUsed;
for (let i = 0; i < kept.length; i++) kept[i] = { a: i, b: i + 1 };
await collectGarbage();
const objectSize = (process.memoryUsage().heapUsed - before) / kept.length;

const ring: unknown[] = new Array(1024);
const count = 5_000_000;
makeGarbage(ring, count);
const first = await encodeProfile(await heapProfile());
makeGarbage(ring, count);
retainObjects([], 1000);
const second = await encodeProfile(await heapProfile({ gc: true }));
await profiler.close();

console.log(JSON.stringify({
  mode: profiler.heapMode,
  objectSize,
  count,
  kept: kept.length,
  first: btoa(String.fromCharCode(...first)),
  second: btoa(String.fromCharCode(...second)),
}));
await profiler.close();
