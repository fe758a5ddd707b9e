/** The flame tree built from a known profile: call paths, inlining, sums, errors. */

import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import {
  Function as PprofFunction,
  Line,
  Location,
  Profile,
  Sample,
  StringTable,
  ValueType,
} from "../../lib/deps.ts";
import {
  decodeProfile,
  type FlameNode,
  flameTree,
} from "../../lib/pprof/ui/tree.ts";

/** main → work → {alpha (2 samples), beta inlined into work (1)}, plus one main-only sample. */
function knownProfile(): Profile {
  const strings = new StringTable();
  const s = (text: string) => strings.dedup(text);
  const sampleType = [
    new ValueType({ type: s("samples"), unit: s("count") }),
    new ValueType({ type: s("cpu"), unit: s("nanoseconds") }),
  ];
  const names = ["main", "work", "alpha", "beta"];
  const fns = names.map((name, i) =>
    new PprofFunction({ id: i + 1, name: s(name), filename: s("app.ts") })
  );
  const line = (fn: number) => new Line({ functionId: fn, line: 1 });
  const location = [
    new Location({ id: 1, line: [line(1)] }), // main
    new Location({ id: 2, line: [line(2)] }), // work
    new Location({ id: 3, line: [line(3)] }), // alpha
    new Location({ id: 4, line: [line(4), line(2)] }), // beta inlined into work
  ];
  const sample = [
    new Sample({ locationId: [3, 2, 1], value: [2, 20] }),
    new Sample({ locationId: [4, 1], value: [1, 10] }),
    new Sample({ locationId: [1], value: [1, 5] }),
    new Sample({ locationId: [3, 2, 1], value: [0, 0] }),
  ];
  return new Profile({
    sampleType,
    sample,
    location,
    function: fns,
    stringTable: strings,
  });
}

function child(node: FlameNode, name: string): FlameNode {
  const found = node.children.find((c) => c.name === name);
  assert.ok(found, `${node.name} has no child ${name}`);
  return found;
}

Deno.test("flameTree: call paths root first, inlined frames expanded, sums per type", () => {
  const tree = flameTree(knownProfile());
  assert.deepEqual(tree.sampleTypes, [
    { type: "samples", unit: "count" },
    { type: "cpu", unit: "nanoseconds" },
  ]);
  assert.equal(tree.defaultIndex, 1, "the last type, as pprof");
  const root = tree.root;
  assert.deepEqual(root.values, [4, 35]);
  assert.equal(root.value, 35);
  const main = child(root, "main");
  assert.equal(main.file, "app.ts");
  assert.equal(main.value, 35);
  const work = child(main, "work");
  assert.equal(
    work.value,
    30,
    "work's own frame and beta's inlining host merge",
  );
  assert.deepEqual(work.children.map((c) => [c.name, c.value]), [
    ["alpha", 20],
    ["beta", 10],
  ]);
  assert.deepEqual(child(work, "alpha").children, []);
});

Deno.test("decodeProfile: gzipped and raw bytes; junk is refused with a reason", () => {
  const raw = knownProfile().encode();
  assert.equal(decodeProfile(raw).sample.length, 4);
  assert.equal(decodeProfile(gzipSync(raw)).sample.length, 4);
  assert.throws(
    () => decodeProfile(new TextEncoder().encode("junk")),
    /not a pprof profile/,
  );
  assert.throws(
    () => decodeProfile(new Uint8Array([0x1f, 0x8b, 1, 2, 3])),
    /not a gzipped profile/,
  );
});
