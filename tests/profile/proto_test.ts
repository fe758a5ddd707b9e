/**
 * lib/profile/proto.ts writes the same bytes as `pprof-format`'s encoder for
 * every kind of profile this package builds, and for the corners protobuf
 * has (negative and 64-bit numbers, long messages, UTF-8, empty fields).
 */

import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import {
  Function as PprofFunction,
  Label,
  Line,
  Location,
  Mapping,
  Profile,
  Sample,
  StringTable,
  ValueType,
} from "../../lib/deps.ts";
import { deltaProfile, encodeProfile } from "../../lib/profile/mod.ts";
import { LocalIsolates, Profiler } from "../../lib/profile/mod.ts";
import { decodeProfile } from "../../lib/profile/pprof.ts";
import { encodeProto } from "../../lib/profile/proto.ts";
import { alpha, beta } from "./testdata/workload.ts";

function assertSameBytes(p: Profile): void {
  const ours = encodeProto(p);
  const theirs = p.encode();
  assert.equal(ours.length, theirs.length, "length");
  assert.deepEqual(ours, theirs);
}

Deno.test("proto: CPU, heap, block and delta profiles encode as pprof-format does", async () => {
  // A profiler of its own, closed at the end: no sampler is left running.
  const profiler = new Profiler(new LocalIsolates(), { intervalMicros: 1000 });
  try {
    await encodesAsPprofFormat(profiler);
  } finally {
    await profiler.close();
  }
});

async function encodesAsPprofFormat(profiler: Profiler) {
  const kept: number[][] = [];
  const cpu = await profiler.cpuProfile({ durationMillis: 300 });
  for (let i = 0; i < 200; i++) kept.push(new Array(1000).fill(i));
  alpha(20);
  beta(20);
  assertSameBytes(cpu);
  const heap0 = await profiler.heapProfile();
  for (let i = 0; i < 200; i++) kept.push(new Array(1000).fill(i));
  const heap1 = await profiler.heapProfile();
  assertSameBytes(heap1);
  assertSameBytes(deltaProfile(heap0, heap1));
  profiler.block.start(1_000_000);
  try {
    const until = performance.now() + 30;
    while (performance.now() < until) alpha(1);
    await new Promise((r) => setTimeout(r, 50));
    assertSameBytes(await profiler.block.profile());
  } finally {
    await profiler.block.stop();
  }
  // What we serve decodes back to the same profile, byte for byte.
  const served = new Uint8Array(gunzipSync(await encodeProfile(cpu)));
  assert.deepEqual(encodeProto(decodeProfile(served)), served);
  assert.ok(kept.length > 0 && cpu.sample.length > 0);
}

Deno.test("proto: 64-bit, negative and fractional numbers, labels, long and UTF-8 fields", () => {
  const strings = new StringTable();
  const s = (text: string) => strings.dedup(text);
  const deep = Array.from({ length: 300 }, (_, i) => i + 1); // a >127-byte sample
  const p = new Profile({
    sampleType: [new ValueType({ type: s("samples"), unit: s("count") })],
    sample: [
      new Sample({
        locationId: deep,
        value: [0, -1, 2 ** 40, 2 ** 53 - 1, -(2 ** 40), 1.75],
        label: [
          new Label({ key: s("span"), str: s("ü → 日本 🐢") }),
          new Label({ key: s("bytes"), num: 2 ** 33, numUnit: s("bytes") }),
        ],
      }),
      new Sample({ locationId: [], value: [2n ** 63n + 5n, -(2n ** 62n)] }),
      new Sample({ locationId: [1, 2], value: [127, 128, 16383, 16384] }),
    ],
    mapping: [
      new Mapping({
        id: 1,
        memoryStart: 0x400000,
        memoryLimit: 2n ** 48n,
        fileOffset: 4096,
        filename: s("/bin/x"),
        buildId: s("abc"),
        hasFunctions: true,
        hasFilenames: true,
        hasLineNumbers: true,
        hasInlineFrames: true,
      }),
    ],
    location: deep.map((id) =>
      new Location({
        id,
        mappingId: 1,
        address: 0x400000 + id,
        line: [
          new Line({ functionId: id, line: id * 1000, column: 3 }),
          new Line({ functionId: 1, line: 0 }),
        ],
        isFolded: id % 2 === 0,
      })
    ),
    function: deep.map((id) =>
      new PprofFunction({
        id,
        name: s(`f${id}`.repeat(id % 7 === 0 ? 60 : 1)),
        systemName: s(`sys${id}`),
        filename: s("/src/ß.ts"),
        startLine: id,
      })
    ),
    stringTable: strings,
    dropFrames: s("drop.*"),
    keepFrames: s("keep"),
    timeNanos: Date.now() * 1e6,
    durationNanos: 2 ** 35,
    periodType: new ValueType({ type: s("cpu"), unit: s("nanoseconds") }),
    period: 10_000_000,
    comment: [s("one"), s("two")],
    defaultSampleType: s("samples"),
    docUrl: s("https://example.com/doc"),
  });
  assertSameBytes(p);
  assertSameBytes(new Profile({ periodType: new ValueType({}) }));
  assertSameBytes(new Profile());
  const round = Profile.decode(encodeProto(p));
  assert.equal(round.function.length, 300);
  assert.equal(
    round.stringTable.strings[Number(round.sample[0]!.label[0]!.str)],
    "ü → 日本 🐢",
  );
});
