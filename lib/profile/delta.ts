/**
 * Go's delta profile (`net/http/pprof` `?seconds=N` on named profiles): p0's
 * values negated and merged with p1's.
 */

import {
  Function as PprofFunction,
  Label,
  Line,
  Location,
  Mapping,
  Profile,
  Sample,
  StringTable,
  ValueType,
} from "../deps.ts";
import { int64, type Numeric, str } from "./pprof.ts";

/**
 * p1 − p0, as Go computes it: every value of p0 multiplied by −1, samples
 * merged with p1's by their frames (function, file, line of every location,
 * outermost last) and labels; samples whose values are all zero dropped,
 * negative values kept. `time_nanos` = p1's, `duration_nanos` = p1 − p0
 * time, period = the larger, default sample type from p1, comments of both.
 * Throws when sample types or period types differ (Go answers 500 then).
 */
export function deltaProfile(p0: Profile, p1: Profile): Profile {
  const types0 = valueTypes(p0);
  const types1 = valueTypes(p1);
  if (types0.join(",") !== types1.join(",")) {
    throw new Error(
      `cannot compute delta: sample types differ (${types0} vs ${types1})`,
    );
  }
  const period0 = p0.periodType ? valueType(p0, p0.periodType) : "";
  const period1 = p1.periodType ? valueType(p1, p1.periodType) : "";
  if (period0 && period1 && period0 !== period1) {
    throw new Error(
      `cannot compute delta: period types differ (${period0} vs ${period1})`,
    );
  }

  const out = new Merger();
  out.add(p0, -1);
  out.add(p1, 1);
  const result = out.profile;

  const t = result.stringTable;
  result.sampleType = p1.sampleType.map((v) =>
    new ValueType({
      type: t.dedup(str(p1, v.type)),
      unit: t.dedup(str(p1, v.unit)),
    })
  );
  const periodType = p1.periodType ?? p0.periodType;
  const periodOwner = p1.periodType ? p1 : p0;
  if (periodType) {
    result.periodType = new ValueType({
      type: t.dedup(str(periodOwner, periodType.type)),
      unit: t.dedup(str(periodOwner, periodType.unit)),
    });
  }
  result.period = Math.max(int64(p0.period), int64(p1.period));
  const time0 = int64(p0.timeNanos);
  const time1 = int64(p1.timeNanos);
  result.timeNanos = time1;
  result.durationNanos = time0 && time1 ? Math.max(0, time1 - time0) : 0;
  const defaultType = str(p1, p1.defaultSampleType);
  if (defaultType) result.defaultSampleType = t.dedup(defaultType);
  const comments = [
    ...new Set([...commentsOf(p0), ...commentsOf(p1)]),
  ];
  result.comment = comments.map((c) => t.dedup(c));
  const drop = str(p1, p1.dropFrames);
  if (drop) result.dropFrames = t.dedup(drop);
  const keep = str(p1, p1.keepFrames);
  if (keep) result.keepFrames = t.dedup(keep);
  return result;
}

function valueType(p: Profile, v: { type: Numeric; unit: Numeric }): string {
  return `${str(p, v.type)}/${str(p, v.unit)}`;
}

function valueTypes(p: Profile): string[] {
  return p.sampleType.map((v) => valueType(p, v));
}

function commentsOf(p: Profile): string[] {
  return p.comment.map((c) => str(p, c));
}

/** Accumulates samples of several profiles into one, deduplicating ids. */
class Merger {
  readonly profile = new Profile({ stringTable: new StringTable() });
  readonly #functions = new Map<string, number>();
  readonly #mappings = new Map<string, number>();
  readonly #locations = new Map<string, number>();
  readonly #samples = new Map<string, Sample>();
  readonly #order: string[] = [];

  #s(p: Profile, index: Numeric | undefined): number {
    return this.profile.stringTable.dedup(str(p, index));
  }

  add(p: Profile, factor: number): void {
    const fnById = new Map(p.function.map((f) => [int64(f.id), f]));
    const mapById = new Map(p.mapping.map((m) => [int64(m.id), m]));
    const locById = new Map(p.location.map((l) => [int64(l.id), l]));
    const fnIds = new Map<number, [number, string]>();
    const mapIds = new Map<number, [number, string]>();
    const locIds = new Map<number, [number, string]>();

    const fn = (id: number): [number, string] => {
      const cached = fnIds.get(id);
      if (cached) return cached;
      const f = fnById.get(id);
      const key = f
        ? [
          str(p, f.name),
          str(p, f.systemName),
          str(p, f.filename),
          int64(f.startLine),
        ]
          .join("\u0000")
        : `missing ${id}`;
      let newId = this.#functions.get(key);
      if (newId === undefined) {
        newId = this.#functions.size + 1;
        this.#functions.set(key, newId);
        this.profile.function.push(
          new PprofFunction({
            id: newId,
            name: f ? this.#s(p, f.name) : 0,
            systemName: f ? this.#s(p, f.systemName) : 0,
            filename: f ? this.#s(p, f.filename) : 0,
            startLine: f ? int64(f.startLine) : 0,
          }),
        );
      }
      const result: [number, string] = [newId, key];
      fnIds.set(id, result);
      return result;
    };

    const mapping = (id: number): [number, string] => {
      if (id === 0) return [0, ""];
      const cached = mapIds.get(id);
      if (cached) return cached;
      const m = mapById.get(id);
      const key = m
        ? [
          int64(m.memoryStart),
          int64(m.memoryLimit),
          int64(m.fileOffset),
          str(p, m.filename),
          str(p, m.buildId),
        ].join("\u0000")
        : `missing ${id}`;
      let newId = this.#mappings.get(key);
      if (newId === undefined) {
        newId = this.#mappings.size + 1;
        this.#mappings.set(key, newId);
        this.profile.mapping.push(
          new Mapping({
            id: newId,
            memoryStart: m ? m.memoryStart : 0,
            memoryLimit: m ? m.memoryLimit : 0,
            fileOffset: m ? m.fileOffset : 0,
            filename: m ? this.#s(p, m.filename) : 0,
            buildId: m ? this.#s(p, m.buildId) : 0,
            hasFunctions: m?.hasFunctions,
            hasFilenames: m?.hasFilenames,
            hasLineNumbers: m?.hasLineNumbers,
            hasInlineFrames: m?.hasInlineFrames,
          }),
        );
      }
      const result: [number, string] = [newId, key];
      mapIds.set(id, result);
      return result;
    };

    const location = (id: number): [number, string] => {
      const cached = locIds.get(id);
      if (cached) return cached;
      const l = locById.get(id);
      let key = `missing ${id}`;
      let lines: Line[] = [];
      let mappingId = 0;
      if (l) {
        const [mId, mKey] = mapping(int64(l.mappingId));
        mappingId = mId;
        const lineKeys: string[] = [];
        lines = l.line.map((line) => {
          const [fId, fKey] = fn(int64(line.functionId));
          lineKeys.push(`${fKey}:${int64(line.line)}:${int64(line.column)}`);
          return new Line({
            functionId: fId,
            line: int64(line.line),
            column: int64(line.column),
          });
        });
        key = [mKey, int64(l.address), l.isFolded ? 1 : 0, ...lineKeys]
          .join("\u0001");
      }
      let newId = this.#locations.get(key);
      if (newId === undefined) {
        newId = this.#locations.size + 1;
        this.#locations.set(key, newId);
        this.profile.location.push(
          new Location({
            id: newId,
            mappingId,
            address: l ? l.address : 0,
            line: lines,
            isFolded: l?.isFolded,
          }),
        );
      }
      const result: [number, string] = [newId, key];
      locIds.set(id, result);
      return result;
    };

    for (const s of p.sample) {
      const locs = s.locationId.map((id) => location(int64(id)));
      const labels = s.label.map((l) => ({
        key: str(p, l.key),
        str: str(p, l.str),
        num: int64(l.num),
        unit: str(p, l.numUnit),
      }));
      const labelKey = labels
        .map((l) => l.str ? `${l.key}=${l.str}` : `${l.key}#${l.num}${l.unit}`)
        .sort()
        .join("\u0002");
      const key = `${locs.map(([, k]) => k).join("\u0003")}\u0004${labelKey}`;
      const values = s.value.map((v) => int64(v) * factor);
      const existing = this.#samples.get(key);
      if (existing) {
        existing.value = existing.value.map((v, i) =>
          int64(v) + (values[i] ?? 0)
        );
        continue;
      }
      const t = this.profile.stringTable;
      this.#samples.set(
        key,
        new Sample({
          locationId: locs.map(([id]) => id),
          value: values,
          label: labels.map((l) =>
            new Label({
              key: t.dedup(l.key),
              ...(l.str ? { str: t.dedup(l.str) } : { num: l.num }),
              ...(l.unit ? { numUnit: t.dedup(l.unit) } : {}),
            })
          ),
        }),
      );
      this.#order.push(key);
    }
    this.profile.sample = this.#order
      .map((k) => this.#samples.get(k)!)
      .filter((s) => s.value.some((v) => int64(v) !== 0));
  }
}
