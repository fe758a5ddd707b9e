/** Least privilege: everything coredeno serves works without write or run permission. */

import assert from "node:assert/strict";
import { REPO, spawnScript } from "./_helpers.ts";

Deno.test("with deno task start's permissions the profiler works and cannot write files or spawn processes", async () => {
  const fixture =
    new URL("tests/pprof/fixtures/least_privilege.ts", REPO).pathname;
  const process = spawnScript(fixture, []);
  const status = await process.status;
  assert.equal(status.code, 0, process.stderr());
  const result = JSON.parse(process.stdout().trim().split("\n").at(-1)!);
  assert.equal(result.cpu, 200);
  assert.equal(result.heap, 200);
  assert.ok(result.cpuBytes > 0 && result.heapBytes > 0);
  assert.equal(result.write, "NotCapable");
  assert.equal(result.run, "NotCapable");
});
