// Fixture for tests/profile/inlining_test.ts: hot.ts as plain JavaScript
// (Deno runs it as is, no source map).

/** A small function: V8 inlines it into makeHandler's handler. */
export function hot(seed) {
  let x = seed;
  for (let i = 0; i < 100; i++) x = (x * 31 + i) % 1000003; // hot loop
  return x;
}

/** A handler that calls hot() `calls` times per request, timing the calls. */
export function makeHandler(tally, calls = 2000) {
  return (_request) => {
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
