/**
 * The library is publishable as deno.json declares it: `deno publish
 * --dry-run` checks the exports, explicit types of the public API (no slow
 * types) and the package's files, offline.
 */

import assert from "node:assert/strict";
import { REPO } from "./_helpers.ts";

Deno.test("deno publish --dry-run accepts the package", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty"],
    cwd: new URL(".", REPO).pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout) +
    new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, text);
  assert.match(text, /Simulating publish of @coredeno\/pprof@\d+\.\d+\.\d+/);
  assert.match(text, /lib\/pprof\/mod\.ts/);
  assert.match(text, /lib\/profile\/mod\.ts/);
  assert.doesNotMatch(text, /tests\//, "tests are not published");
});
