/**
 * The process's heap sampler, held by every running pprof configuration.
 * A reload starts the new configuration before stopping the old one, so the
 * sampler (and the live-heap history it holds) survives an unchanged reload.
 */

import { pluginLogger } from "../../lib/log.ts";
import {
  heapSamplingMode,
  startHeapSampling,
  stopHeapSampling,
} from "../../lib/profile/mod.ts";

const log = pluginLogger("pprof");
let holders = 0;

/**
 * Starts (or keeps) sampling at Go's MemProfileRate, 512 KiB, in the mode
 * asked for; returns the release. Switching mode restarts V8's one sampler,
 * which drops what it had sampled, so it is said in the log.
 */
export async function holdHeapSampling(
  allocations: boolean,
): Promise<() => Promise<void>> {
  const wanted = allocations ? "allocations" : "inuse";
  const current = heapSamplingMode();
  if (current !== "off" && current !== wanted) {
    log.info(
      `heap sampling switches from ${current} to ${wanted}; earlier samples are dropped`,
    );
  }
  await startHeapSampling({ allocations });
  holders++;
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    if (--holders === 0) await stopHeapSampling();
  };
}
