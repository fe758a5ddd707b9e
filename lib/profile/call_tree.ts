/**
 * V8's CPU call tree (CDP `Profiler.Profile`) straight to pprof tables.
 *
 * Each distinct call frame is resolved once (its path, its source-mapped
 * position, its location and function) and each node with hits becomes one
 * sample whose stack is its path to the root. Profiling the earlier route
 * (a copy of the tree handed to `@datadog/pprof`'s serializer) with our own
 * CPU profiler showed most of the build in per-node work: `fileURLToPath`
 * and source-map lookups repeated for ~6k nodes that share ~30 frames.
 *
 * The output matches the serializer's: locations keyed by script, mapped
 * line and column and name; functions by script and name; no columns. The
 * block profile builds its stacks with the same `FrameTable`.
 */

import { fileURLToPath } from "node:url";
import {
  Function as PprofFunction,
  Line,
  Location,
  Profile,
  Sample,
  StringTable,
} from "../deps.ts";
import type { CallFrame, CdpCpuProfile, CpuProfileNode } from "./inspector.ts";
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

/**
 * The distinct call frames of a profile, each with its file path resolved
 * once, and the scripts they run in (for source maps).
 */
export class FrameTable {
  readonly frames: Frame[] = [];
  readonly #byKey = new Map<string, number>();
  readonly #paths = new Map<string, string>();
  readonly #scripts = new Map<string, string>();

  /**
   * The index of `frame` shown as `name` (V8's own name, or a styled one).
   * Without a CDP frame, a synthetic one in `file`.
   */
  add(name: string, frame: CallFrame | undefined, file = ""): number {
    const line = frame && frame.lineNumber >= 0 ? frame.lineNumber + 1 : 0;
    const column = frame && frame.columnNumber >= 0
      ? frame.columnNumber + 1
      : 0;
    const scriptId = frame?.scriptId ?? "0";
    const key = `${scriptId}:${line}:${column}:${name}:${frame ? "" : file}`;
    let index = this.#byKey.get(key);
    if (index === undefined) {
      const url = frame?.url ?? "";
      let path = this.#paths.get(url);
      if (path === undefined) {
        path = url.startsWith("file://") ? fileURLToPath(url) : url;
        this.#paths.set(url, path);
      }
      if (url) this.#scripts.set(scriptId, url);
      index = this.frames.push({
        name,
        scriptId,
        path: frame ? path : file,
        line,
        column,
      }) - 1;
      this.#byKey.set(key, index);
    }
    return index;
  }

  /** The scripts the frames run in. */
  get scripts(): ScriptRef[] {
    return [...this.#scripts].map(([scriptId, url]) => ({ scriptId, url }));
  }
}

/** The sampled stacks of a CPU profile, as indices into `table`. */
export interface CallTree {
  table: FrameTable;
  /** One per node with hits: its frames leaf first, and its hit count. */
  stacks: { frames: number[]; hits: number }[];
  /** Every sample, `(idle)` included: elapsed / total = effective interval. */
  total: number;
  idle: number;
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

  const table = new FrameTable();
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
        nodeFrame[n] = table.add(
          styledName(node, j === depth, style),
          node.callFrame,
        );
      }
      stack.push(nodeFrame[n]!);
    }
    if (style === "wall" && top === "(garbage collector)") {
      stack.push(table.add(RUNTIME_NAME, undefined));
    }
    stacks.push({ frames: stack, hits });
  }
  return { table, stacks, total: cdp.samples?.length ?? hitTotal, idle };
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
 * The pprof profile of `stacks` (frame indices into `table`, leaf first):
 * one sample per stack with its values; sample types, period and times are
 * left to the caller.
 */
export function stacksToPprof(
  table: FrameTable,
  stacks: readonly { frames: readonly number[]; values: number[] }[],
  mapper: LocationMapper,
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

  const locationOfFrame = table.frames.map((frame) => {
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

  const sample = stacks.map(({ frames, values }) =>
    new Sample({
      locationId: frames.map((f) => locationOfFrame[f]!),
      value: values,
    })
  );
  return new Profile({
    sample,
    location: locations,
    function: functions,
    stringTable: strings,
  });
}
