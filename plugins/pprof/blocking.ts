/**
 * The process's stall detector (the block profile), held by every running
 * pprof configuration that sets `block`. A reload starts the new
 * configuration before stopping the old one, so detection (and its
 * cumulative records) carries on across an unchanged reload; the newest
 * configuration's rate wins.
 */

import {
  startBlockProfiling,
  stopBlockProfiling,
} from "../../lib/profile/mod.ts";

let holders = 0;

/** Starts (or keeps, at `rate`) stall detection; returns the release. */
export function holdBlockProfiling(rate: number): () => Promise<void> {
  startBlockProfiling(rate);
  holders++;
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    if (--holders === 0) await stopBlockProfiling();
  };
}
