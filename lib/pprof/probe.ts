/**
 * A Worker that asks the inspector for its target list while the main
 * thread waits (watch.ts: `privateInspectorUrl`): the answer's status goes
 * into the shared flag `[done, status]`.
 *
 * @module
 */

import { workerData } from "node:worker_threads";

const { url, flag } = workerData as { url: string; flag: SharedArrayBuffer };
const status = await fetch(url).then(async (r) => {
  await r.body?.cancel();
  return r.status;
}, () => 0);
const cell = new Int32Array(flag);
cell[1] = status;
Atomics.store(cell, 0, 1);
Atomics.notify(cell, 0);
