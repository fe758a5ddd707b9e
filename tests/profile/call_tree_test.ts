/**
 * V8's call tree → pprof samples, on a small tree written out by hand: what
 * each VM state becomes in Go's CPU style and in `@datadog/pprof`'s wall
 * style, and that frames shared by many nodes become one location.
 */

import assert from "node:assert/strict";
import { readCallTree, stacksToPprof } from "../../lib/profile/call_tree.ts";
import type { CdpCpuProfile } from "../../lib/profile/inspector.ts";
import type { LocationMapper } from "../../lib/profile/sourcemap.ts";
import { stacks } from "./_helpers.ts";

const URL = "file:///srv/app.js";
const frame = (functionName: string, line = -1, url = "") => ({
  functionName,
  scriptId: url ? "7" : "0",
  url,
  lineNumber: line,
  columnNumber: line < 0 ? -1 : 2,
});

// (root) ─┬ (program) 3      main ─┬ work 5 ─ work 2 (recursion)
//         ├ (idle) 4              └ (anonymous) 1
//         ├ (garbage collector) 2
//         └ main 1
const CDP: CdpCpuProfile = {
  startTime: 0,
  endTime: 180_000,
  nodes: [
    { id: 1, callFrame: frame("(root)"), children: [2, 3, 4, 5] },
    { id: 2, callFrame: frame("(program)"), hitCount: 3 },
    { id: 3, callFrame: frame("(idle)"), hitCount: 4 },
    { id: 4, callFrame: frame("(garbage collector)"), hitCount: 2 },
    {
      id: 5,
      callFrame: frame("main", 0, URL),
      hitCount: 1,
      children: [6, 8],
    },
    { id: 6, callFrame: frame("work", 9, URL), hitCount: 5, children: [7] },
    { id: 7, callFrame: frame("work", 9, URL), hitCount: 2 },
    { id: 8, callFrame: frame("", 20, URL), hitCount: 1 },
    { id: 9, callFrame: frame("unsampled", 30, URL), hitCount: 0 },
  ],
  samples: Array.from({ length: 18 }, () => 1),
};

const identity: LocationMapper = { mappingInfo: (at) => at };

function shown(style: "cpu" | "wall", cdp = CDP) {
  const tree = readCallTree(cdp, style);
  const p = stacksToPprof(
    tree.table,
    tree.stacks.map(({ frames, hits }) => ({ frames, values: [hits] })),
    identity,
  );
  const rows = stacks(p).map((s) =>
    `${s.frames.map((f) => `${f.name}@${f.file}:${f.line}`).join(" < ")} = ${
      s.value[0]
    }`
  ).sort();
  return { tree, p, rows };
}

Deno.test("call tree, Go CPU style: [program] and [gc], (idle) counted and dropped", () => {
  const { tree, p, rows } = shown("cpu");
  assert.deepEqual(rows, [
    "(anonymous:L#21:C#3)@/srv/app.js:21 < main@/srv/app.js:1 = 1",
    "[gc]@:0 = 2",
    "[program]@:0 = 3",
    "main@/srv/app.js:1 = 1",
    "work@/srv/app.js:10 < main@/srv/app.js:1 = 5",
    "work@/srv/app.js:10 < work@/srv/app.js:10 < main@/srv/app.js:1 = 2",
  ]);
  assert.equal(tree.total, 18);
  assert.equal(tree.idle, 4);
  // Two nodes of `work` share one location; the unsampled frame has none.
  assert.equal(p.location.length, 5);
  assert.deepEqual(tree.table.scripts, [
    { scriptId: "7", url: URL, isolate: "main" },
  ]);
});

Deno.test("call tree, wall style: (program) dropped, GC under Node.js", () => {
  const { tree, rows } = shown("wall");
  assert.deepEqual(rows.filter((r) => !r.includes("app.js")), [
    "Garbage Collection@:0 < Node.js@:0 = 2",
  ]);
  assert.equal(rows.length, 5);
  assert.equal(tree.idle, 4);
});

Deno.test("call tree: a leaf's hits split by the lines that ran (positionTicks); callers and totals unchanged", () => {
  const cdp: CdpCpuProfile = {
    startTime: 0,
    endTime: 90_000,
    nodes: [
      { id: 1, callFrame: frame("(root)"), children: [2] },
      { id: 2, callFrame: frame("main", 0, URL), hitCount: 1, children: [3] },
      {
        id: 3,
        callFrame: frame("work", 9, URL),
        hitCount: 7,
        // 1-based lines, as CDP gives them; line 10 is work's own first line.
        positionTicks: [
          { line: 12, ticks: 3 },
          { line: 13, ticks: 1 },
          { line: 12, ticks: 1 },
          { line: 10, ticks: 1 },
        ],
      },
    ],
    samples: Array.from({ length: 8 }, () => 3),
  };
  const tree = readCallTree(cdp, "cpu");
  const p = stacksToPprof(
    tree.table,
    tree.stacks.map(({ frames, hits }) => ({ frames, values: [hits] })),
    identity,
  );
  const byRow = new Map<string, number>();
  for (const s of stacks(p)) {
    const row = s.frames.map((f) => `${f.name}@${f.line}`).join(" < ");
    byRow.set(row, (byRow.get(row) ?? 0) + s.value[0]!);
  }
  assert.deepEqual(Object.fromEntries(byRow), {
    "main@1": 1,
    "work@12 < main@1": 4,
    "work@13 < main@1": 1,
    // The tick on its first line, and the hit no tick covers.
    "work@10 < main@1": 2,
  });
  // One function, one location per line shown.
  const names = p.function.map((f) => p.stringTable.strings[Number(f.name)]);
  assert.deepEqual(names.filter((n) => n === "work").length, 1);
  assert.equal(p.location.length, 4);
});

Deno.test("call tree: anonymous functions are named after their start, whatever line ran", () => {
  const cdp: CdpCpuProfile = {
    startTime: 0,
    endTime: 30_000,
    nodes: [
      { id: 1, callFrame: frame("(root)"), children: [2] },
      {
        id: 2,
        callFrame: frame("", 20, URL),
        hitCount: 3,
        positionTicks: [{ line: 23, ticks: 2 }],
      },
    ],
    samples: [2, 2, 2],
  };
  const tree = readCallTree(cdp, "cpu");
  const p = stacksToPprof(
    tree.table,
    tree.stacks.map(({ frames, hits }) => ({ frames, values: [hits] })),
    identity,
  );
  const rows = stacks(p).map((s) => `${s.frames[0]!.name}@${s.frames[0]!.line}`)
    .sort();
  assert.deepEqual(rows, [
    "(anonymous:L#21:C#3)@21",
    "(anonymous:L#21:C#3)@23",
  ]);
  assert.equal(p.function.length, 1);
});

Deno.test("call tree, Go CPU style: a frame with neither name nor script under JavaScript is a native call (Deno's FFI from optimized code)", () => {
  const cdp: CdpCpuProfile = {
    startTime: 0,
    endTime: 50_000,
    nodes: [
      { id: 1, callFrame: frame("(root)"), children: [2] },
      { id: 2, callFrame: frame("flush", 9, URL), hitCount: 1, children: [3] },
      { id: 3, callFrame: frame(""), hitCount: 4 },
    ],
    samples: [2, 3, 3, 3, 3],
  };
  assert.deepEqual(shown("cpu", cdp).rows, [
    "(native call)@:0 < flush@/srv/app.js:10 = 4",
    "flush@/srv/app.js:10 = 1",
  ]);
  // `@datadog/pprof`'s style keeps V8's empty name, as its serializer does.
  assert.deepEqual(shown("wall", cdp).rows, [
    "(anonymous)@:0 < flush@/srv/app.js:10 = 4",
    "flush@/srv/app.js:10 = 1",
  ]);
});
