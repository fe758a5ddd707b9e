/** `coredeno capture` against a running server: progress, validation, summary, errors. */

import assert from "node:assert/strict";
import { CONFIG, freePort, MAIN, startWorkload } from "./_helpers.ts";
import { assertProfileInvariants } from "./profile/_invariants.ts";

async function capture(args: string[], dir: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      CONFIG,
      "--allow-net",
      `--allow-write=${dir}`,
      MAIN,
      "capture",
      ...args,
    ],
    cwd: dir,
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return {
    code: output.code,
    stdout: text(output.stdout),
    stderr: text(output.stderr),
  };
}

Deno.test("coredeno capture saves checked profiles and prints their top", async (t) => {
  const workload = await startWorkload();
  const dir = await Deno.makeTempDir({ prefix: "coredeno-capture-" });
  const url = `127.0.0.1:${workload.port}`;
  try {
    await t.step("a CPU profile, with a progress bar", async () => {
      const result = await capture([
        "--url",
        url,
        "--seconds",
        "2",
        "--progress",
        "--top",
        "5",
      ], dir);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /\[#{30}\] 2s\/2s\n/);
      assert.match(result.stderr, /\r\[\.{30}\] 0s\/2s/);
      assert.match(result.stdout, /^Type: cpu\n/);
      assert.match(
        result.stdout,
        /\s+\d+(\.\d+)?%\s+\S+\s+\d+(\.\d+)?%\s+alpha\n/,
      );
      assertProfileInvariants(await Deno.readFile(`${dir}/profile.pb.gz`));
    });

    await t.step(
      "a heap profile, quiet when stderr is not a terminal",
      async () => {
        const result = await capture([
          "-url",
          `http://${url}`,
          "-type",
          "heap",
          "-o",
          "mem.pb.gz",
        ], dir);
        assert.equal(result.code, 0, result.stderr);
        assert.doesNotMatch(result.stderr, /\[[#.]+\]/);
        assert.match(result.stdout, /^Type: inuse_space\n/);
        assert.match(result.stdout, /retainMemory/);
        assert.match(result.stderr, /Saved heap in mem\.pb\.gz/);
        assertProfileInvariants(await Deno.readFile(`${dir}/mem.pb.gz`));
      },
    );

    await t.step(
      "a Go-style error from the server: its message, exit 1",
      async () => {
        const result = await capture([
          "--url",
          `http://${url}/debug/pprof/heap?seconds=abc`,
        ], dir);
        assert.equal(result.code, 1);
        assert.match(
          result.stderr,
          /server response: 400 Bad Request - invalid value for "seconds" - must be a positive integer\n$/,
        );
      },
    );

    await t.step("bad flags: exit 2", async () => {
      assert.equal((await capture(["--type", "nosuch"], dir)).code, 2);
      assert.equal((await capture(["--seconds", "-1"], dir)).code, 2);
    });
  } finally {
    await workload.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("coredeno capture of an unreachable server: exit 3 with the address", async () => {
  const port = freePort(); // nothing listens there now
  const dir = await Deno.makeTempDir();
  try {
    const result = await capture([
      "--url",
      `127.0.0.1:${port}`,
      "--type",
      "heap",
    ], dir);
    assert.equal(result.code, 3);
    assert.match(
      result.stderr,
      new RegExp(
        `cannot reach http://127\\.0\\.0\\.1:${port}/debug/pprof/heap: `,
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
