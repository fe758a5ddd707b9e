import assert from "node:assert/strict";
import {
  Function as PprofFunction,
  Label,
  Line,
  Location,
  Profile,
  Sample,
  StringTable,
  ValueType,
} from "../../lib/deps.ts";
import { deltaProfile, encodeProfile } from "../../lib/profile/mod.ts";
import { assertProfileInvariants } from "./_invariants.ts";
import { num, stacks } from "./_helpers.ts";

interface Spec {
  stack: string[]; // leaf first
  values: number[];
  labels?: Record<string, string | number>;
}

/**
 * A hand-built heap-like profile. `order` permutes how functions are
 * registered, so ids and string indexes differ between profiles that
 * describe the same frames.
 */
function build(
  samples: Spec[],
  options: {
    time: number;
    period?: number;
    types?: [string, string][];
    reverse?: boolean;
    comment?: string;
    defaultType?: string;
  },
): Profile {
  const t = new StringTable();
  const names = [...new Set(samples.flatMap((s) => s.stack))].sort();
  if (options.reverse) names.reverse();
  const functions = names.map((name, i) =>
    new PprofFunction({
      id: 10 + i * 3,
      name: t.dedup(name),
      systemName: t.dedup(name),
      filename: t.dedup(`/src/${name}.ts`),
    })
  );
  const locations = names.map((name, i) =>
    new Location({
      id: 100 + i * 7,
      line: [new Line({ functionId: functions[i]!.id, line: name.length })],
    })
  );
  const locOf = (name: string) => locations[names.indexOf(name)]!.id;
  const types = options.types ?? [["inuse_objects", "count"], [
    "inuse_space",
    "bytes",
  ]];
  return new Profile({
    sampleType: types.map(([type, unit]) =>
      new ValueType({ type: t.dedup(type), unit: t.dedup(unit) })
    ),
    sample: samples.map((s) =>
      new Sample({
        locationId: s.stack.map(locOf),
        value: s.values,
        label: Object.entries(s.labels ?? {}).map(([k, v]) =>
          typeof v === "string"
            ? new Label({ key: t.dedup(k), str: t.dedup(v) })
            : new Label({ key: t.dedup(k), num: v, numUnit: t.dedup("bytes") })
        ),
      })
    ),
    location: locations,
    function: functions,
    stringTable: t,
    timeNanos: options.time,
    periodType: new ValueType({
      type: t.dedup("space"),
      unit: t.dedup("bytes"),
    }),
    period: options.period ?? 524288,
    comment: options.comment ? [t.dedup(options.comment)] : [],
    defaultSampleType: options.defaultType ? t.dedup(options.defaultType) : 0,
  });
}

/** "a<b<c{labels}" → values, for comparison. */
function summary(p: Profile): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  const s = p.stringTable.strings;
  stacks(p).forEach((x, i) => {
    const labels = p.sample[i]!.label.map((l) =>
      num(l.str)
        ? `${s[num(l.key)]}=${s[num(l.str)]}`
        : `${s[num(l.key)]}#${num(l.num)}`
    ).sort().join(",");
    const key = x.frames.map((f) => f.name).join("<") +
      (labels ? `{${labels}}` : "");
    assert.ok(!(key in out), `sample ${key} appears once`);
    out[key] = x.value;
  });
  return out;
}

Deno.test("delta: Go's algorithm (negate p0, merge by stack + labels, drop zeros, keep negatives)", async () => {
  const p0 = build([
    { stack: ["alloc", "main"], values: [10, 1000] },
    { stack: ["same", "main"], values: [2, 200] },
    { stack: ["gone", "main"], values: [5, 500] },
    { stack: ["alloc", "main"], values: [1, 64], labels: { bytes: 64 } },
    { stack: ["tagged"], values: [3, 30], labels: { kind: "a" } },
  ], { time: 1_000_000_000, period: 1000, comment: "p0 note" });
  const p1 = build([
    { stack: ["same", "main"], values: [2, 200] },
    { stack: ["alloc", "main"], values: [25, 2500] },
    { stack: ["new", "main"], values: [1, 100] },
    { stack: ["alloc", "main"], values: [1, 64], labels: { bytes: 64 } },
    { stack: ["tagged"], values: [3, 30], labels: { kind: "b" } },
  ], {
    time: 3_500_000_000,
    period: 524288,
    reverse: true,
    comment: "p1 note",
    defaultType: "inuse_space",
  });

  const d = assertProfileInvariants(
    await encodeProfile(deltaProfile(p0, p1)),
    "delta",
  );
  assert.deepEqual(summary(d), {
    "alloc<main": [15, 1500],
    "gone<main": [-5, -500], // negatives are kept
    "new<main": [1, 100],
    "tagged{kind=a}": [-3, -30], // labels are part of the key
    "tagged{kind=b}": [3, 30],
    // "same<main" and the bytes=64 sample are all zero: dropped
  });
  const s = d.stringTable.strings;
  assert.equal(num(d.timeNanos), 3_500_000_000, "time = p1's");
  assert.equal(num(d.durationNanos), 2_500_000_000, "duration = p1 − p0");
  assert.equal(num(d.period), 524288, "period = max");
  assert.equal(s[num(d.periodType!.type)], "space");
  assert.equal(s[num(d.defaultSampleType)], "inuse_space");
  assert.deepEqual(d.comment.map((c) => s[num(c)]), ["p0 note", "p1 note"]);
  // Frames survive with their files and lines.
  const f = stacks(d).flatMap((x) => x.frames).find((x) => x.name === "alloc")!;
  assert.deepEqual(f, { name: "alloc", file: "/src/alloc.ts", line: 5 });
});

Deno.test("delta: identical snapshots give zero samples but keep sample types", async () => {
  const spec = [{ stack: ["a", "main"], values: [1, 2] }];
  const d = deltaProfile(
    build(spec, { time: 1 }),
    build(spec, { time: 2, reverse: true }),
  );
  const p = assertProfileInvariants(await encodeProfile(d), "empty delta");
  assert.equal(p.sample.length, 0);
  assert.equal(p.sampleType.length, 2);
});

Deno.test("delta: mismatched sample types are refused", () => {
  const a = build([{ stack: ["a"], values: [1, 2] }], { time: 1 });
  const b = build([{ stack: ["a"], values: [1, 2] }], {
    time: 2,
    types: [["alloc_objects", "count"], ["alloc_space", "bytes"]],
  });
  assert.throws(() => deltaProfile(a, b), /sample types differ/);
});

Deno.test("delta: decoded profiles (bigint fields) round-trip through the delta", async () => {
  const p0 = build([{ stack: ["a"], values: [5, 5_000_000_000] }], {
    time: 1_700_000_000_000_000_000,
  });
  const p1 = build([{ stack: ["a"], values: [2, 2_000_000_000] }], {
    time: 1_700_000_002_000_000_000,
  });
  const dec = (p: Profile) => Profile.decode(p.encode());
  const d = assertProfileInvariants(
    await encodeProfile(deltaProfile(dec(p0), dec(p1))),
    "decoded delta",
  );
  assert.deepEqual(summary(d), { a: [-3, -3_000_000_000] });
  assert.ok(Math.abs(num(d.durationNanos) - 2e9) < 1e3);
});

Deno.test("delta: profiles as served (main mapping added at encode) keep one mapping, and merge by frames", async () => {
  const p0 = build([
    { stack: ["a", "main"], values: [5, 500] },
    { stack: ["b", "main"], values: [1, 100] },
  ], { time: 1_700_000_000_000_000_000 });
  const p1 = build([
    { stack: ["a", "main"], values: [7, 700] },
    { stack: ["b", "main"], values: [1, 100] },
  ], { time: 1_700_000_001_000_000_000, reverse: true });
  // What a scraper (or `coredeno capture`) holds: served, then decoded.
  const served0 = assertProfileInvariants(await encodeProfile(p0), "p0");
  const served1 = assertProfileInvariants(await encodeProfile(p1), "p1");
  assert.equal(served0.mapping.length, 1);
  // encodeProfile leaves what it was given alone (snapshots are shared).
  assert.equal(p0.mapping.length, 0);
  assert.ok(p0.location.every((l) => num(l.mappingId) === 0));

  const d = deltaProfile(served0, served1);
  assert.deepEqual(summary(d), { "a<main": [2, 200] });
  assert.equal(d.mapping.length, 1);
  const [m] = d.mapping;
  const s = d.stringTable.strings;
  const m0 = served0.mapping[0]!;
  assert.equal(
    s[num(m!.filename)],
    served0.stringTable.strings[num(m0.filename)],
  );
  assert.equal(
    s[num(m!.buildId)],
    served0.stringTable.strings[num(m0.buildId)],
  );
  assert.deepEqual(
    [m!.hasFunctions, m!.hasFilenames, m!.hasLineNumbers],
    [true, true, true],
  );
  assert.ok(d.location.every((l) => num(l.mappingId) === num(m!.id)));
  // Served again: still the one mapping, not a second main one.
  const again = assertProfileInvariants(await encodeProfile(d), "delta");
  assert.equal(again.mapping.length, 1);
  assert.deepEqual(summary(again), { "a<main": [2, 200] });
});
