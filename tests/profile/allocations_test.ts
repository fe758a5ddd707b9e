import assert from "node:assert/strict";
import { assertProfileInvariants } from "./_invariants.ts";
import { cumulative, denoJson, num, sampleTypes, total } from "./_helpers.ts";

const CHILD = new URL("./testdata/allocations_child.ts", import.meta.url)
  .pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

Deno.test("allocations mode (own process): garbage shows up within 25%, cumulative, true names", async () => {
  const result = await denoJson([
    "run",
    "--config",
    CONFIG,
    "--allow-sys",
    "--allow-read",
    "--allow-env",
    CHILD,
  ]);
  assert.equal(result.mode, "allocations");
  const bytes = (b64: string) =>
    Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const p1 = assertProfileInvariants(bytes(result.first), "allocs 1");
  const p2 = assertProfileInvariants(bytes(result.second), "allocs 2");
  for (const p of [p1, p2]) {
    assert.deepEqual(sampleTypes(p), [
      "alloc_objects/count",
      "alloc_space/bytes",
    ]);
    assert.equal(
      p.stringTable.strings[num(p.defaultSampleType)],
      "alloc_space",
    );
  }

  const truth = result.count * result.objectSize;
  const got = cumulative(p1, "alloc_space", "makeGarbage");
  const objects = cumulative(p1, "alloc_objects", "makeGarbage");
  const errPct = 100 * (got - truth) / truth;
  console.log(
    `makeGarbage ${(got / 1e6).toFixed(1)} MB vs ${
      (truth / 1e6).toFixed(1)
    } MB ` +
      `(${errPct.toFixed(1)}%; object size ${result.objectSize} B), ` +
      `~${objects} objects (truth ${result.count})`,
  );
  assert.ok(Math.abs(errPct) <= 25, `alloc_space error ${errPct}%`);

  // Cumulative: nothing decreases between calls (even across a GC).
  const got2 = cumulative(p2, "alloc_space", "makeGarbage");
  assert.ok(got2 >= got, "makeGarbage's allocations never decrease");
  assert.ok(got2 > 1.5 * got, "second round of garbage added");
  for (const type of ["alloc_space", "alloc_objects"]) {
    assert.ok(
      total(p2, type) >= total(p1, type),
      `${type} total never decreases`,
    );
  }
});
