/**
 * `trace` holds every sample of its window until it ends, so its window has
 * a ceiling. In memory: a Request in, a Response out; the shutdown signal
 * is already aborted, so an accepted trace ends at once instead of running
 * its window.
 */

import assert from "node:assert/strict";
import { engineOf } from "../../lib/pprof/engine.ts";
import { createPprofHandler } from "../../lib/pprof/handler.ts";
import { MAX_TRACE_SECONDS, traceEndpoint } from "../../lib/pprof/runtime.ts";
import { profiler } from "../profile/_profiler.ts";

const handle = createPprofHandler([
  traceEndpoint(engineOf(() => profiler, () => undefined)),
]);

function trace(seconds: string) {
  return handle(
    new Request(`http://localhost/debug/pprof/trace?seconds=${seconds}`),
    AbortSignal.abort(),
  );
}

Deno.test("trace refuses a window over its ceiling with Go's 400", async (t) => {
  assert.equal(MAX_TRACE_SECONDS, 60);
  for (const seconds of ["61", "60.5", "3600", "1e3"]) {
    await t.step(`seconds=${seconds}`, async () => {
      const response = await trace(seconds);
      assert.equal(response.status, 400);
      assert.equal(response.headers.get("x-go-pprof"), "1");
      assert.equal(
        await response.text(),
        `invalid value for "seconds" - must be at most ${MAX_TRACE_SECONDS}\n`,
      );
    });
  }
  await t.step("the ceiling itself is served", async () => {
    const response = await trace(String(MAX_TRACE_SECONDS));
    assert.equal(response.status, 200, await response.clone().text());
    const body = JSON.parse(await response.text());
    assert.equal(body.metadata.requestedSeconds, MAX_TRACE_SECONDS);
  });
  await t.step("the index says why", async () => {
    const response = await handle(new Request("http://localhost/debug/pprof/"));
    const html = await response.text();
    assert.match(html, /at most 60/);
    assert.match(html, /profile longer stretches with \/profile/);
  });
});
