/**
 * Every Corefile example in README.md and plugins/*\/README.md is run: it is
 * loaded, started (its pprof listeners open), answered, and stopped.
 */

import assert from "node:assert/strict";
import { parsePprof } from "../plugins/pprof/setup.ts";
import { Dispenser } from "../lib/corefile/mod.ts";
import { loadInstance } from "../lib/server/instance.ts";
import { DIRECTIVES, PLUGINS } from "../plugins/mod.ts";
import { setLogSink } from "../lib/log.ts";
import { freePort, goAvailable, REPO } from "./_helpers.ts";
import { goToolPprof } from "./_go.ts";
import { assertProfileInvariants } from "./profile/_invariants.ts";

const hasGo = goAvailable();

function readmes(): string[] {
  const paths = ["README.md"];
  for (const entry of Deno.readDirSync(new URL("plugins/", REPO))) {
    try {
      Deno.statSync(new URL(`plugins/${entry.name}/README.md`, REPO));
      paths.push(`plugins/${entry.name}/README.md`);
    } catch { /* a plugin without a README */ }
  }
  return paths;
}

/** ```corefile and ~~~ corefile fences. */
function corefileExamples(markdown: string): string[] {
  return [...markdown.matchAll(/^(```|~~~) ?corefile\n([\s\S]*?)^\1$/gm)].map((
    m,
  ) => m[2]!);
}

/**
 * The examples' pprof ports, moved to free ones (consistently, so shared
 * addresses stay shared): tests never bind fixed ports, and a `deno task dev`
 * running beside the tests holds the default. A bare `pprof` becomes its
 * default address, localhost:6053, on the port 6053 moves to. Not port 0:
 * two ports of one host would then become one address, and share.
 */
function onFreePorts(example: string): string {
  const ports = new Map<string, number>();
  const free = (port: string) => {
    if (!ports.has(port)) ports.set(port, freePort());
    return ports.get(port);
  };
  return example
    .replace(/^(\s*pprof)(?=[ \t]*(\{|$))/gm, "$1 localhost:6053")
    .replace(
      /(pprof [^\s{]*):(\d+)/g,
      (_, head: string, port: string) => `${head}:${free(port)}`,
    );
}

Deno.test("every Corefile example in the READMEs runs", async (t) => {
  let count = 0;
  for (const path of readmes()) {
    for (
      const example of corefileExamples(
        await Deno.readTextFile(new URL(path, REPO)),
      )
    ) {
      count++;
      await t.step(`${path}: ${example.split("\n")[0]}...`, async () => {
        const restore = setLogSink(() => {});
        const instance = loadInstance(onFreePorts(example), {
          filename: "Corefile",
          directives: DIRECTIVES,
          plugins: PLUGINS,
        });
        try {
          await instance.start();
          for (const block of instance.blocks) {
            const tokens = block.tokens.get("pprof");
            if (!tokens) continue;
            const { host, port } = parsePprof(
              new Dispenser("Corefile", tokens),
            );
            const hostname = host === "" || host === "localhost"
              ? "127.0.0.1"
              : host;
            const response = await fetch(
              `http://${hostname}:${port}/debug/pprof/`,
            );
            assert.equal(response.status, 200);
            assert.match(await response.text(), /Types of profiles available:/);
          }
        } finally {
          await instance.stop();
          setLogSink(restore);
        }
      });
    }
  }
  assert.ok(count >= 6, `found only ${count} examples`);
});

Deno.test("the README's profiling script is examples/capture.ts; copied outside the repo, it writes profiles go tool pprof reads", async () => {
  const script = await Deno.readTextFile(new URL("examples/capture.ts", REPO));
  const readme = await Deno.readTextFile(new URL("README.md", REPO));
  assert.ok(
    readme.includes("```ts\n" + script + "```"),
    "README shows examples/capture.ts verbatim",
  );
  // A user's folder: no deno.json, the library imported by file URL.
  const dir = await Deno.makeTempDir({ prefix: "coredeno-user-" });
  try {
    await Deno.writeTextFile(
      `${dir}/capture.ts`,
      script.replace('"../lib/', `"${new URL("lib/", REPO).href}`),
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-sys",
        "--allow-read",
        "--allow-env",
        `--allow-write=${dir}`,
        `${dir}/capture.ts`,
      ],
      cwd: dir,
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const wall = assertProfileInvariants(
      await Deno.readFile(`${dir}/wall.pb.gz`),
      "wall.pb.gz",
    );
    const strings = wall.stringTable.strings;
    assert.ok(wall.function.some((f) => strings[Number(f.name)] === "work"));
    assertProfileInvariants(
      await Deno.readFile(`${dir}/heap.pb.gz`),
      "heap.pb.gz",
    );
    if (hasGo) {
      for (const file of ["wall.pb.gz", "heap.pb.gz"]) {
        const top = await goToolPprof(["-top", `${dir}/${file}`]);
        assert.equal(top.code, 0, top.stderr);
        assert.match(top.stdout, /flat%/, `${file} prints a table`);
      }
      const wallTop = await goToolPprof([
        "-top",
        "-lines",
        `${dir}/wall.pb.gz`,
      ]);
      assert.match(wallTop.stdout, /\bwork \S*capture\.ts:\d+/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
