/** The real client: `go tool pprof` from Debian's golang-go against a running coredeno. */

import assert from "node:assert/strict";
import { freePort, goAvailable, startCoredeno } from "../_helpers.ts";

const hasGo = goAvailable();

/** Runs `go tool pprof ARGS` with a scratch PPROF_TMPDIR; returns exit code and output. */
export async function goToolPprof(args: string[]) {
  const tmp = await Deno.makeTempDir({ prefix: "pprof-tmp-" });
  try {
    const output = await new Deno.Command("go", {
      args: ["tool", "pprof", ...args],
      env: { PPROF_TMPDIR: tmp, HOME: tmp },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return {
      code: output.code,
      stdout: decode(output.stdout),
      stderr: decode(output.stderr),
    };
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

Deno.test({
  name: "go tool pprof prints coredeno's Go-style errors and exits 1",
  ignore: !hasGo,
  async fn() {
    const port = freePort();
    const server = await startCoredeno(
      `.:${freePort()} {\n    pprof 127.0.0.1:${port}\n}\n`,
    );
    try {
      const result = await goToolPprof([
        "-top",
        `http://127.0.0.1:${port}/debug/pprof/nosuch`,
      ]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(
        result.stderr,
        /server response: 404 Not Found - Unknown profile/,
      );
      assert.match(result.stderr, /failed to fetch any source profiles/);
    } finally {
      await server.stop();
      server.cleanup();
    }
  },
});
