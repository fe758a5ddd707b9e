/**
 * Heap profiles from V8's sampling heap profilers, one per isolate (set up
 * by profiler.ts), in one profile whose samples are labelled by isolate.
 *
 * V8's sampler carries no live/dead flag, so the process runs in one of two
 * modes: "inuse" (samples of objects still alive: `inuse_objects`,
 * `inuse_space`) or "allocations" (samples of every allocation since
 * sampling started, kept forever: cumulative `alloc_objects`,
 * `alloc_space`). Each is labelled as what it is.
 */

import process from "node:process";
import { fileURLToPath } from "node:url";
import type { Profile } from "../deps.ts";
import { serializeHeapProfile } from "../deps_datadog.ts";
import type {
  Allocation,
  AllocationProfileNode,
  GenerateAllocationLabelsFunction,
} from "../deps.ts";
import type { CdpHeapProfile, HeapProfileNode } from "./inspector.ts";
import {
  addComment,
  fillFilenames,
  setDefaultSampleType,
  setSampleTypes,
} from "./pprof.ts";
import type { RawHeapProfile } from "./types.ts";
import type { LocationMapper, ScriptRef, SourceMaps } from "./sourcemap.ts";
import { nextTask } from "./sleep.ts";

/** Script ids are per isolate: each isolate's are moved into a range of their own. */
const SCRIPT_ID_RANGE = 1_000_000;

/**
 * The heap profile of every isolate. In "inuse" mode: the sampled live
 * heap, `inuse_objects` and `inuse_space` (plus an `(external)` frame for
 * memory outside V8's heaps, as `@datadog/pprof` does). In "allocations"
 * mode: everything allocated since sampling started, `alloc_objects` and
 * `alloc_space` (default `alloc_space`), which never decreases between calls.
 *
 * Bytes are unbiased estimates; object counts are approximate, because the
 * inspector reports each sample as object size × V8's scale factor, fused.
 */
export async function heapProfileToPprof(
  raw: RawHeapProfile,
  maps: SourceMaps,
  options: {
    mapper?: LocationMapper;
    external?: boolean;
    ignoreSamplePath?: string;
    generateLabels?: GenerateAllocationLabelsFunction;
    /** Notes the build's own pause (see cpu.ts). */
    pause?: <T>(step: () => T) => T;
  } = {},
): Promise<Profile> {
  const allocations = raw.mode === "allocations";
  await nextTask(); // after the read (see below)
  const root: AllocationProfileNode = {
    name: "(root)",
    scriptName: "",
    allocations: [],
    children: [],
  };
  const scripts: ScriptRef[] = [];
  /** Each top node's isolate label; a node's labels are its top node's. */
  const isolateOf = new WeakMap<AllocationProfileNode, string>();
  for (const { isolate, profile } of raw.isolates) {
    const tree = toAllocationTree(
      profile,
      raw.intervalBytes,
      isolate.number * SCRIPT_ID_RANGE,
    );
    for (const s of tree.scripts) scripts.push({ ...s, isolate: isolate.id });
    const mark = (n: AllocationProfileNode) => {
      isolateOf.set(n, isolate.label);
      for (const c of n.children) mark(c);
    };
    tree.root.children.forEach(mark);
    root.children.push(...tree.root.children);
  }
  if ((options.external ?? !allocations)) {
    const { external } = process.memoryUsage();
    if (external > 0) {
      root.children.push({
        name: "(external)",
        scriptName: "",
        children: [],
        allocations: [{ sizeBytes: external, count: 1 }],
      });
    }
  }
  const prepared = await maps.prepare(scripts);
  const labels: GenerateAllocationLabelsFunction = (arg) => {
    const isolate = isolateOf.get(arg.node);
    return {
      ...(isolate !== undefined ? { isolate } : {}),
      ...options.generateLabels?.(arg),
    };
  };
  const pause = options.pause ?? ((step) => step());
  // The read, the serialization and the encoding each hold the thread they
  // run on; in-process, the program runs between them (bench P12p).
  await nextTask();
  const p = pause(() =>
    serializeHeapProfile(
      root,
      raw.timeNanos,
      raw.intervalBytes,
      options.ignoreSamplePath,
      (options.mapper ?? prepared.mapper) as Parameters<
        typeof serializeHeapProfile
      >[4],
      labels,
    )
  ) as unknown as Profile;
  if (allocations) {
    setSampleTypes(p, [["alloc_objects", "count"], ["alloc_space", "bytes"]], [
      "space",
      "bytes",
    ]);
    setDefaultSampleType(p, "alloc_space");
    addComment(
      p,
      "coredeno: every allocation sampled since allocation sampling started (V8 sampling heap profiler); bytes are estimates, object counts approximate",
    );
  } else {
    setSampleTypes(p, [["inuse_objects", "count"], ["inuse_space", "bytes"]], [
      "space",
      "bytes",
    ]);
    addComment(
      p,
      "coredeno: sampled live heap (V8 sampling heap profiler); bytes are estimates, object counts approximate",
    );
  }
  p.timeNanos = raw.timeNanos;
  fillFilenames(p);
  if (!options.mapper) {
    for (const line of prepared.unmapped) {
      addComment(p, `raw JS positions: ${line}`);
    }
  }
  await nextTask();
  return p;
}

/**
 * CDP sampling heap profile → the serializer's allocation tree (see
 * `nodeAllocations` for how sizes and counts are recovered).
 */
function toAllocationTree(
  cdp: CdpHeapProfile,
  rate: number,
  scriptIdBase: number,
): {
  root: AllocationProfileNode;
  scripts: { scriptId: string; url: string }[];
} {
  const samplesByNode = new Map<number, number[]>();
  for (const s of cdp.samples) {
    const list = samplesByNode.get(s.nodeId);
    if (list) list.push(s.size);
    else samplesByNode.set(s.nodeId, [s.size]);
  }
  const scripts = new Map<string, string>();
  const convert = (n: HeapProfileNode): AllocationProfileNode | undefined => {
    const children = n.children
      .map(convert)
      .filter((c): c is AllocationProfileNode => c !== undefined);
    const allocations = nodeAllocations(
      n.selfSize,
      samplesByNode.get(n.id) ?? [],
      rate,
    );
    if (children.length === 0 && allocations.length === 0) return undefined;
    const f = n.callFrame;
    if (f.url) scripts.set(f.scriptId, f.url);
    return {
      name: f.functionName,
      scriptName: f.url.startsWith("file://") ? fileURLToPath(f.url) : f.url,
      scriptId: scriptIdBase + Number(f.scriptId),
      lineNumber: f.lineNumber >= 0 ? f.lineNumber + 1 : 0,
      columnNumber: f.columnNumber >= 0 ? f.columnNumber + 1 : 0,
      allocations,
      children,
    };
  };
  const root: AllocationProfileNode = {
    name: "(root)",
    scriptName: "",
    allocations: [],
    children: cdp.head.children
      .map(convert)
      .filter((c): c is AllocationProfileNode => c !== undefined),
  };
  return {
    root,
    scripts: [...scripts].map(([scriptId, url]) => ({ scriptId, url })),
  };
}

/**
 * One node's allocations, [{sizeBytes, count}] with bytes summing to the
 * node's `selfSize` (V8's correctly scaled total).
 *
 * V8 scales per allocation size: count × 1/(1 − e^(−s/rate)), rounded once
 * for the node. The inspector reports each sample fused as
 * s × round(1/(1 − e^(−s/rate))), which for s ≪ rate is s × (⌊rate/s⌋ + 1):
 * every divisor of it above `size − rate` fits, so one sample cannot tell the
 * object size. The node total can: for c small-object samples,
 * selfSize ≈ c × rate + c × s / 2, so s ≈ 2 × (selfSize / c − rate), the
 * estimate tightening as c grows. Samples above 1.1 × rate are single large
 * objects of exactly that size.
 */
export function nodeAllocations(
  selfSize: number,
  sampleSizes: readonly number[],
  rate: number,
): Allocation[] {
  if (selfSize <= 0) return [];
  if (sampleSizes.length === 0) return [{ sizeBytes: selfSize, count: 1 }];
  const large = new Map<number, number>(); // object size → samples
  let small = 0;
  for (const b of sampleSizes) {
    if (b > 1.1 * rate) large.set(b, (large.get(b) ?? 0) + 1);
    else small++;
  }
  const out: Allocation[] = [];
  let largeBytes = 0;
  for (const [size, samples] of large) {
    const count = Math.max(
      1,
      Math.round(samples / -Math.expm1(-size / rate)),
    );
    out.push({ sizeBytes: size, count });
    largeBytes += size * count;
  }
  if (small > 0) {
    const bytes = Math.max(0, selfSize - largeBytes);
    if (bytes > 0) {
      const objectSize = Math.max(8, 2 * (bytes / small - rate));
      const count = Math.max(1, Math.round(bytes / objectSize));
      out.push({ sizeBytes: Math.max(1, Math.round(bytes / count)), count });
    }
  } else if (largeBytes > 0 && largeBytes !== selfSize) {
    // Rounding differences: scale the counts' bytes back to selfSize.
    const f = selfSize / largeBytes;
    for (const a of out) a.sizeBytes = Math.max(1, Math.round(a.sizeBytes * f));
  }
  return out;
}
