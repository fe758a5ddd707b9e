/**
 * pprof profiles made to order for the viewer's tests and bench: stacks of
 * named frames with values and string labels (`isolate=main`), encoded with
 * `pprof-format` and gzipped as a server serves them.
 */

import { gzipSync } from "node:zlib";
import {
  Function as PprofFunction,
  Label,
  Line,
  Location,
  Profile,
  Sample,
  StringTable,
  ValueType,
} from "../../lib/deps.ts";

/** A frame: function name, file, line (line 0 unknown). */
export type Frame = readonly [name: string, file: string, line: number];

export interface Stack {
  /** Root first. */
  frames: readonly Frame[];
  values: readonly number[];
  labels?: Readonly<Record<string, string>>;
}

export const CPU_TYPES = [["samples", "count"], [
  "cpu",
  "nanoseconds",
]] as const;

/** The profile of `stacks`, as pprof-format's `Profile`. */
export function buildProfile(
  stacks: readonly Stack[],
  options: {
    sampleTypes?: readonly (readonly [string, string])[];
    defaultType?: string;
    durationNanos?: number;
  } = {},
): Profile {
  const strings = new StringTable();
  const s = (text: string) => strings.dedup(text);
  const functions = new Map<string, PprofFunction>();
  const locations = new Map<string, Location>();
  const locationOf = ([name, file, line]: Frame) => {
    const fnKey = `${name}\0${file}`;
    let fn = functions.get(fnKey);
    if (!fn) {
      fn = new PprofFunction({
        id: functions.size + 1,
        name: s(name),
        systemName: s(name),
        filename: s(file),
      });
      functions.set(fnKey, fn);
    }
    const key = `${fnKey}\0${line}`;
    let location = locations.get(key);
    if (!location) {
      location = new Location({
        id: locations.size + 1,
        line: [new Line({ functionId: fn.id, line })],
      });
      locations.set(key, location);
    }
    return location.id;
  };
  const sample = stacks.map((stack) =>
    new Sample({
      locationId: stack.frames.map(locationOf).reverse(),
      value: [...stack.values],
      label: Object.entries(stack.labels ?? {}).map(([key, value]) =>
        new Label({ key: s(key), str: s(value) })
      ),
    })
  );
  const types = options.sampleTypes ?? CPU_TYPES;
  return new Profile({
    sampleType: types.map(([type, unit]) =>
      new ValueType({ type: s(type), unit: s(unit) })
    ),
    sample,
    location: [...locations.values()],
    function: [...functions.values()],
    stringTable: strings,
    timeNanos: 1_700_000_000_000_000_000n,
    durationNanos: options.durationNanos ?? 10e9,
    ...(options.defaultType
      ? { defaultSampleType: s(options.defaultType) }
      : {}),
  });
}

/** `buildProfile`'s profile, gzipped as a server serves it. */
export function profileBytes(
  stacks: readonly Stack[],
  options?: Parameters<typeof buildProfile>[1],
): Uint8Array {
  return gzipSync(buildProfile(stacks, options).encode());
}

const APP = "file:///srv/app/main.ts";
const WORKER = "file:///srv/app/worker.ts";

/** CPU samples of `ms` milliseconds each (10 ms per sample). */
function cpu(ms: number): number[] {
  return [ms / 10, ms * 1e6];
}

/**
 * Two isolates' CPU: the main one's `handle` and `parse`, a worker's
 * `crunch`, each sample labelled `isolate=main` or `isolate=worker:1`.
 */
export function labelledProfile(): Uint8Array {
  const main = { isolate: "main" };
  const worker = { isolate: "worker:1" };
  return profileBytes([
    {
      frames: [["main", APP, 3], ["handle", APP, 12]],
      values: cpu(300),
      labels: main,
    },
    {
      frames: [["main", APP, 3], ["handle", APP, 14], ["parse", APP, 30]],
      values: cpu(100),
      labels: main,
    },
    {
      frames: [["onmessage", WORKER, 5], ["crunch", WORKER, 9]],
      values: cpu(500),
      labels: worker,
    },
  ]);
}

/**
 * A base and a later profile of the same app: `handle` the same, `parse`
 * halved, and `added` new in the later one.
 */
export function diffPair(): { base: Uint8Array; now: Uint8Array } {
  const handle: Stack = {
    frames: [["main", APP, 3], ["handle", APP, 12]],
    values: cpu(300),
  };
  return {
    base: profileBytes([
      handle,
      {
        frames: [["main", APP, 3], ["handle", APP, 14], ["parse", APP, 30]],
        values: cpu(200),
      },
    ]),
    now: profileBytes([
      handle,
      {
        frames: [["main", APP, 3], ["handle", APP, 14], ["parse", APP, 30]],
        values: cpu(100),
      },
      {
        frames: [["main", APP, 3], ["handle", APP, 16], ["added", APP, 40]],
        values: cpu(250),
      },
    ]),
  };
}

/**
 * A CPU profile whose call tree has `nodes` nodes (distinct call paths),
 * shaped like a server's: a few branches near the root, then mostly long
 * call chains that fork now and then, up to 60 deep; each node a sample of
 * its own; function names reused across the tree as in a real program.
 * Fixed seed: the same profile every time.
 */
export function largeProfile(nodes: number): Uint8Array {
  let seed = 42;
  const random = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const names = 6000;
  const stacks: Stack[] = [];
  const queue: Frame[][] = [[]];
  let made = 0;
  for (let next = 0; made < nodes && next < queue.length; next++) {
    const path = queue[next]!;
    const depth = path.length;
    const children = depth >= 60
      ? 0
      : depth < 3
      ? 3 + Math.floor(random() * 6)
      : random() < 0.85
      ? 1
      : 2 + Math.floor(random() * 3);
    const used = new Set<number>();
    for (let c = 0; c < children && made < nodes; c++) {
      let k = Math.floor(random() * names);
      while (used.has(k)) k = (k + 1) % names;
      used.add(k);
      const frame: Frame = [
        `fn${k}`,
        `file:///srv/big/m${k % 97}.ts`,
        1 + k % 300,
      ];
      const child = [...path, frame];
      const ms = 1 + Math.floor(50 * random() ** 2);
      stacks.push({ frames: child, values: cpu(ms * 10) });
      queue.push(child);
      made++;
    }
  }
  return profileBytes(stacks);
}
