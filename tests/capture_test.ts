/** `coredeno capture` against a running server: progress, validation, summary, errors. */

import assert from "node:assert/strict";
import {
  CONFIG,
  freePort,
  goAvailable,
  MAIN,
  startWorkload,
} from "./_helpers.ts";
import { goToolPprof } from "./_go.ts";
import { assertProfileInvariants } from "./profile/_invariants.ts";

const hasGo = goAvailable();

const WORKLOAD = new URL("pprof/fixtures/workload.ts", import.meta.url)
  .pathname;
const WORKLOAD_LINES = Deno.readTextFileSync(WORKLOAD).split("\n");

/** The 1-based line of `name`'s `// hot` loop in the workload. */
function hotLine(name: string): number {
  const start = WORKLOAD_LINES.findIndex((l) =>
    l.startsWith(`export function ${name}(`)
  );
  return start + 1 +
    WORKLOAD_LINES.slice(start).findIndex((l) => l.endsWith("// hot"));
}

function captureCommand(
  args: string[],
  dir: string,
  stdout: "piped" | "null",
  flags: string[] = [],
) {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      CONFIG,
      "--allow-net",
      `--allow-write=${dir}`,
      ...flags,
      MAIN,
      "capture",
      ...args,
    ],
    cwd: dir,
    stdin: "null",
    stdout,
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
}

async function capture(args: string[], dir: string, flags: string[] = []) {
  const output = await captureCommand(args, dir, "piped", flags).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return {
    code: output.code,
    /** stdout exactly as written: `-o -` puts the profile's bytes there. */
    bytes: output.stdout,
    stdout: text(output.stdout),
    stderr: text(output.stderr),
  };
}

/** A server that answers every request 200 with `body`: not a profile. */
function notAProfileServer(body: string) {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(body),
  );
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
      "--format md: top functions at their hottest line, hot lines, call paths",
      async () => {
        const result = await capture([
          "--url",
          url,
          "--seconds",
          "2",
          "--format",
          "md",
          "-o",
          "md.pb.gz",
        ], dir);
        assert.equal(result.code, 0, result.stderr);
        const md = result.stdout;
        assert.match(md, new RegExp(`^# CPU profile of 2 s from ${url}\n`));
        const hot = `${WORKLOAD}:${hotLine("alpha")}`;
        assert.match(
          md,
          new RegExp(
            `## Top functions by cpu \\(flat\\)\n\n.*\n.*\n\\| [\\d.]+m?s \\| [\\d.]+% \\| [\\d.]+m?s \\| [\\d.]+% \\| \`alpha\` \\| \`${hot}\` \\|`,
          ),
          "alpha is the top function, at its hot line",
        );
        assert.match(
          md,
          new RegExp(
            `## Hottest lines\n\n.*\n.*\n\\| [\\d.]+m?s \\| [\\d.]+% \\| [\\d.]+m?s \\| \`${hot}\` \\| \`alpha\` \\|`,
          ),
        );
        assert.match(
          md,
          /## Heaviest call paths\n\n.*\n\n1\. [\d.]+m?s \([\d.]+%\): .* → `alpha` \(`[^`]+workload\.ts:\d+`\)\n/,
        );
        assert.match(result.stderr, /Saved profile in md\.pb\.gz/);
      },
    );

    await t.step(
      "--format md --base: what grew since a saved profile",
      async () => {
        const result = await capture(
          [
            "--url",
            url,
            "--type",
            "heap",
            "--format",
            "md",
            "--base",
            `${dir}/mem.pb.gz`,
            "-o",
            "mem2.pb.gz",
          ],
          dir,
          [`--allow-read=${dir}`],
        );
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^# heap profile from /);
        assert.match(
          result.stdout,
          new RegExp(
            `## Compared with ${dir}/mem\\.pb\\.gz\n\nTotal [\\d.]+[kMG]?B → [\\d.]+[kMG]?B`,
          ),
        );
        assert.match(result.stdout, /### Grew\n/);
        assert.match(result.stdout, /### Shrank\n/);
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

    for (const type of ["profile", "heap"]) {
      await t.step({
        name: `-o - > file: ${type}'s bytes as served, read by go tool pprof`,
        async fn() {
          const seconds = type === "profile" ? ["--seconds", "2"] : [];
          const result = await capture(
            ["--url", url, "--type", type, ...seconds, "-o", "-"],
            dir,
          );
          assert.equal(result.code, 0, result.stderr);
          // gzip's magic and method, not U+FFFD from a text round trip
          assert.deepEqual([...result.bytes.subarray(0, 3)], [0x1f, 0x8b, 8]);
          assertProfileInvariants(result.bytes);
          // The summary goes to stderr, so stdout is the profile alone.
          assert.match(
            result.stderr,
            type === "profile" ? /Type: cpu\n/ : /Type: inuse_space\n/,
          );
          const file = `${dir}/stdout-${type}.pb.gz`;
          await Deno.writeFile(file, result.bytes);
          if (!hasGo) return; // goAvailable() said so, and fails in CI
          const pprof = await goToolPprof(["-top", file]);
          assert.equal(pprof.code, 0, pprof.stderr);
          assert.match(
            pprof.stdout,
            type === "profile" ? /\balpha\b/ : /\bretainMemory\b/,
          );
        },
      });
    }

    await t.step("a 200 that is not a profile: exit 4", async () => {
      const server = notAProfileServer("<html>hello</html>\n");
      try {
        const result = await capture([
          "--url",
          `127.0.0.1:${server.addr.port}`,
          "--type",
          "heap",
          "-o",
          "junk.pb.gz",
        ], dir);
        assert.equal(result.code, 4, result.stderr);
        assert.match(result.stderr, /not a pprof profile: /);
        await assert.rejects(
          Deno.stat(`${dir}/junk.pb.gz`),
          Deno.errors.NotFound,
        );
      } finally {
        await server.shutdown();
      }
    });

    await t.step("an output that cannot be written: exit 5", async () => {
      const result = await capture([
        "--url",
        url,
        "--type",
        "heap",
        "-o",
        `${dir}/no/such/dir/heap.pb.gz`,
      ], dir);
      assert.equal(result.code, 5, result.stderr);
      assert.match(
        result.stderr,
        /cannot write .*no\/such\/dir\/heap\.pb\.gz: /,
      );
    });

    await t.step("-o - into a closed pipe: exit 5", async () => {
      const child = captureCommand(
        ["--url", url, "--type", "heap", "-o", "-"],
        dir,
        "piped",
      ).spawn();
      await child.stdout.cancel(); // the reader is gone before any byte
      const stderr = new TextDecoder().decode(
        await new Response(child.stderr).arrayBuffer(),
      );
      const status = await child.status;
      assert.equal(status.code, 5, stderr);
      assert.match(stderr, /cannot write to stdout: /);
    });

    await t.step("bad flags: exit 2", async () => {
      assert.equal((await capture(["--type", "nosuch"], dir)).code, 2);
      assert.equal((await capture(["--seconds", "-1"], dir)).code, 2);
      const format = await capture(["--format", "xml"], dir);
      assert.equal(format.code, 2);
      assert.match(
        format.stderr,
        /^unknown --format xml \(want text or md\)\n$/,
      );
      const base = await capture(["--base", "x.pb.gz"], dir);
      assert.equal(base.code, 2);
      assert.match(base.stderr, /^--base needs --format md\n$/);
      const unreadable = await capture(
        ["--format", "md", "--base", `${dir}/nosuch.pb.gz`],
        dir,
        [`--allow-read=${dir}`],
      );
      assert.equal(unreadable.code, 2);
      assert.match(unreadable.stderr, /^cannot read --base .*nosuch\.pb\.gz: /);
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
