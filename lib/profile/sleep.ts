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
