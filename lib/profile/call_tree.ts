/**
 * V8's CPU call tree (CDP `Profiler.Profile`) straight to pprof tables.
 *
 * Each distinct call frame is resolved once (its path, its source-mapped
 * position, its location and function) and each node with hits becomes one
 * sample whose stack is its path to the root. Profiling the earlier route
 * (a copy of the tree handed to `@datadog/pprof`'s serializer) with our own
 * CPU profiler showed most of the build in per-node work: `fileURLToPath`
 * and source-map lookups repeated for ~6k nodes that share ~30 frames.
 * Nothing here recurses: V8's tree is as deep as the deepest recursion the
 * application was sampled in.
 *
 * The output matches the serializer's: locations keyed by script, mapped
 * line and column and name; functions by script and name; no columns.
 */

import { fileURLToPath } from "node:url";
import {
  Function as PprofFunction,
  Line,
  Location,
  Profile,
  Sample,
  StringTable,
} from "pprof-format";
import type { CdpCpuProfile, CpuProfileNode } from "./inspector.ts";
import type { LocationMapper, ScriptRef } from "./sourcemap.ts";

/**
 * How top-level VM states are shown. "cpu" (Go's CPU profile): `[program]`
 * and `[gc]` frames. "wall" (`@datadog/pprof`'s time profile): `(program)`
 * dropped, GC as `Garbage Collection` under a `Node.js` frame.
 */
export type TopLevelStyle = "cpu" | "wall";

/** A call frame as pprof will show it before source mapping; 1-based, 0 = unknown. */
interface Frame {
  name: string;
  scriptId: string;
  path: string;
  line: number;
  column: number;
}

/** The sampled stacks of a CPU profile, as indices into `frames`. */
export interface CallTree {
  frames: Frame[];
  /** One per node with hits: its frames leaf first, and its hit count. */
  stacks: { frames: number[]; hits: number }[];
  /** Every sample, `(idle)` included: elapsed / total = effective interval. */
  total: number;
  idle: number;
  /** The scripts the stacks run in, for source maps. */
  scripts: ScriptRef[];
}

const GC_NAME = "Garbage Collection";
const RUNTIME_NAME = "Node.js";

/** Reads the stacks out of V8's tree: `(idle)` counted and dropped, VM states styled. */
export function readCallTree(
  cdp: CdpCpuProfile,
  style: TopLevelStyle,
): CallTree {
  // Nodes by position; parent[i] is the position of node i's parent, -1 for none.
  const nodes = cdp.nodes;
  const position = new Map<number, number>();
  nodes.forEach((node, i) => position.set(node.id, i));
  const parent = new Int32Array(nodes.length).fill(-1);
  nodes.forEach((node, i) => {
    for (const child of node.children ?? []) {
      const at = position.get(child);
      if (at !== undefined) parent[at] = i;
    }
  });
  const root = parent.indexOf(-1);

  const frames: Frame[] = [];
  const frameByKey = new Map<string, number>();
  const paths = new Map<string, string>();
  const scripts = new Map<string, string>();
  const frameOf = (name: string, node: CpuProfileNode | undefined) => {
    const f = node?.callFrame;
    const line = f && f.lineNumber >= 0 ? f.lineNumber + 1 : 0;
    const column = f && f.columnNumber >= 0 ? f.columnNumber + 1 : 0;
    const scriptId = f?.scriptId ?? "0";
    const key = `${scriptId}:${line}:${column}:${name}`;
    let index = frameByKey.get(key);
    if (index === undefined) {
      const url = f?.url ?? "";
      let path = paths.get(url);
      if (path === undefined) {
        path = url.startsWith("file://") ? fileURLToPath(url) : url;
        paths.set(url, path);
      }
      if (url) scripts.set(scriptId, url);
      index = frames.push({ name, scriptId, path, line, column }) - 1;
      frameByKey.set(key, index);
    }
    return index;
  };
  // A node's frame depends only on the node (its name is styled by depth,
  // and depth is fixed), so it is computed once.
  const nodeFrame = new Int32Array(nodes.length).fill(-1);

  const stacks: CallTree["stacks"] = [];
  let hitTotal = 0;
  let idle = 0;
  const chain: number[] = [];
  for (let i = 0; i < nodes.length; i++) {
    const hits = nodes[i]!.hitCount ?? 0;
    if (hits === 0 || i === root) continue;
    hitTotal += hits;
    chain.length = 0;
    for (let n = i; n !== root && n !== -1; n = parent[n]!) chain.push(n);
    const top = nodes[chain[chain.length - 1]!]!.callFrame.functionName;
    if (top === "(idle)") {
      idle += hits;
      continue;
    }
    if (style === "wall" && top === "(program)") continue;
    const stack: number[] = [];
    const depth = chain.length - 1;
    for (let j = 0; j < chain.length; j++) {
      const n = chain[j]!;
      if (nodeFrame[n] === -1) {
        const node = nodes[n]!;
        nodeFrame[n] = frameOf(styledName(node, j === depth, style), node);
      }
      stack.push(nodeFrame[n]!);
    }
    if (style === "wall" && top === "(garbage collector)") {
      stack.push(frameOf(RUNTIME_NAME, undefined));
    }
    stacks.push({ frames: stack, hits });
  }
  return {
    frames,
    stacks,
    total: cdp.samples?.length ?? hitTotal,
    idle,
    scripts: [...scripts].map(([scriptId, url]) => ({ scriptId, url })),
  };
}

function styledName(
  node: CpuProfileNode,
  topLevel: boolean,
  style: TopLevelStyle,
): string {
  const name = node.callFrame.functionName;
  if (!topLevel) return name;
  if (name === "(garbage collector)") {
    return style === "cpu" ? "[gc]" : GC_NAME;
  }
  if (name === "(program)" && style === "cpu") return "[program]";
  return name;
}

/**
 * The pprof profile of `tree`: one sample per stack, valued by `values(hits)`;
 * sample types, period and times are left to the caller.
 */
export function callTreeToPprof(
  tree: CallTree,
  mapper: LocationMapper,
  values: (hits: number) => number[],
): Profile {
  const strings = new StringTable();
  const locations: Location[] = [];
  const functions: PprofFunction[] = [];
  const locationByKey = new Map<string, number>();
  const functionByKey = new Map<string, number>();

  const functionId = (
    scriptId: string,
    file: string,
    name: string,
    line: number,
    column: number,
  ): number => {
    const key = name ? `${scriptId}:${name}` : `${scriptId}:${line}:${column}`;
    let id = functionByKey.get(key);
    if (id === undefined) {
      id = functions.length + 1;
      functionByKey.set(key, id);
      const shown = name ||
        (line
          ? column
            ? `(anonymous:L#${line}:C#${column})`
            : `(anonymous:L#${line})`
          : "(anonymous)");
      const nameIndex = strings.dedup(shown);
      functions.push(
        new PprofFunction({
          id,
          name: nameIndex,
          systemName: nameIndex,
          filename: strings.dedup(file),
        }),
      );
    }
    return id;
  };

  const locationOfFrame = tree.frames.map((frame) => {
    let at = {
      file: frame.path,
      line: frame.line as number | undefined,
      column: frame.column as number | undefined,
      name: frame.name,
    };
    if (frame.line > 0) at = mapper.mappingInfo(at as never) as typeof at;
    const key = `${frame.scriptId}:${at.line}:${at.column}:${at.name}`;
    let id = locationByKey.get(key);
    if (id === undefined) {
      id = locations.length + 1;
      locationByKey.set(key, id);
      const fn = functionId(
        frame.scriptId,
        at.file || "",
        at.name,
        at.line ?? 0,
        at.column ?? 0,
      );
      locations.push(
        new Location({
          id,
          line: [new Line({ functionId: fn, line: at.line })],
        }),
      );
    }
    return id;
  });

  const sample = tree.stacks.map(({ frames, hits }) =>
    new Sample({
      locationId: frames.map((f) => locationOfFrame[f]!),
      value: values(hits),
    })
  );
  return new Profile({
    sample,
    location: locations,
    function: functions,
    stringTable: strings,
  });
}
