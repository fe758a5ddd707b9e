/**
 * The process's profiler as the `/debug/pprof` surfaces reach it: through
 * the watcher where the process has a private inspector (`coredeno run`, or
 * Deno's `--inspect=127.0.0.1:0 --inspect-publish-uid=none`), in-process
 * otherwise. The first surface decides; every later one shares it.
 */

import { LocalBackend } from "../profile/local.ts";
import {
  ProcessProfiler,
  processProfiler,
  type ProfilerSettings,
} from "../profile/process.ts";
import { goError } from "./http.ts";
import { engineOf } from "./engine.ts";
import {
  type AllowedNet,
  pprofSurface,
  type SurfaceHandler,
} from "./surface.ts";
import { privateInspectorUrl, WatcherBackend } from "./watch.ts";
import { message } from "../errors.ts";
import { pluginLogger } from "../log.ts";

const log = pluginLogger("pprof");

/** The process's profiler, made with the first surface's settings if there is none yet. */
export function pprofProcess(first: ProfilerSettings): ProcessProfiler {
  return processProfiler(() => {
    const url = privateInspectorUrl();
    const settings = {
      blockRate: first.blockRate ?? 0,
      allocations: first.allocations ?? false,
    };
    return new ProcessProfiler(
      url ? new WatcherBackend({ url, settings }) : new LocalBackend(),
    );
  });
}

/**
 * A surface's request handler on this thread: the watcher's surface by
 * message in a watched process, the endpoints here otherwise. Requests wait
 * for the profiler to sample as asked; if it cannot (no `--allow-sys`), they
 * get Go's 500 with the reason, and the process lives on.
 */
export function surfaceHandler(
  process: ProcessProfiler,
  ready: Promise<void>,
  options: {
    allow: readonly AllowedNet[];
    path: string;
    /**
     * End long captures when the client goes away. Reading `request.signal`
     * makes Deno print a note into the process's stderr (outside
     * `--unstable-no-legacy-abort`), so only coredeno's own surfaces do it
     * (it runs with that flag); a program's do not.
     */
    clientSignal?: boolean;
  },
): SurfaceHandler {
  ready.catch((error) =>
    log.error(`profiler did not start: ${message(error)}`)
  );
  const backend = process.backend;
  const serve: SurfaceHandler = backend instanceof WatcherBackend
    ? (request, info) =>
      backend.serve(request, info, {
        allow: options.allow.map((a) => a.text),
        path: options.path,
      })
    : pprofSurface(
      options,
      engineOf(() => backend.profiler, () => process.agreed()),
    );
  return async (request, info, shutdown) => {
    try {
      await ready;
    } catch (error) {
      return goError(500, `profiler did not start: ${message(error)}`);
    }
    return await serve(request, info, shutdown);
  };
}
