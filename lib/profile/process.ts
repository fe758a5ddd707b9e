/**
 * The process's profiler, as the main thread holds it: one per process, the
 * one every surface goes through (the Corefile plugin, `servePprof`,
 * `pprofHandler`, `withPprof`, the `@datadog/pprof`-shaped API,
 * `coredeno run`). It keeps the settings the surfaces agreed on and the
 * backend that does the work:
 *
 * - "local": the {@link Profiler} on this thread, over an in-process
 *   inspector session (main isolate only; served when the loop yields);
 * - "watcher": the Profiler runs in a watcher Worker that reaches every
 *   isolate through the process's private inspector (lib/pprof/watch.ts
 *   installs it); this side forwards.
 *
 * Two copies of this library in one program (the `coredeno run` preload
 * and an app's own import, say) still share one: it is kept under a
 * `Symbol.for` key on `globalThis`.
 */

import type { Profiler } from "./profiler.ts";
import type { SourceMaps } from "./sourcemap.ts";
import type {
  AgreedSettings,
  ProfilerSettings,
  RawCpuCapture,
  RawHeapProfile,
} from "./types.ts";

export type { AgreedSettings, ProfilerSettings };

/** Settings that contradict what another surface of this process holds. */
export class PprofConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PprofConflictError";
  }
}

/** The part that does the work, here or in the watcher. */
export interface Backend {
  readonly kind: "local" | "watcher";
  /**
   * Called at once when a hold is taken: the backend gets ready to capture
   * synchronously (a capture may start in the same breath).
   */
  prepare(settings: AgreedSettings): void;
  /** Brings the samplers in line with `settings`; undefined: nobody holds the profiler. */
  apply(settings: AgreedSettings | undefined): Promise<void>;
  /** Source maps for profiles built on this thread. */
  sourceMaps(): Promise<SourceMaps>;
  /** Heap sampling as in force (mode, interval): `heap.start`'s options. */
  setHeapSampling(
    mode: "inuse" | "allocations",
    options: { intervalBytes?: number; stackDepth?: number },
  ): Promise<void>;
  /** The profiler, when it runs on this thread (and is running). */
  readonly profiler: Profiler | undefined;
  /** Starts a CPU capture of every isolate reached; throws when one runs. */
  startCpu(): { stop(): Promise<RawCpuCapture> };
  readHeap(options?: { gc?: boolean }): Promise<RawHeapProfile>;
}

interface Hold {
  settings: ProfilerSettings;
  /** Names the holder in conflict messages (`pprofHandler()`, `Corefile:3`). */
  source: string;
}

/** A surface's hold on the profiler. */
export interface ProfilerHold {
  /** Settles once the profiler samples as asked. */
  ready: Promise<void>;
  /** Ends the hold; the last one stops the profiler. */
  release(): Promise<void>;
}

export class ProcessProfiler {
  readonly backend: Backend;
  /** Live holds, oldest first: the newest decides where they supersede. */
  readonly #holds: Hold[] = [];
  /** Applications run one after another, so a release never overtakes a hold. */
  #applying: Promise<void> = Promise.resolve();

  constructor(backend: Backend) {
    this.backend = backend;
  }

  /**
   * Holds the profiler with `settings` until released; `ready` settles
   * once sampling runs as asked. Throws `PprofConflictError` at once when
   * another live hold disagrees, unless `supersede` (a Corefile reload
   * starts the new configuration before it stops the old one).
   */
  hold(
    settings: ProfilerSettings,
    options: { source: string; supersede?: boolean },
  ): ProfilerHold {
    if (!options.supersede) {
      const conflict = this.#conflictWith(settings);
      if (conflict) {
        throw new PprofConflictError(
          `pprof: ${options.source}: ${conflict.what} conflicts with ${conflict.theirs} held by ${conflict.hold.source} (the profiler is process-wide)`,
        );
      }
    }
    const hold: Hold = { settings, source: options.source };
    this.#holds.push(hold);
    try {
      this.backend.prepare(this.agreed()!);
    } catch {
      // `apply` meets the same failure and `ready` reports it
    }
    const ready = this.#apply();
    let released: Promise<void> | undefined;
    return {
      ready,
      release: () =>
        released ??= (() => {
          this.#holds.splice(this.#holds.indexOf(hold), 1);
          return this.#apply();
        })(),
    };
  }

  /** The settings in force; undefined while nothing holds the profiler. */
  agreed(): AgreedSettings | undefined {
    if (this.#holds.length === 0) return undefined;
    const allocations =
      this.#holds.findLast((h) => h.settings.allocations !== undefined)
        ?.settings.allocations ?? false;
    const blockRate =
      this.#holds.findLast((h) => (h.settings.blockRate ?? 0) > 0)?.settings
        .blockRate ?? 0;
    return { blockRate, allocations };
  }

  #conflictWith(settings: ProfilerSettings) {
    for (const hold of this.#holds) {
      const theirs = hold.settings;
      if (
        settings.allocations !== undefined &&
        theirs.allocations !== undefined &&
        theirs.allocations !== settings.allocations
      ) {
        return {
          hold,
          what: settings.allocations
            ? "allocations: true"
            : "live-heap sampling",
          theirs: theirs.allocations
            ? "allocations: true"
            : "live-heap sampling",
        };
      }
      const mine = settings.blockRate ?? 0;
      const other = theirs.blockRate ?? 0;
      if (mine > 0 && other > 0 && mine !== other) {
        return {
          hold,
          what: `block rate ${mine}`,
          theirs: `block rate ${other}`,
        };
      }
    }
    return undefined;
  }

  #apply(): Promise<void> {
    this.#applying = this.#applying.catch(() => {}).then(() =>
      this.backend.apply(this.agreed())
    );
    return this.#applying;
  }
}

const REGISTRY = Symbol.for("coredeno.processProfiler");

type Registry = { [REGISTRY]?: ProcessProfiler };

/** The process's profiler if one was made. */
export function existingProcessProfiler(): ProcessProfiler | undefined {
  return (globalThis as Registry)[REGISTRY];
}

/**
 * The process's profiler, made by `create` if there is none yet (the first
 * surface decides how it works; later ones share it).
 */
export function processProfiler(
  create: () => ProcessProfiler,
): ProcessProfiler {
  const registry = globalThis as Registry;
  return registry[REGISTRY] ??= create();
}

/** The process's profiler, made in-process (over `LocalBackend`) if there is none yet. */
export function localProcessProfiler(
  makeBackend: () => Backend,
): ProcessProfiler {
  return processProfiler(() => new ProcessProfiler(makeBackend()));
}
