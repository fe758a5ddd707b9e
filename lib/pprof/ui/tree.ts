/**
 * Turns a pprof profile into the flame tree the browser draws: one node per
 * distinct call path, root first, values summed over the samples below it.
 * Decoding happens here, on the server, so the page needs no protobuf code.
 */

import type { Profile } from "../../deps.ts";
import { int64 } from "../../profile/pprof.ts";

export { decodeProfile, MAX_PROFILE_BYTES } from "../../profile/pprof.ts";

/** One frame on one call path. `values[i]` is sample type `i`'s total. */
export interface FlameNode {
  name: string;
  /** The source file, when the profile names one. */
  file?: string;
  /** `values[defaultIndex]`, the number the graph is drawn by. */
  value: number;
  values: number[];
  children: FlameNode[];
}

export interface FlameTree {
  /** `type/unit` of each sample type, as `go tool pprof` prints them. */
  sampleTypes: { type: string; unit: string }[];
  /** The sample type drawn by default (the profile's default, else the last, as pprof). */
  defaultIndex: number;
  /** Nanoseconds since the epoch, 0 when unknown. */
  timeNanos: number;
  durationNanos: number;
  root: FlameNode;
}

/** Builds the flame tree of a decoded profile. */
export function flameTree(profile: Profile): FlameTree {
  const strings = profile.stringTable.strings;
  const str = (index: unknown) => strings[Number(index)] ?? "";
  const sampleTypes = profile.sampleType.map((t) => ({
    type: str(t.type),
    unit: str(t.unit),
  }));
  const width = sampleTypes.length;
  const defaultType = Number(profile.defaultSampleType);
  const found = defaultType === 0
    ? -1
    : profile.sampleType.findIndex((t) => Number(t.type) === defaultType);
  const defaultIndex = found >= 0 ? found : Math.max(0, width - 1);

  const functions = new Map(
    profile.function.map((f) => [Number(f.id), f] as const),
  );
  /** Each location's frames, caller first (pprof lists inlined callees first). */
  const frames = new Map<number, { name: string; file: string }[]>();
  for (const location of profile.location) {
    const lines = location.line.map((line) => {
      const fn = functions.get(Number(line.functionId));
      const name = fn ? str(fn.name) || str(fn.systemName) : "";
      return {
        name: name ||
          `0x${Number(location.address).toString(16)}`,
        file: fn ? str(fn.filename) : "",
      };
    });
    if (lines.length === 0) {
      lines.push({
        name: `0x${Number(location.address).toString(16)}`,
        file: "",
      });
    }
    frames.set(Number(location.id), lines.reverse());
  }

  const root = node("root", "", width);
  const index = new Map<FlameNode, Map<string, FlameNode>>();
  for (const sample of profile.sample) {
    const values = sampleTypes.map((_, i) => int64(sample.value[i]));
    if (values.every((v) => v === 0)) continue;
    add(root, values);
    let parent = root;
    // locationId[0] is the leaf: walk from the last (the outermost caller).
    for (let i = sample.locationId.length - 1; i >= 0; i--) {
      for (
        const frame of frames.get(Number(sample.locationId[i])) ??
          [{ name: "(unknown)", file: "" }]
      ) {
        let children = index.get(parent);
        if (!children) index.set(parent, children = new Map());
        const key = `${frame.name}\0${frame.file}`;
        let child = children.get(key);
        if (!child) {
          child = node(frame.name, frame.file, width);
          children.set(key, child);
          parent.children.push(child);
        }
        add(child, values);
        parent = child;
      }
    }
  }
  finish(root, defaultIndex);
  return {
    sampleTypes,
    defaultIndex,
    timeNanos: Number(profile.timeNanos),
    durationNanos: Number(profile.durationNanos),
    root,
  };
}

function node(name: string, file: string, width: number): FlameNode {
  const n: FlameNode = {
    name,
    value: 0,
    values: new Array(width).fill(0),
    children: [],
  };
  if (file) n.file = file;
  return n;
}

function add(target: FlameNode, values: number[]) {
  for (let i = 0; i < values.length; i++) target.values[i]! += values[i]!;
}

/** Sets `value` and sorts children, biggest first, iteratively (deep stacks). */
function finish(root: FlameNode, defaultIndex: number) {
  const stack = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    n.value = n.values[defaultIndex] ?? 0;
    n.children.sort((a, b) =>
      (b.values[defaultIndex] ?? 0) - (a.values[defaultIndex] ?? 0) ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    );
    stack.push(...n.children);
  }
}
