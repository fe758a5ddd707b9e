// Fixture for tests/profile/inlining_test.ts: a request handler that calls a
// small hot function, which V8's optimizing compilers inline into it. The
// types above shift Deno's emitted JavaScript lines away from these, so the
// hot line reported proves the source map was applied. hot.js is the same
// code as plain JavaScript.

export interface Tally {
  requests: number;
  /** Milliseconds spent calling hot(), measured around the calls. */
  hotMillis: number;
}

export type Handler = (request: Request) => Response;

/** A small function: V8 inlines it into makeHandler's handler. */
export function hot(seed: number): number {
  let x = seed;
  for (let i = 0; i < 100; i++) x = (x * 31 + i) % 1000003; // hot loop
  return x;
}

/** A handler that calls hot() `calls` times per request, timing the calls. */
export function makeHandler(tally: Tally, calls = 2000): Handler {
  return (_request: Request): Response => {
    let sum = 0;
    // Timed around the loop, not each call: a clock read costs more than a
    // loop step, and would keep V8 from optimizing this as it does hot code.
    const t0 = performance.now();
    for (let k = 0; k < calls; k++) sum += hot(k);
    tally.hotMillis += performance.now() - t0;
    tally.requests++;
    return new Response(String(sum));
  };
}
