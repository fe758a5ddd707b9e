/**
 * The in-process backend: the profiler on the main thread, over a
 * `node:inspector` session of its own isolate (`LocalIsolates`). It starts
 * with the first hold and stops with the last, so a program whose surfaces
 * are all closed carries no session (and its new Workers no wait).
 */

import { BLOCK_SAMPLING_INTERVAL_MICROS } from "./block.ts";
import { LocalIsolates } from "./inspector.ts";
import { SourceMaps } from "./sourcemap.ts";
import type { Backend } from "./process.ts";
import type { AgreedSettings } from "./types.ts";
import {
  DEFAULT_INTERVAL_MICROS,
  Profiler,
  type RawCpuCapture,
  type RawHeapProfile,
} from "./profiler.ts";

export class LocalBackend implements Backend {
  readonly kind = "local";
  #profiler: Profiler | undefined;

  get profiler(): Profiler | undefined {
    return this.#profiler;
  }

  sourceMaps(): Promise<SourceMaps> {
    return Promise.resolve(this.#profiler?.sourceMaps ?? new SourceMaps());
  }

  prepare(settings: AgreedSettings): void {
    this.#profiler ??= new Profiler(new LocalIsolates(), {
      // Stall attribution wants more samples; the rate is the process's
      // from its first hold on (V8 fixes it while the profiler runs).
      intervalMicros: settings.blockRate > 0
        ? BLOCK_SAMPLING_INTERVAL_MICROS
        : DEFAULT_INTERVAL_MICROS,
      heap: settings.allocations ? "allocations" : "inuse",
    });
  }

  async apply(settings: AgreedSettings | undefined): Promise<void> {
    if (settings === undefined) {
      const profiler = this.#profiler;
      this.#profiler = undefined;
      await profiler?.close();
      return;
    }
    this.prepare(settings);
    await this.#profiler!.apply(settings);
  }

  setHeapSampling(
    mode: "inuse" | "allocations",
    options: { intervalBytes?: number; stackDepth?: number },
  ): Promise<void> {
    return this.#running().setHeapMode(mode, options);
  }

  startCpu(): { stop(): Promise<RawCpuCapture> } {
    return this.#running().startCpu();
  }

  readHeap(options?: { gc?: boolean }): Promise<RawHeapProfile> {
    return this.#running().readHeap(options);
  }

  #running(): Profiler {
    if (!this.#profiler) throw new Error("the profiler is not running");
    return this.#profiler;
  }
}
