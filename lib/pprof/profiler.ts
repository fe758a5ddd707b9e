/**
 * The process's one profiler, shared by every pprof surface in it: the
 * Corefile's listeners, `pprofHandler()`s and `servePprof()`s. V8 has one
 * heap sampler and the stall detector is process-wide, so their settings are
 * the process's, kept while any surface holds them.
 *
 * Two ways to disagree: a library user who asks two surfaces for different
 * settings gets an error (one of them would serve something else than it
 * asked for); a Corefile reload starts the new configuration before stopping
 * the old one, so its holds `supersede` and the newest settings win, keeping
 * the sampler (and its history) when they are unchanged.
 */

import { pluginLogger } from "../log.ts";
import {
  heapSamplingMode,
  startBlockProfiling,
  startHeapSampling,
  stopBlockProfiling,
  stopHeapSampling,
} from "../profile/mod.ts";
import { scheduleProfilerWarmUp } from "../profile/warm.ts";

const log = pluginLogger("pprof");

/** What one surface asks of the process's profiler. */
export interface ProfilerSettings {
  /** Block-profile rate in nanoseconds (Go's meaning); 0: no block profile. */
  blockRate: number;
  /** Sample every allocation (cumulative `alloc_space`) instead of live objects. */
  allocations: boolean;
}

/** Settings that contradict what another surface of this process holds. */
export class PprofConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PprofConflictError";
  }
}

interface Hold {
  settings: ProfilerSettings;
  /** Names the holder in conflict messages (`pprofHandler()`, `Corefile:3`). */
  source: string;
}

/** Live holds, oldest first: the newest decides where they supersede. */
const holds: Hold[] = [];
/** Applications run one after another, so a release never overtakes a hold. */
let applying: Promise<void> = Promise.resolve();

/**
 * Holds the profiler with `settings` until the returned release is called;
 * the promise settles once sampling runs as asked. Throws
 * `PprofConflictError` at once when another live hold disagrees, unless
 * `supersede`.
 */
export function holdProfiler(
  settings: ProfilerSettings,
  options: { source: string; supersede?: boolean },
): { ready: Promise<void>; release: () => Promise<void> } {
  if (!options.supersede) {
    const conflict = conflictWith(settings);
    if (conflict) {
      throw new PprofConflictError(
        `pprof: ${options.source}: ${conflict.what} conflicts with ${conflict.theirs} held by ${conflict.hold.source} (the profiler is process-wide)`,
      );
    }
  }
  const hold: Hold = { settings, source: options.source };
  holds.push(hold);
  const ready = apply();
  scheduleProfilerWarmUp();
  let released: Promise<void> | undefined;
  return {
    ready,
    release() {
      released ??= (() => {
        holds.splice(holds.indexOf(hold), 1);
        return apply();
      })();
      return released;
    },
  };
}

/** The block rate in force for the process (0: off). */
export function heldBlockRate(): number {
  return holds.findLast((h) => h.settings.blockRate > 0)?.settings.blockRate ??
    0;
}

function conflictWith(settings: ProfilerSettings) {
  for (const hold of holds) {
    const theirs = hold.settings;
    if (theirs.allocations !== settings.allocations) {
      return {
        hold,
        what: settings.allocations ? "allocations: true" : "live-heap sampling",
        theirs: theirs.allocations ? "allocations: true" : "live-heap sampling",
      };
    }
    if (
      settings.blockRate > 0 && theirs.blockRate > 0 &&
      settings.blockRate !== theirs.blockRate
    ) {
      return {
        hold,
        what: `block rate ${settings.blockRate}`,
        theirs: `block rate ${theirs.blockRate}`,
      };
    }
  }
  return undefined;
}

/** Brings the samplers in line with the live holds. */
function apply(): Promise<void> {
  applying = applying.catch(() => {}).then(async () => {
    const newest = holds.at(-1);
    if (newest === undefined) {
      await Promise.all([stopHeapSampling(), stopBlockProfiling()]);
      return;
    }
    const wanted = newest.settings.allocations ? "allocations" : "inuse";
    const current = heapSamplingMode();
    if (current !== "off" && current !== wanted) {
      log.info(
        `heap sampling switches from ${current} to ${wanted}; earlier samples are dropped`,
      );
    }
    await startHeapSampling({ allocations: newest.settings.allocations });
    const rate = heldBlockRate();
    if (rate > 0) startBlockProfiling(rate);
    else await stopBlockProfiling();
  });
  return applying;
}
