/** The real pprof client, `go tool pprof` from Debian's golang-go, run in tests. */

import assert from "node:assert/strict";
import { captured, waitFor } from "./_helpers.ts";

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

/**
 * `go tool pprof -http=127.0.0.1: -no_browser FILE`: Go's web UI on a saved
 * profile, at the address it prints, once it serves; `stop()` ends it. The
 * empty port lets pprof pick one (it reads `:0` as port 0 literally).
 */
export async function goPprofWebUi(file: string) {
  const tmp = await Deno.makeTempDir({ prefix: "pprof-http-" });
  const ui = captured(
    new Deno.Command("go", {
      args: ["tool", "pprof", "-http=127.0.0.1:", "-no_browser", file],
      env: { PPROF_TMPDIR: tmp, HOME: tmp },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn(),
  );
  const stop = async () => {
    await ui.stop();
    await Deno.remove(tmp, { recursive: true });
  };
  let base = "";
  try {
    await waitFor("go tool pprof -http to serve", async () => {
      base ||= /Serving web UI on (http:\/\/\S+)/.exec(ui.stderr())?.[1] ?? "";
      if (base === "") return false;
      try {
        const response = await fetch(`${base}/ui/top`);
        await response.body?.cancel();
        return response.ok;
      } catch {
        return false;
      }
    }, 30_000);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}:\n${ui.stderr()}`);
  }
  return {
    base,
    async get(path: string): Promise<string> {
      const response = await fetch(`${base}${path}`);
      assert.equal(response.status, 200, path);
      return await response.text();
    },
    stop,
  };
}
