/**
 * `coredeno run`'s command line and process handling, as a user meets
 * them: Deno flags with their values, `-A`, Ctrl-C, and nothing of ours in
 * the program's output.
 */

import assert from "node:assert/strict";
import { childFlags, parseRun } from "../lib/cli/run.ts";
import { captured, coredenoRunArgs, waitFor } from "./_helpers.ts";

Deno.test("parseRun: a Deno flag's value given apart is the flag's, not the script", () => {
  for (
    const [argv, flags, script, args] of [
      [
        ["--config", "x.json", "app.ts", "a"],
        ["--config", "x.json"],
        "app.ts",
        [
          "a",
        ],
      ],
      [["-c", "x.json", "app.ts"], ["-c", "x.json"], "app.ts", []],
      [["--lock", "my.lock", "app.ts"], ["--lock", "my.lock"], "app.ts", []],
      [["--config=x.json", "app.ts"], ["--config=x.json"], "app.ts", []],
      [["-A", "app.ts", "--config", "y"], ["-A"], "app.ts", ["--config", "y"]],
    ] as const
  ) {
    const plan = parseRun(argv);
    assert.deepEqual(plan.denoFlags, flags, argv.join(" "));
    assert.equal(plan.script, script);
    assert.deepEqual(plan.args, args);
  }
});

Deno.test("childFlags: -A gets nothing added but the private inspector; scoped grants get what the profiler needs", () => {
  const all = childFlags(parseRun(["-A", "app.ts"]), 9999, "127.0.0.1:6053");
  assert.deepEqual(all, [
    "--inspect=127.0.0.1:9999",
    "--inspect-publish-uid=none",
    "-A",
  ]);
  const scoped = childFlags(
    parseRun(["--allow-read", "--allow-net=example.com", "app.ts"]),
    9999,
    "127.0.0.1:6053",
  );
  assert.deepEqual(scoped, [
    "--inspect=127.0.0.1:9999",
    "--inspect-publish-uid=none",
    "--allow-sys",
    "--allow-net=127.0.0.1:6053,127.0.0.1:9999",
    "--allow-read",
    "--allow-net=example.com",
  ]);
});

/** `coredeno run ARGS` in a session of its own (as a terminal's job). */
function runInOwnGroup(args: string[], program: string) {
  return Deno.makeTempDir({ prefix: "coredeno-run-" }).then(async (dir) => {
    await Deno.writeTextFile(`${dir}/app.ts`, program);
    const child = new Deno.Command("setsid", {
      args: [
        Deno.execPath(),
        ...coredenoRunArgs(["--pprof", "127.0.0.1:0", ...args, "app.ts"]),
      ],
      cwd: dir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    return { ...captured(child), dir };
  });
}

Deno.test("Ctrl-C: the program gets one SIGINT (the terminal's), not a second from coredeno run", async () => {
  const run = await runInOwnGroup(
    ["-A"],
    `let n = 0;
Deno.addSignalListener("SIGINT", () => {
  console.log("sigint " + ++n);
  setTimeout(() => Deno.exit(0), 500);
});
console.log("waiting");
setInterval(() => {}, 1000);
`,
  );
  try {
    await waitFor("the program", () => run.stdout().includes("waiting"));
    // A terminal's Ctrl-C: SIGINT to the whole foreground process group.
    Deno.kill(-run.child.pid, "SIGINT");
    const status = await run.status;
    assert.equal(status.code, 0, run.stderr());
    assert.equal(run.stdout(), "waiting\nsigint 1\n");
  } finally {
    await run.stop();
    await Deno.remove(run.dir, { recursive: true });
  }
});

Deno.test("a program that serves pprof itself and takes a timed profile prints nothing of ours, not even Deno's request.signal note", async () => {
  const dir = await Deno.makeTempDir({ prefix: "coredeno-quiet-" });
  const program = `import { servePprof } from ${
    JSON.stringify(new URL("../lib/pprof/mod.ts", import.meta.url).href)
  };
const server = servePprof({ address: "127.0.0.1:0" });
const r = await fetch("http://127.0.0.1:" + server.addr.port + "/debug/pprof/profile?seconds=1");
await r.arrayBuffer();
await server.shutdown();
console.log("status " + r.status);
`;
  try {
    await Deno.writeTextFile(`${dir}/app.ts`, program);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", "-A", "app.ts"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    assert.equal(out.code, 0, decode(out.stderr));
    assert.equal(decode(out.stdout), "status 200\n");
    assert.equal(decode(out.stderr), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
