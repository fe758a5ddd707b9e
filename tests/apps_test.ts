/**
 * pprof for every Deno app, tried as a user would: the examples and an
 * unmodified program are copied to a folder outside this repository (no
 * deno.json there, so nothing of our import map helps), started, loaded over
 * HTTP, and profiled with `go tool pprof`. The app's own hot function, with
 * its TypeScript file and a line inside it, must be the top JavaScript entry.
 */

import assert from "node:assert/strict";
import {
  captured,
  type Coredeno,
  coredenoRunArgs,
  goAvailable,
  REPO,
  START_PERMISSIONS,
  waitFor,
} from "./_helpers.ts";
import { goToolPprof } from "./_go.ts";

const hasGo = goAvailable();
const LIB = new URL("lib/", REPO);

/**
 * A fresh folder outside the repository holding `source`'s file, its imports
 * of `../lib/` (or `../../../lib/`) pointing at this checkout by file URL.
 */
async function copyOutside(source: URL, name: string) {
  const dir = await Deno.makeTempDir({ prefix: "coredeno-user-" });
  const text = (await Deno.readTextFile(source)).replace(
    /"(\.\.\/)+lib\//g,
    `"${LIB.href}`,
  );
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, text);
  return {
    dir,
    path,
    source: text,
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
}

/** Runs `deno ARGS` in `cwd` with output captured (no --config: a user's folder). */
function spawnDeno(args: string[], cwd: string, env: Record<string, string>) {
  return captured(
    new Deno.Command(Deno.execPath(), {
      args,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", ...env },
    }).spawn(),
  );
}

/** Waits for `pattern` in the process's output; fails if it exits first. */
async function waitForLine(process: Coredeno, pattern: RegExp) {
  let exited = false;
  process.status.then(() => exited = true);
  let match: RegExpMatchArray | null = null;
  await waitFor(`output matching ${pattern}`, () => {
    if (exited) {
      throw new Error(
        `exited early:\n${process.stdout()}\n${process.stderr()}`,
      );
    }
    match = (process.stdout() + process.stderr()).match(pattern);
    return match !== null;
  }, 60_000);
  return match! as RegExpMatchArray;
}

/** Requests `url` back to back until `signal` aborts: the app's load. */
async function load(url: string, signal: AbortSignal) {
  let answered = 0;
  while (!signal.aborted) {
    try {
      const response = await fetch(url, { signal });
      await response.arrayBuffer();
      answered++;
    } catch (error) {
      if (!signal.aborted) throw error;
    }
  }
  return answered;
}

/** The first JavaScript row of `go tool pprof -top -lines` (runtime frames are bracketed). */
function topJavaScriptEntry(top: string) {
  for (const row of top.split("\n")) {
    const match = row.match(
      /^\s*\S+\s+[\d.]+%\s+[\d.]+%\s+\S+\s+[\d.]+%\s+(\S+) (\S+):(\d+)\s*$/,
    );
    if (match && !match[1]!.startsWith("[")) {
      return { name: match[1]!, file: match[2]!, line: Number(match[3]) };
    }
  }
  throw new Error(`no JavaScript entry in:\n${top}`);
}

/** The 1-based lines from `function NAME` to the function's closing brace. */
function functionLines(source: string, name: string): [number, number] {
  const lines = source.split("\n");
  const first = lines.findIndex((l) => l.includes(`function ${name}(`));
  const last = lines.findIndex((l, i) => i > first && l === "}");
  assert.ok(first >= 0 && last > first, `function ${name} in the source`);
  return [first + 1, last + 1];
}

/**
 * Profiles the app at `pprofBase` for 3 s while `appUrl` is loaded, and
 * checks that `hot` (in `file`) is the top JavaScript entry, on a line of
 * its own body.
 */
async function assertHottest(
  pprofBase: string,
  appUrl: string,
  hot: { name: string; file: string; source: string },
) {
  const stop = new AbortController();
  const loaders = [load(appUrl, stop.signal), load(appUrl, stop.signal)];
  try {
    const result = await goToolPprof([
      "-top",
      "-lines",
      `${pprofBase}/debug/pprof/profile?seconds=3`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const top = topJavaScriptEntry(result.stdout);
    assert.equal(top.name, hot.name, result.stdout);
    assert.equal(top.file, hot.file, result.stdout);
    const [first, last] = functionLines(hot.source, hot.name);
    assert.ok(
      top.line >= first && top.line <= last,
      `line ${top.line} is inside ${hot.name} (${first}-${last}):\n${result.stdout}`,
    );
  } finally {
    stop.abort();
    assert.ok((await Promise.all(loaders)).every((n) => n > 0));
  }
}

/** The permissions the README tells an app to run with: `deno task start`'s. */
const APP_PERMISSIONS = START_PERMISSIONS;

for (
  const example of [
    { file: "deno_serve.ts", hot: "countPrimes", path: "/?limit=30000" },
    { file: "hono.ts", hot: "fibonacci", path: "/fib/24" },
  ]
) {
  Deno.test({
    name:
      `examples/${example.file} from a folder outside the repo: go tool pprof's top JavaScript entry is ${example.hot}`,
    ignore: !hasGo,
    async fn() {
      const copy = await copyOutside(
        new URL(`examples/${example.file}`, REPO),
        example.file,
      );
      const app = spawnDeno(
        ["run", ...APP_PERMISSIONS, copy.path],
        copy.dir,
        { PORT: "0" },
      );
      try {
        const [, base] = await waitForLine(
          app,
          /Listening on (http:\/\/127\.0\.0\.1:\d+)\//,
        );
        await assertHottest(base!, `${base}${example.path}`, {
          name: example.hot,
          file: copy.path,
          source: copy.source,
        });
      } finally {
        await app.stop();
        await copy.cleanup();
      }
    },
  });
}

const UNMODIFIED = new URL("pprof/fixtures/unmodified_app.ts", import.meta.url);

/** `coredeno run` as `deno task run` runs it, from the user's folder. */
function coredenoRun(args: string[], cwd: string) {
  return spawnDeno(
    coredenoRunArgs(args),
    cwd,
    {},
  );
}

Deno.test({
  name:
    "coredeno run profiles an unmodified Deno.serve program: its hot function on top, its args and import.meta.main its own",
  ignore: !hasGo,
  async fn() {
    const copy = await copyOutside(UNMODIFIED, "server.ts");
    const run = coredenoRun(
      ["--pprof", "127.0.0.1:0", "server.ts", "0", "extra"],
      copy.dir,
    );
    try {
      const [, pprofBase] = await waitForLine(
        run,
        /coredeno run: pprof at (http:\/\/127\.0\.0\.1:\d+)\/debug\/pprof\//,
      );
      const [, appBase] = await waitForLine(
        run,
        /Listening on (http:\/\/127\.0\.0\.1:\d+)\//,
      );
      assert.match(run.stdout(), /main: true, args: \["0","extra"\]/);
      await assertHottest(pprofBase!, `${appBase}/work?n=20000`, {
        name: "sumOfDivisors",
        file: copy.path,
        source: copy.source,
      });
    } finally {
      await run.stop();
      await copy.cleanup();
    }
  },
});

Deno.test("coredeno run: the program's exit code, its own error at import, the listener closed", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "coredeno-user-" });
  await Deno.writeTextFile(
    `${dir}/exits.ts`,
    `if (Deno.args[0] === "throw") throw new Error("the program's own error");\n` +
      `Deno.exit(Number(Deno.args[0]));\n`,
  );
  try {
    await t.step("exit code 7 is coredeno run's", async () => {
      const run = coredenoRun(["--pprof", "127.0.0.1:0", "exits.ts", "7"], dir);
      assert.equal((await run.status).code, 7, run.stderr());
    });
    await t.step(
      "a throw at import: non-zero, its message, no listener left",
      async () => {
        const run = coredenoRun(
          ["--pprof", "127.0.0.1:0", "exits.ts", "throw"],
          dir,
        );
        const status = await run.status;
        assert.notEqual(status.code, 0);
        assert.match(run.stderr(), /the program's own error/);
        const port = Number(
          run.stderr().match(
            /coredeno run: pprof at http:\/\/127\.0\.0\.1:(\d+)/,
          )![1],
        );
        await assert.rejects(
          fetch(`http://127.0.0.1:${port}/debug/pprof/`),
          "the pprof listener went with the program",
        );
      },
    );
    await t.step("bad flags: exit 2 and a clear message", async () => {
      for (
        const [args, message] of [
          [["--block", "0", "exits.ts"], /--block invalid value '0'/],
          [["--pprof"], /--pprof needs an ADDRESS/],
          [["--pprof", "127.0.0.1:1"], /no SCRIPT to run/],
        ] as const
      ) {
        const run = coredenoRun([...args], dir);
        assert.equal((await run.status).code, 2, run.stderr());
        assert.match(run.stderr(), message);
        assert.match(run.stderr(), /Usage: coredeno run/);
      }
    });
    await t.step(
      "a bad pprof address stops the program before it starts",
      async () => {
        const run = coredenoRun(["--pprof", "nowhere", "exits.ts", "0"], dir);
        assert.notEqual((await run.status).code, 0);
        assert.match(run.stderr(), /pprof: address nowhere: missing port/);
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "examples/workers.ts under coredeno run: every isolate in one profile, each labelled (go tool pprof -tags, -tagfocus)",
  ignore: !hasGo,
  async fn() {
    const examples = new URL("examples/", REPO).pathname;
    const run = coredenoRun(["--pprof", "127.0.0.1:0", "workers.ts"], examples);
    try {
      const [, pprofBase] = await waitForLine(
        run,
        /coredeno run: pprof at (http:\/\/127\.0\.0\.1:\d+)\/debug\/pprof\//,
      );
      await waitForLine(run, /100 rounds/);
      const url = `${pprofBase}/debug/pprof/profile?seconds=3`;
      const tags = await goToolPprof(["-tags", url]);
      assert.equal(tags.code, 0, tags.stderr);
      assert.match(tags.stdout, /^ isolate: Total/m);
      assert.match(tags.stdout, /: hasher$/m);
      assert.match(tags.stdout, /: sieve$/m);
      for (
        const [isolate, hot] of [["hasher", "hashBlocks"], [
          "sieve",
          "countPrimes",
        ]]
      ) {
        const top = await goToolPprof([
          "-top",
          "-lines",
          "-tagfocus",
          `isolate=${isolate}`,
          url,
        ]);
        assert.equal(top.code, 0, top.stderr);
        const entry = topJavaScriptEntry(top.stdout);
        assert.equal(entry.name, hot, top.stdout);
        assert.equal(entry.file, `${examples}workers_task.ts`, top.stdout);
      }
    } finally {
      await run.stop();
    }
  },
});
