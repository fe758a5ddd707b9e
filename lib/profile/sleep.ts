/**
 * Resolves after `ms`, or at once when `signal` aborts; never rejects.
 * Resolves true when the full time passed, false when aborted.
 */
export function abortableSleep(
  ms: number,
  signal?: AbortSignal,
): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const finish = (full: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve(full);
    };
    const onAbort = () => finish(false);
    const timer = setTimeout(() => finish(true), Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Resolves on a later turn of the event loop, after timers and I/O waiting
 * now have run: long builds are cut into steps with it, so the application
 * is never held for all of one.
 */
export function nextTask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A `setInterval` that does not keep the process alive; returns its id. */
export function unrefInterval(fn: () => void, ms: number): number {
  const id = setInterval(fn, ms) as unknown as number;
  Deno.unrefTimer(id);
  return id;
}

/** `setTimeout` that never keeps the process alive. */
export function unrefTimeout(fn: () => void, ms: number): number {
  const id = setTimeout(fn, ms) as unknown as number;
  Deno.unrefTimer(id);
  return id;
}

/** Wall-clock time now, in Unix nanoseconds. */
export function nowNanos(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1e6);
}
