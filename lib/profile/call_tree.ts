/**
 * V8's CPU call tree (CDP `Profiler.Profile`) straight to pprof tables.
 *
 * Each distinct call frame is resolved once (its path, its source-mapped
 * position, its location and function) and each node with hits becomes one
 * sample per line that ran: V8 counts a node's hits per source line
 * (`positionTicks`), so the leaf frame of each sample carries the line that
 * was executing, and `go tool pprof -list`/`-lines` show time on the lines
 * inside a function, not on its header. Hits that `positionTicks` does not
 * cover keep the function's own line. Callers keep their function's line:
 * CDP gives no call-site line for a parent frame. Profiling the earlier route
 * (a copy of the tree handed to `@datadog/pprof`'s serializer) with our own
 * CPU profiler showed most of the build in per-node work: `fileURLToPath`
 * and source-map lookups repeated for ~6k nodes that share ~30 frames.
 *
 * The output matches the serializer's: functions keyed by script and name
 * (anonymous ones by their mapped position, named `(anonymous:L#12:C#5)`),
 * locations by function and line shown; no columns. The block profile and
 * the trace name and map frames the same way.
 */

import { fileURLToPath } from "node:url";
import {
  Function as PprofFunction,
  Label,
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
  /** Where the function starts (names anonymous functions). */
  line: number;
  column: number;
  /** The line that was executing (leaf frames); 0 = the function's line. */
  hitLine: number;
}

/**
 * The distinct call frames of a profile, each with its file path resolved
 * once, and the scripts they run in (for source maps).
 */
export class FrameTable {
  readonly frames: Frame[] = [];
  readonly #byKey = new Map<string, number>();
  readonly #paths = new Map<string, string>();
  readonly #scripts = new Map<string, ScriptRef>();

  /**
   * The index of `frame` shown as `name` (V8's own name, or a styled one).
   * Without a CDP frame, a synthetic one in `file`. `hitLine` (1-based, as
   * `positionTicks` gives it) is the line that ran, for leaf frames.
   */
  add(
    name: string,
    frame: CallFrame | undefined,
    file = "",
    hitLine = 0,
    isolate = "main",
  ): number {
    const line = frame && frame.lineNumber >= 0 ? frame.lineNumber + 1 : 0;
    const column = frame && frame.columnNumber >= 0
      ? frame.columnNumber + 1
      : 0;
    // Script ids are per isolate.
    const scriptId = frame ? `${isolate}/${frame.scriptId}` : "0";
    // Top-level code has no start V8 reports, but its lines still ran.
    if (!frame) hitLine = 0;
    const key = `${scriptId}:${line}:${column}:${name}:${
      frame ? "" : file
    }:${hitLine}`;
    let index = this.#byKey.get(key);
    if (index === undefined) {
      const url = frame?.url ?? "";
      let path = this.#paths.get(url);
      if (path === undefined) {
        path = url.startsWith("file://") ? fileURLToPath(url) : url;
        this.#paths.set(url, path);
      }
      if (url && frame) {
        this.#scripts.set(scriptId, {
          scriptId: frame.scriptId,
          url,
          isolate,
        });
      }
      index = this.frames.push({
        name,
        scriptId,
        path: frame ? path : file,
        line,
        column,
        hitLine,
      }) - 1;
      this.#byKey.set(key, index);
    }
    return index;
  }

  /** The scripts the frames run in. */
  get scripts(): ScriptRef[] {
    return [...this.#scripts.values()];
  }
}

/** The sampled stacks of a CPU profile, as indices into `table`. */
export interface CallTree {
  table: FrameTable;
  /**
   * One per node and line with hits: its frames leaf first (the leaf at the
   * line that ran), and its hit count.
   */
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
  into: { table?: FrameTable; isolate?: string } = {},
): CallTree {
  // parent[i] is the position of node i's parent, -1 for none. Plain loops:
  // this runs at a capture's end, in code the capture's `reoptimize` left
  // unoptimized.
  const nodes = cdp.nodes;
  const position = new Map<number, number>();
  for (let i = 0; i < nodes.length; i++) position.set(nodes[i]!.id, i);
  const parent = new Int32Array(nodes.length).fill(-1);
  for (let i = 0; i < nodes.length; i++) {
    const children = nodes[i]!.children;
    if (children === undefined) continue;
    for (let c = 0; c < children.length; c++) {
      const at = position.get(children[c]!);
      if (at !== undefined) parent[at] = i;
    }
  }
  const root = parent.indexOf(-1);

  const table = into.table ?? new FrameTable();
  const isolate = into.isolate ?? "main";
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
          "",
          0,
          isolate,
        );
      }
      stack.push(nodeFrame[n]!);
    }
    if (style === "wall" && top === "(garbage collector)") {
      stack.push(table.add(RUNTIME_NAME, undefined));
    }
    // The leaf's hits by the line that ran; the rest stay on its own line.
    let left = hits;
    const leaf = nodes[i]!;
    for (const { line, ticks } of leaf.positionTicks ?? []) {
      const n = Math.min(ticks, left);
      if (n <= 0 || line <= 0) continue;
      left -= n;
      const frames = stack.slice();
      frames[0] = table.add(
        styledName(leaf, depth === 0, style),
        leaf.callFrame,
        "",
        line,
        isolate,
      );
      stacks.push({ frames, hits: n });
    }
    if (left > 0) stacks.push({ frames: stack, hits: left });
  }
  return { table, stacks, total: cdp.samples?.length ?? hitTotal, idle };
}

/**
 * A frame V8 gives neither a name nor a script, called from JavaScript: in
 * Deno, an FFI function called from optimized code (under DNS load, the
 * `sendmmsg` and `recvmmsg` of lib/net/libc_udp.ts: 70% of samples showed as
 * a bare `(anonymous)`).
 */
export const NATIVE_CALL = "(native call)";

function styledName(
  node: CpuProfileNode,
  topLevel: boolean,
  style: TopLevelStyle,
): string {
  const name = node.callFrame.functionName;
  if (topLevel) return vmStateName(name, style);
  return name === "" && node.callFrame.url === "" && style === "cpu"
    ? NATIVE_CALL
    : name;
}

/**
 * V8's top-level VM states as a profile of `style` shows them: `[gc]` and
 * `[program]` in CPU style; other names as they are.
 */
export function vmStateName(name: string, style: TopLevelStyle): string {
  if (name === "(garbage collector)") {
    return style === "cpu" ? "[gc]" : GC_NAME;
  }
  if (name === "(program)" && style === "cpu") return "[program]";
  return name;
}

/** How a frame is shown: its name, file and line after source mapping. */
export interface ShownFrame {
  /** V8's name, or `(anonymous:L#12:C#5)` at the mapped start. */
  name: string;
  file: string;
  /** The function's start, mapped; 1-based, 0 = unknown. */
  line: number;
  column: number;
}

/**
 * A function's name and start position as every profile shows them: mapped
 * through `mapper`, anonymous functions named after their mapped start
 * (`(anonymous:L#12:C#5)`, the `@datadog/pprof` serializer's naming, which
 * the heap profile uses too). `line` and `column` are 1-based, 0 = unknown.
 */
export function showFunction(
  mapper: LocationMapper,
  frame: { name: string; path: string; line: number; column: number },
): ShownFrame {
  let at = {
    file: frame.path,
    line: frame.line as number | undefined,
    column: frame.column as number | undefined,
    name: frame.name,
  };
  if (frame.line > 0) at = mapper.mappingInfo(at as never) as typeof at;
  const line = at.line ?? 0;
  const column = at.column ?? 0;
  const name = at.name ||
    (line
      ? column ? `(anonymous:L#${line}:C#${column})` : `(anonymous:L#${line})`
      : "(anonymous)");
  return { name, file: at.file || "", line, column };
}

/** A sample's label: a string (`isolate=main`) or a number. */
export interface SampleLabel {
  key: string;
  str?: string;
  num?: number;
}

/**
 * The pprof profile of `stacks` (frame indices into `table`, leaf first):
 * one sample per stack with its values; sample types, period and times are
 * left to the caller.
 */
export function stacksToPprof(
  table: FrameTable,
  stacks: readonly {
    frames: readonly number[];
    values: number[];
    labels?: readonly SampleLabel[];
  }[],
  mapper: LocationMapper,
): Profile {
  const strings = new StringTable();
  const locations: Location[] = [];
  const functions: PprofFunction[] = [];
  const locationByKey = new Map<string, number>();
  const functionByKey = new Map<string, number>();
  // Frames of one function at several lines share its mapped start.
  const shownByKey = new Map<string, ShownFrame>();

  const locationOfFrame = table.frames.map((frame) => {
    // A script by its path where it has one: the same file in two isolates
    // (whose script ids differ) is one function.
    const script = frame.path || frame.scriptId;
    const startKey =
      `${script}:${frame.line}:${frame.column}:${frame.name}:${frame.path}`;
    let shown = shownByKey.get(startKey);
    if (shown === undefined) {
      shown = showFunction(mapper, frame);
      shownByKey.set(startKey, shown);
    }
    // The line that ran, mapped on its own (column unknown: the mapper takes
    // the first mapping on the line); kept only if it maps into the same file.
    // On the function's own first line, that first mapping may be a comment
    // the emit put before it: the function's start is the line shown.
    let line = shown.line;
    if (frame.hitLine > 0 && frame.hitLine !== frame.line) {
      const hit = mapper.mappingInfo(
        {
          file: frame.path,
          line: frame.hitLine,
          column: 0,
          name: frame.name,
        } as never,
      ) as { file?: string; line?: number };
      if (hit.line && (hit.file || "") === shown.file) line = hit.line;
    }
    // Functions by script, source file and name (a bundle is one script of
    // many files, each with its own `stop`); anonymous ones by their start.
    const fnKey = frame.name
      ? `${script}:${shown.file}:${frame.name}`
      : `${script}:${shown.file}:${shown.line}:${shown.column}`;
    let fn = functionByKey.get(fnKey);
    if (fn === undefined) {
      fn = functions.length + 1;
      functionByKey.set(fnKey, fn);
      const nameIndex = strings.dedup(shown.name);
      functions.push(
        new PprofFunction({
          id: fn,
          name: nameIndex,
          systemName: nameIndex,
          filename: strings.dedup(shown.file),
          startLine: shown.line,
        }),
      );
    }
    // One location per function start and line shown.
    const key =
      `${script}:${shown.file}:${shown.line}:${shown.column}:${shown.name}:${line}`;
    let id = locationByKey.get(key);
    if (id === undefined) {
      id = locations.length + 1;
      locationByKey.set(key, id);
      locations.push(
        new Location({ id, line: [new Line({ functionId: fn, line })] }),
      );
    }
    return id;
  });

  const sample = stacks.map(({ frames, values, labels }) =>
    new Sample({
      locationId: frames.map((f) => locationOfFrame[f]!),
      value: values,
      label: labels?.map((l) =>
        new Label({
          key: strings.dedup(l.key),
          ...(l.str !== undefined
            ? { str: strings.dedup(l.str) }
            : { num: l.num ?? 0 }),
        })
      ),
    })
  );
  return new Profile({
    sample,
    location: locations,
    function: functions,
    stringTable: strings,
  });
}
