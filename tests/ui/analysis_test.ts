/**
 * What the viewer and the Markdown report compute from known profiles: the
 * flame tree (inlined frames expanded), the top table, the cost of each
 * line, label filtering, comparison with a base, and the report's text.
 */

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
  compareTo,
  decodeProfile,
  flameTree,
  heaviestPaths,
  labelSummary,
  lineCosts,
  type Model,
  parseSelection,
  readModel,
  topTable,
  total,
} from "../../lib/pprof/ui/analysis.ts";
import { markdownReport } from "../../lib/pprof/ui/report.ts";
import { diffPair, labelledProfile } from "./_profiles.ts";

/** main → work → {alpha (2 samples), beta inlined into work (1)}, plus one main-only sample. */
function inlinedProfile(): Profile {
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
  const line = (fn: number, n: number) => new Line({ functionId: fn, line: n });
  const location = [
    new Location({ id: 1, line: [line(1, 10)] }), // main
    new Location({ id: 2, line: [line(2, 20)] }), // work
    new Location({ id: 3, line: [line(3, 30)] }), // alpha
    new Location({ id: 4, line: [line(4, 40), line(2, 21)] }), // beta inlined into work
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

const model = (bytes: Uint8Array): Model => readModel(decodeProfile(bytes));
const query = (text = "") => new URLSearchParams(text);

/** The flame tree's nodes as `name@depth=value` (preorder). */
function nodes(tree: ReturnType<typeof flameTree>): string[] {
  return tree.func.map((f, i) =>
    `${f < 0 ? "root" : tree.funcs[f]![0]}@${tree.depth[i]}=${tree.value[i]}${
      tree.base ? `/${tree.base[i]}` : ""
    }`
  );
}

Deno.test("flameTree: call paths root first, inlined frames expanded, biggest child first", () => {
  const m = readModel(inlinedProfile());
  assert.deepEqual(m.sampleTypes, [
    { type: "samples", unit: "count" },
    { type: "cpu", unit: "nanoseconds" },
  ]);
  assert.equal(m.defaultIndex, 1, "the last type, as pprof");
  assert.equal(m.samples.length, 3, "the all-zero sample is left out");
  assert.deepEqual(nodes(flameTree(m, parseSelection(m, query()))), [
    "root@0=35",
    "main@1=35",
    "work@2=30", // its own frame and beta's inlining host merge
    "alpha@3=20",
    "beta@3=10",
  ]);
  assert.deepEqual(
    nodes(flameTree(m, parseSelection(m, query("sample=samples")))),
    ["root@0=4", "main@1=4", "work@2=3", "alpha@3=2", "beta@3=1"],
  );
});

Deno.test("topTable and lineCosts: flat, cumulative once per sample, the hottest line", () => {
  const m = readModel(inlinedProfile());
  const sel = parseSelection(m, query());
  assert.deepEqual(
    topTable(m, sel).map((r) => [r.name, r.flat, r.cum, r.line]),
    [
      ["alpha", 20, 20, 30],
      ["beta", 10, 10, 40],
      ["main", 5, 35, 10],
      ["work", 0, 30, 20],
    ],
  );
  assert.deepEqual(
    lineCosts(m, sel).map((
      l,
    ) => [`${l.file}:${l.line}`, l.name, l.flat, l.cum]),
    [
      ["app.ts:30", "alpha", 20, 20],
      ["app.ts:40", "beta", 10, 10],
      ["app.ts:10", "main", 5, 35],
      ["app.ts:20", "work", 0, 20],
      ["app.ts:21", "work", 0, 10],
    ],
  );
  assert.deepEqual(
    heaviestPaths(m, sel, 1).map((p) => p.frames.map((f) => f.name)),
    [["main", "work", "alpha"]],
  );
});

Deno.test("labels: a selector keeps only its samples; every key and value is summarized", () => {
  const m = model(labelledProfile());
  assert.deepEqual(labelSummary(m, m.defaultIndex), [{
    key: "isolate",
    values: [
      { value: "worker:1", total: 500e6 },
      { value: "main", total: 400e6 },
    ],
  }]);
  const worker = parseSelection(m, query("label=isolate=worker:1"));
  assert.deepEqual(topTable(m, worker).map((r) => r.name), [
    "crunch",
    "onmessage",
  ]);
  assert.equal(total(m, worker), 500e6);
  const both = parseSelection(
    m,
    query("label=isolate=worker:1&label=isolate=main"),
  );
  assert.equal(total(m, both), 900e6, "values of one key are alternatives");
  const none = parseSelection(m, query("label=isolate=main&label=other=x"));
  assert.equal(total(m, none), 0, "different keys must all match");
  assert.throws(() => parseSelection(m, query("label=isolate")), /KEY=VALUE/);
  assert.throws(
    () => parseSelection(m, query("sample=nosuch")),
    /must be one of samples, cpu/,
  );
});

Deno.test("against a base: a function added since shows as grown, a halved one as shrunk", () => {
  const pair = diffPair();
  const now = model(pair.now);
  const base = model(pair.base);
  const sel = parseSelection(now, query());
  const comparison = compareTo(now, sel, base, false);
  const rows = topTable(now, sel, comparison);
  const row = (name: string) => rows.find((r) => r.name === name)!;
  assert.equal(rows[0]!.name, "added", "the largest growth comes first");
  assert.deepEqual(
    [row("added").baseCum, row("added").cum],
    [0, 250e6],
    "added: nothing before, 250 ms now",
  );
  assert.deepEqual([row("parse").baseFlat, row("parse").flat], [200e6, 100e6]);
  assert.equal(row("handle").flat, row("handle").baseFlat);

  const tree = flameTree(now, sel, comparison);
  assert.ok(tree.base, "a comparison carries base values");
  const added = tree.func.findIndex((f) => tree.funcs[f]?.[0] === "added");
  assert.deepEqual([tree.value[added], tree.base![added]], [250e6, 0]);

  // Normalized, the base is scaled to the later total (650 ms / 500 ms).
  const normalized = compareTo(now, sel, base, true);
  assert.equal(normalized.scale, 650 / 500);
  assert.equal(
    total(base, normalized.selection) * normalized.scale,
    total(now, sel),
  );
  const heap = model(
    gzipSync(
      new Profile({
        sampleType: [new ValueType({ type: 1, unit: 2 })],
        stringTable: (() => {
          const t = new StringTable();
          t.dedup("inuse_space");
          t.dedup("bytes");
          return t;
        })(),
      }).encode(),
    ),
  );
  assert.throws(
    () => compareTo(now, sel, heap, false),
    /the base profile has no sample type cpu \(it has inuse_space\)/,
  );
});

Deno.test("markdownReport: top functions with file:line, hottest lines, call paths, labels, what grew", async () => {
  const pair = diffPair();
  const now = model(pair.now);
  const sel = parseSelection(now, query());
  const report = await markdownReport(now, sel, {
    title: "CPU profile of 10 s",
    comparison: {
      ...compareTo(now, sel, model(pair.base), false),
      title: "the base",
    },
    source: (file) =>
      Promise.resolve(
        file === "file:///srv/app/main.ts"
          ? Array.from({ length: 50 }, (_, i) => `code of line ${i + 1}`)
          : undefined,
      ),
  });
  assert.match(report, /^# CPU profile of 10 s\n/);
  assert.match(
    report,
    /\| cpu \(nanoseconds\) \| 650\.00ms \| 10\.00s \| 2023-11-14T22:13:20\.000Z \| 65 \|/,
  );
  assert.match(
    report,
    /## Top functions by cpu \(flat\)\n\n.*\n.*\n\| 300\.00ms \| 46\.2% \| 650\.00ms \| 100\.0% \| `handle` \| `\/srv\/app\/main\.ts:12` \|/,
  );
  assert.match(
    report,
    /## Hottest lines\n\n.*\n.*\n\| 300\.00ms \| 46\.2% \| 300\.00ms \| `\/srv\/app\/main\.ts:12` \| `handle` \| `code of line 12` \|/,
  );
  assert.match(
    report,
    /## Heaviest call paths\n\n.*\n\n1\. 300\.00ms \(46\.2%\): `main` \(`\/srv\/app\/main\.ts:3`\) → `handle` \(`\/srv\/app\/main\.ts:12`\)\n/,
  );
  assert.match(
    report,
    /## Compared with the base\n\nTotal 500\.00ms → 650\.00ms \(\+150\.00ms\)\./,
  );
  assert.match(
    report,
    /### Grew\n\n.*\n.*\n\| \+250\.00ms \| \+250\.00ms \| new \| 250\.00ms \| `added` \| `\/srv\/app\/main\.ts:40` \|/,
  );
  assert.match(
    report,
    /### Shrank\n\n.*\n.*\n\| -100\.00ms \| -100\.00ms \| 200\.00ms \| 100\.00ms \| `parse` \|/,
  );

  const labelled = model(labelledProfile());
  const worker = await markdownReport(
    labelled,
    parseSelection(labelled, query("label=isolate=worker:1")),
    { title: "two isolates" },
  );
  assert.match(worker, /Only samples labelled `isolate=worker:1`\./);
  assert.match(
    worker,
    /## Labels\n\n.*\n.*\n\| `isolate` \| `worker:1` \| 500\.00ms \| 55\.6% \|/,
  );
  assert.doesNotMatch(
    worker,
    /`handle`/,
    "the main isolate's functions are left out",
  );
});
