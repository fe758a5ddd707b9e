/**
 * What the viewer and the Markdown report show of a pprof profile, computed
 * on the server from one decoded form (`Model`): the flame tree, the top
 * table (flat and cumulative per function), the cost of each source line,
 * the heaviest call paths, and each of them against a base profile
 * (`go tool pprof -diff_base`). Samples can be narrowed by their string
 * labels (`Sample.label`, e.g. `isolate=main`) and read by any sample type.
 */

import type { Profile } from "../../deps.ts";
import { int64 } from "../../profile/pprof.ts";

export { decodeProfile } from "../../profile/pprof.ts";

export interface SampleType {
  type: string;
  unit: string;
}

/** A function as frames name it: a name in a file. */
export interface Func {
  name: string;
  file: string;
  /** Where the function starts (0 when the profile does not say). */
  startLine: number;
}

export interface ModelSample {
  /** Function indexes, leaf first, inlined frames expanded. */
  funcs: number[];
  /** The line of each frame (0 when unknown), parallel to `funcs`. */
  lines: number[];
  values: number[];
  /** The sample's string labels, `[key, value]`. */
  labels: [string, string][];
}

/** A profile as the views read it. */
export interface Model {
  sampleTypes: SampleType[];
  /** The sample type shown by default (pprof's rule: the profile's default, else the last). */
  defaultIndex: number;
  /** Nanoseconds since the epoch, 0 when unknown. */
  timeNanos: number;
  durationNanos: number;
  comments: string[];
  funcs: Func[];
  samples: ModelSample[];
}

/** Reads a decoded profile into a `Model`. */
export function readModel(profile: Profile): Model {
  const strings = profile.stringTable.strings;
  const str = (index: unknown) => strings[int64(index as number)] ?? "";
  const sampleTypes = profile.sampleType.map((t) => ({
    type: str(t.type),
    unit: str(t.unit),
  }));
  const wanted = int64(profile.defaultSampleType);
  const found = wanted === 0
    ? -1
    : profile.sampleType.findIndex((t) => int64(t.type) === wanted);
  const defaultIndex = found >= 0 ? found : Math.max(0, sampleTypes.length - 1);

  const funcs: Func[] = [];
  const funcIndex = new Map<string, number>();
  const intern = (name: string, file: string, startLine: number) => {
    const key = `${name}\0${file}`;
    let index = funcIndex.get(key);
    if (index === undefined) {
      index = funcs.length;
      funcs.push({ name, file, startLine });
      funcIndex.set(key, index);
    }
    return index;
  };
  const byId = new Map(profile.function.map((f) => [int64(f.id), f]));
  /** Each location's frames, leaf first, as [func, line] pairs. */
  const frames = new Map<number, [number, number][]>();
  for (const location of profile.location) {
    const address = `0x${int64(location.address).toString(16)}`;
    const lines = location.line.map((line): [number, number] => {
      const fn = byId.get(int64(line.functionId));
      const name = fn ? str(fn.name) || str(fn.systemName) : "";
      return [
        intern(
          name || address,
          fn ? str(fn.filename) : "",
          fn ? int64(fn.startLine) : 0,
        ),
        int64(line.line),
      ];
    });
    if (lines.length === 0) lines.push([intern(address, "", 0), 0]);
    frames.set(int64(location.id), lines);
  }
  const unknown: [number, number][] = [[intern("(unknown)", "", 0), 0]];

  const samples: ModelSample[] = [];
  for (const sample of profile.sample) {
    const values = sampleTypes.map((_, i) => int64(sample.value[i]));
    if (values.every((v) => v === 0)) continue;
    const funcsOf: number[] = [];
    const linesOf: number[] = [];
    for (const id of sample.locationId) {
      for (const [fn, line] of frames.get(int64(id)) ?? unknown) {
        funcsOf.push(fn);
        linesOf.push(line);
      }
    }
    const labels: [string, string][] = [];
    for (const label of sample.label) {
      const value = str(label.str);
      if (value !== "") labels.push([str(label.key), value]);
    }
    samples.push({ funcs: funcsOf, lines: linesOf, values, labels });
  }
  return {
    sampleTypes,
    defaultIndex,
    timeNanos: int64(profile.timeNanos),
    durationNanos: int64(profile.durationNanos),
    comments: profile.comment.map((c) => str(c)),
    funcs,
    samples,
  };
}

/** Which samples, read by which value. */
export interface Selection {
  /** The sample type's index. */
  index: number;
  /** Label key → the values kept (a sample must match every key). */
  labels: Map<string, Set<string>>;
}

/** A bad query parameter, answered with Go's 400. */
export class SelectionError extends Error {
  override name = "SelectionError";
}

/**
 * The selection a query asks for: `sample=TYPE` (a sample type's name; the
 * profile's default when absent) and `label=KEY=VALUE`, repeatable (values
 * of one key are alternatives; different keys must all match).
 */
export function parseSelection(
  model: Model,
  params: URLSearchParams,
): Selection {
  const sample = params.get("sample");
  let index = model.defaultIndex;
  if (sample !== null && sample !== "") {
    index = model.sampleTypes.findIndex((t) => t.type === sample);
    if (index < 0) {
      throw new SelectionError(
        `invalid value for "sample" - must be one of ${
          model.sampleTypes.map((t) => t.type).join(", ")
        }`,
      );
    }
  }
  const labels = new Map<string, Set<string>>();
  for (const selector of params.getAll("label")) {
    const eq = selector.indexOf("=");
    if (eq <= 0) {
      throw new SelectionError(
        `invalid value for "label" - want KEY=VALUE, got ${
          JSON.stringify(selector)
        }`,
      );
    }
    const key = selector.slice(0, eq);
    const values = labels.get(key) ?? new Set();
    values.add(selector.slice(eq + 1));
    labels.set(key, values);
  }
  return { index, labels };
}

/** The same selection for another profile: its sample type of the same name. */
export function selectionFor(
  model: Model,
  other: Model,
  selection: Selection,
): Selection {
  const type = model.sampleTypes[selection.index]?.type;
  const index = other.sampleTypes.findIndex((t) => t.type === type);
  if (index < 0) {
    throw new SelectionError(
      `the base profile has no sample type ${type} (it has ${
        other.sampleTypes.map((t) => t.type).join(", ")
      })`,
    );
  }
  return { index, labels: selection.labels };
}

function matches(sample: ModelSample, labels: Map<string, Set<string>>) {
  for (const [key, values] of labels) {
    if (!sample.labels.some(([k, v]) => k === key && values.has(v))) {
      return false;
    }
  }
  return true;
}

/** The selected samples with their value, zero values left out. */
export function selected(
  model: Model,
  selection: Selection,
): { sample: ModelSample; value: number }[] {
  const out: { sample: ModelSample; value: number }[] = [];
  for (const sample of model.samples) {
    const value = sample.values[selection.index] ?? 0;
    if (value !== 0 && matches(sample, selection.labels)) {
      out.push({ sample, value });
    }
  }
  return out;
}

/** A profile set against a base: `base` values are subtracted, scaled by `scale`. */
export interface Comparison {
  model: Model;
  selection: Selection;
  /** 1, or new total / base total with `normalize` (pprof's -normalize). */
  scale: number;
}

export function compareTo(
  model: Model,
  selection: Selection,
  base: Model,
  normalize: boolean,
): Comparison {
  const baseSelection = selectionFor(model, base, selection);
  let scale = 1;
  if (normalize) {
    const total = sum(selected(model, selection));
    const baseTotal = sum(selected(base, baseSelection));
    if (baseTotal !== 0) scale = total / baseTotal;
  }
  return { model: base, selection: baseSelection, scale };
}

function sum(values: { value: number }[]): number {
  let total = 0;
  for (const v of values) total += v.value;
  return total;
}

/** The string labels of a profile: key → value → samples and the selected value. */
export function labelSummary(
  model: Model,
  index: number,
): { key: string; values: { value: string; total: number }[] }[] {
  const keys = new Map<string, Map<string, number>>();
  for (const sample of model.samples) {
    for (const [key, value] of sample.labels) {
      let values = keys.get(key);
      if (!values) keys.set(key, values = new Map());
      values.set(value, (values.get(value) ?? 0) + (sample.values[index] ?? 0));
    }
  }
  return [...keys].sort(([a], [b]) => a < b ? -1 : 1).map(([key, values]) => ({
    key,
    values: [...values].map(([value, total]) => ({ value, total }))
      .sort((a, b) => b.total - a.total || (a.value < b.value ? -1 : 1)),
  }));
}

/**
 * The flame tree, flat in preorder (root first, children by size): node
 * `i` is function `func[i]` (-1 for the root) at depth `depth[i]`, with the
 * total `value[i]` and, against a base, `base[i]`. Functions are `[name,
 * file]` pairs, shared by both profiles.
 */
export interface FlameTree {
  funcs: [string, string][];
  func: number[];
  depth: number[];
  value: number[];
  base?: number[];
}

interface TreeNode {
  func: number;
  value: number;
  base: number;
  children: Map<number, TreeNode> | undefined;
}

/** Functions of one or more profiles in one table, by name and file. */
class FuncTable {
  readonly funcs: [string, string][] = [];
  readonly #index = new Map<string, number>();
  /** Index in this table of each of `model`'s functions. */
  map(model: Model): number[] {
    return model.funcs.map((f) => {
      const key = `${f.name}\0${f.file}`;
      let index = this.#index.get(key);
      if (index === undefined) {
        index = this.funcs.length;
        this.funcs.push([f.name, f.file]);
        this.#index.set(key, index);
      }
      return index;
    });
  }
}

export function flameTree(
  model: Model,
  selection: Selection,
  comparison?: Comparison,
): FlameTree {
  const table = new FuncTable();
  const root: TreeNode = { func: -1, value: 0, base: 0, children: undefined };
  const add = (
    m: Model,
    s: Selection,
    into: "value" | "base",
    scale: number,
  ) => {
    const ids = table.map(m);
    for (const { sample, value } of selected(m, s)) {
      const v = value * scale;
      root[into] += v;
      let node = root;
      for (let i = sample.funcs.length - 1; i >= 0; i--) {
        const func = ids[sample.funcs[i]!]!;
        node.children ??= new Map();
        let child = node.children.get(func);
        if (!child) {
          child = { func, value: 0, base: 0, children: undefined };
          node.children.set(func, child);
        }
        child[into] += v;
        node = child;
      }
    }
  };
  add(model, selection, "value", 1);
  if (comparison) {
    add(comparison.model, comparison.selection, "base", comparison.scale);
  }
  const tree: FlameTree = {
    funcs: table.funcs,
    func: [],
    depth: [],
    value: [],
  };
  const base: number[] = [];
  const size = (n: TreeNode) => Math.abs(n.value) + Math.abs(n.base);
  const stack: [TreeNode, number][] = [[root, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    tree.func.push(node.func);
    tree.depth.push(depth);
    tree.value.push(node.value);
    base.push(node.base);
    if (!node.children) continue;
    const children = [...node.children.values()].sort((a, b) =>
      size(b) - size(a) || compareNames(table.funcs, a.func, b.func)
    );
    // Pushed in reverse so the biggest is drawn first (leftmost).
    for (let i = children.length - 1; i >= 0; i--) {
      stack.push([children[i]!, depth + 1]);
    }
  }
  if (comparison) tree.base = base;
  return tree;
}

function compareNames(funcs: [string, string][], a: number, b: number) {
  const x = funcs[a]![0];
  const y = funcs[b]![0];
  return x < y ? -1 : x > y ? 1 : 0;
}

/** One function in the top table. */
export interface TopRow {
  name: string;
  file: string;
  /** The function's line with the most flat cost, else the one with most cumulative, else its start. */
  line: number;
  flat: number;
  cum: number;
  baseFlat?: number;
  baseCum?: number;
}

interface Acc {
  flat: number;
  cum: number;
  baseFlat: number;
  baseCum: number;
  /** line → [flat, cum], in the profile and in the base */
  lines: Map<number, [number, number]>;
  baseLines: Map<number, [number, number]>;
}

/**
 * Flat (as the leaf) and cumulative (anywhere on the stack, once per sample
 * however often recursion repeats it) cost per function, largest flat first;
 * against a base, largest growth in flat first.
 */
export function topTable(
  model: Model,
  selection: Selection,
  comparison?: Comparison,
): TopRow[] {
  const table = new FuncTable();
  const accs = new Map<number, Acc>();
  const acc = (func: number) => {
    let a = accs.get(func);
    if (!a) {
      accs.set(
        func,
        a = {
          flat: 0,
          cum: 0,
          baseFlat: 0,
          baseCum: 0,
          lines: new Map(),
          baseLines: new Map(),
        },
      );
    }
    return a;
  };
  const add = (m: Model, s: Selection, scale: number, isBase: boolean) => {
    const ids = table.map(m);
    const seen = new Set<number>();
    for (const { sample, value } of selected(m, s)) {
      const v = value * scale;
      seen.clear();
      for (let i = 0; i < sample.funcs.length; i++) {
        const func = ids[sample.funcs[i]!]!;
        const a = acc(func);
        if (i === 0) {
          if (isBase) a.baseFlat += v;
          else a.flat += v;
        }
        if (seen.has(func)) continue;
        seen.add(func);
        if (isBase) a.baseCum += v;
        else a.cum += v;
        const lines = isBase ? a.baseLines : a.lines;
        const line = sample.lines[i]!;
        const costs = lines.get(line) ?? [0, 0];
        if (i === 0) costs[0] += v;
        costs[1] += v;
        lines.set(line, costs);
      }
    }
  };
  add(model, selection, 1, false);
  if (comparison) {
    add(comparison.model, comparison.selection, comparison.scale, true);
  }
  const starts = new Map(
    model.funcs.map((f) => [`${f.name}\0${f.file}`, f.startLine]),
  );
  const rows: TopRow[] = [];
  for (const [func, a] of accs) {
    const [name, file] = table.funcs[func]!;
    let line = starts.get(`${name}\0${file}`) ?? 0;
    let best: [number, number] | undefined;
    // A function gone since the base: its line there.
    for (const [l, costs] of a.lines.size > 0 ? a.lines : a.baseLines) {
      if (
        l > 0 &&
        (!best || costs[0] > best[0] ||
          (costs[0] === best[0] && costs[1] > best[1]))
      ) {
        best = costs;
        line = l;
      }
    }
    const row: TopRow = { name, file, line, flat: a.flat, cum: a.cum };
    if (comparison) {
      row.baseFlat = a.baseFlat;
      row.baseCum = a.baseCum;
    }
    rows.push(row);
  }
  const key = comparison
    ? (r: TopRow) => [r.flat - r.baseFlat!, r.cum - r.baseCum!]
    : (r: TopRow) => [r.flat, r.cum];
  return rows.sort((a, b) => {
    const [af, ac] = key(a);
    const [bf, bc] = key(b);
    return bf! - af! || bc! - ac! || (a.name < b.name ? -1 : 1);
  });
}

/** The cost of one source line. */
export interface LineCost {
  file: string;
  line: number;
  /** The function the line is in (the first seen, where several are). */
  name: string;
  flat: number;
  cum: number;
  baseFlat?: number;
  baseCum?: number;
}

/** Flat and cumulative cost per `file:line`, largest flat first (lines 0 left out). */
export function lineCosts(
  model: Model,
  selection: Selection,
  comparison?: Comparison,
): LineCost[] {
  const costs = new Map<string, LineCost>();
  const add = (m: Model, s: Selection, scale: number, isBase: boolean) => {
    const seen = new Set<string>();
    for (const { sample, value } of selected(m, s)) {
      const v = value * scale;
      seen.clear();
      for (let i = 0; i < sample.funcs.length; i++) {
        const line = sample.lines[i]!;
        if (line <= 0) continue;
        const fn = m.funcs[sample.funcs[i]!]!;
        const key = `${fn.file}\0${line}`;
        let c = costs.get(key);
        if (!c) {
          c = { file: fn.file, line, name: fn.name, flat: 0, cum: 0 };
          if (comparison) c.baseFlat = c.baseCum = 0;
          costs.set(key, c);
        }
        if (i === 0) {
          if (isBase) c.baseFlat! += v;
          else c.flat += v;
        }
        if (seen.has(key)) continue;
        seen.add(key);
        if (isBase) c.baseCum! += v;
        else c.cum += v;
      }
    }
  };
  add(model, selection, 1, false);
  if (comparison) {
    add(comparison.model, comparison.selection, comparison.scale, true);
  }
  return [...costs.values()].sort((a, b) =>
    b.flat - a.flat || b.cum - a.cum ||
    (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line)
  );
}

/** A call path, root first, and what the samples ending on it cost. */
export interface CallPath {
  frames: { name: string; file: string; line: number }[];
  value: number;
}

/** The `n` heaviest call paths (whole stacks, lines included), heaviest first. */
export function heaviestPaths(
  model: Model,
  selection: Selection,
  n: number,
): CallPath[] {
  const paths = new Map<string, { sample: ModelSample; value: number }>();
  for (const { sample, value } of selected(model, selection)) {
    const key = `${sample.funcs.join(",")};${sample.lines.join(",")}`;
    const path = paths.get(key);
    if (path) path.value += value;
    else paths.set(key, { sample, value });
  }
  return [...paths.values()].sort((a, b) => b.value - a.value).slice(0, n)
    .map(({ sample, value }) => ({
      value,
      frames: sample.funcs.map((f, i) => ({
        name: model.funcs[f]!.name,
        file: model.funcs[f]!.file,
        line: sample.lines[i]!,
      })).reverse(),
    }));
}

/** The total of the selected samples. */
export function total(model: Model, selection: Selection): number {
  return sum(selected(model, selection));
}
