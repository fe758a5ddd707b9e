/**
 * Heap profiles from V8's sampling heap profiler (one per isolate, owned by
 * the shared inspector session).
 *
 * V8 has a single sampler, and its samples carry no live/dead flag, so the
 * process runs in one of two modes: "inuse" (samples of objects still alive:
 * `inuse_objects`, `inuse_space`) or "allocations" (samples of every
 * allocation since sampling started, kept forever: cumulative
 * `alloc_objects`, `alloc_space`). Each is labelled as what it is.
 */

import process from "node:process";
import { fileURLToPath } from "node:url";
import type { Profile } from "../deps.ts";
import { serializeHeapProfile } from "../deps.ts";
import type { Allocation, AllocationProfileNode } from "../deps.ts";
import type { CdpHeapProfile, HeapProfileNode } from "./inspector.ts";
import { post } from "./inspector.ts";
import {
  addComment,
  fillFilenames,
  nowNanos,
  setDefaultSampleType,
  setSampleTypes,
} from "./pprof.ts";
import { type LocationMapper, prepareSourceMaps } from "./sourcemap.ts";

/** Go's MemProfileRate and V8's default: one sample per 512 KiB. */
export const DEFAULT_HEAP_INTERVAL_BYTES = 524_288;

export type HeapSamplingMode = "inuse" | "allocations" | "off";

let mode: HeapSamplingMode = "off";
let intervalBytes = DEFAULT_HEAP_INTERVAL_BYTES;
let stackDepth: number | undefined;
/** Bumped on every mode change, so a failed start resets only its own. */
let generation = 0;

// Ordering: Deno dispatches inspector commands synchronously and the session
// runs them in dispatch order, so state changes below happen at call time
// (sampling has started when `startHeapSampling` returns, as in Node) and a
// read dispatched before a mode change sees the old mode's data.

/** The sampler's current mode. */
export function heapSamplingMode(): HeapSamplingMode {
  return mode;
}

/** The sampler's current interval in bytes. */
export function heapSamplingInterval(): number {
  return intervalBytes;
}

/**
 * Starts the sampling heap profiler: live-heap sampling by default, or every
 * allocation with `allocations: true`. A no-op when it already runs with the
 * same options; with different ones it restarts, which discards what was
 * sampled so far (V8 has one sampler). Sampling has begun when this returns;
 * the promise reports the inspector's answer.
 */
export function startHeapSampling(
  options: {
    intervalBytes?: number;
    allocations?: boolean;
    stackDepth?: number;
  } = {},
): Promise<void> {
  const interval = options.intervalBytes ?? DEFAULT_HEAP_INTERVAL_BYTES;
  if (!Number.isInteger(interval) || interval <= 0) {
    return Promise.reject(
      new RangeError(
        `heap sampling interval must be a positive integer, got ${interval}`,
      ),
    );
  }
  const wanted: HeapSamplingMode = options.allocations
    ? "allocations"
    : "inuse";
  if (
    mode === wanted && intervalBytes === interval &&
    (options.stackDepth === undefined || options.stackDepth === stackDepth)
  ) return Promise.resolve();
  const pending: Promise<unknown>[] = [];
  if (mode !== "off") {
    pending.push(post("HeapProfiler.stopSampling").catch(() => {}));
  }
  const allocations = wanted === "allocations";
  pending.push(
    post("HeapProfiler.enable"),
    post("HeapProfiler.startSampling", {
      samplingInterval: interval,
      ...(options.stackDepth ? { stackDepth: options.stackDepth } : {}),
      includeObjectsCollectedByMajorGC: allocations,
      includeObjectsCollectedByMinorGC: allocations,
    }),
  );
  mode = wanted;
  intervalBytes = interval;
  stackDepth = options.stackDepth;
  const mine = ++generation;
  return Promise.all(pending).then(
    () => {},
    (error) => {
      if (generation === mine) mode = "off";
      throw error;
    },
  );
}

/** Stops the sampler (discarding its samples); a no-op when off. */
export function stopHeapSampling(): Promise<void> {
  if (mode === "off") return Promise.resolve();
  mode = "off";
  generation++;
  return post("HeapProfiler.stopSampling").then(() => {}, () => {});
}

/** Runs a full garbage collection (through the inspector). */
export async function collectGarbage(): Promise<void> {
  await post("HeapProfiler.collectGarbage");
}

/** What one read of the sampler gives. */
export interface RawHeapProfile {
  profile: CdpHeapProfile;
  mode: "inuse" | "allocations";
  intervalBytes: number;
  timeNanos: number;
}

/** Reads the sampler (after a GC when `gc`); throws when it is off. */
export async function readHeapSampler(
  options: { gc?: boolean } = {},
): Promise<RawHeapProfile> {
  const current = mode;
  if (current === "off") {
    throw new Error("heap sampling is off: call startHeapSampling() first");
  }
  const interval = intervalBytes;
  const gc = options.gc ? post("HeapProfiler.collectGarbage") : undefined;
  const read = post<{ profile: CdpHeapProfile }>(
    "HeapProfiler.getSamplingProfile",
  );
  // Awaited together: a failed collection must not leave the read's failure
  // unhandled (in Deno that ends the process).
  const [, { profile }] = await Promise.all([gc, read]);
  return {
    profile,
    mode: current,
    intervalBytes: interval,
    timeNanos: nowNanos(),
  };
}

/**
 * The heap profile. In "inuse" mode: the sampled live heap, `inuse_objects`
 * and `inuse_space` (plus an `(external)` frame for memory outside the V8
 * heap, as `@datadog/pprof` does). In "allocations" mode: everything
 * allocated since sampling started, `alloc_objects` and `alloc_space`
 * (default `alloc_space`), which never decreases between calls.
 *
 * Bytes are unbiased estimates; object counts are approximate, because the
 * inspector reports each sample as object size × V8's scale factor, fused.
 */
export async function heapProfile(
  options: { gc?: boolean } = {},
): Promise<Profile> {
  return await heapProfileToPprof(await readHeapSampler(options));
}

export async function heapProfileToPprof(
  raw: RawHeapProfile,
  options: {
    mapper?: LocationMapper;
    external?: boolean;
    ignoreSamplePath?: string;
    generateLabels?: Parameters<typeof serializeHeapProfile>[5];
  } = {},
): Promise<Profile> {
  const allocations = raw.mode === "allocations";
  const { root, scripts } = toAllocationTree(raw.profile, raw.intervalBytes);
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
  const maps = await prepareSourceMaps(scripts);
  const p = serializeHeapProfile(
    root,
    raw.timeNanos,
    raw.intervalBytes,
    options.ignoreSamplePath,
    (options.mapper ?? maps.mapper) as Parameters<
      typeof serializeHeapProfile
    >[4],
    options.generateLabels,
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
    for (const line of maps.unmapped) {
      addComment(p, `raw JS positions: ${line}`);
    }
  }
  return p;
}

/**
 * CDP sampling heap profile → the serializer's allocation tree (see
 * `nodeAllocations` for how sizes and counts are recovered).
 */
function toAllocationTree(
  cdp: CdpHeapProfile,
  rate: number,
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
      scriptId: Number(f.scriptId),
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
