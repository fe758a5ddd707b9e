/**
 * `deno task compile`: the flags it bakes in (never -A), its targets, and,
 * here, either a working executable or one clear line when Deno's runtime
 * for executables cannot be downloaded (as on our build machines).
 */

import assert from "node:assert/strict";
import { bundleArgs } from "../tools/bundle.ts";
import { compileArgs, PERMISSIONS, TARGETS } from "../tools/compile.ts";
import { REPO } from "./_helpers.ts";

const TASK = JSON.parse(await Deno.readTextFile(new URL("deno.json", REPO)))
  .tasks.compile as string;

async function task(args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "compile", ...args],
    cwd: REPO.pathname,
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

Deno.test("deno task compile bakes in deno task start's permissions, for every target", async () => {
  const start = JSON.parse(await Deno.readTextFile(new URL("deno.json", REPO)))
    .tasks.start as string;
  for (const flag of PERMISSIONS) {
    assert.ok(start.includes(flag), `start lacks ${flag}`);
  }
  assert.match(TASK, /tools\/compile\.ts/);
  const dry = await task(["--dry-run", "--all"]);
  assert.equal(dry.code, 0, dry.stderr);
  const [first, ...lines] = dry.stdout.trim().split("\n");
  // The bundle first: the executables are compiled from it, with its map.
  assert.equal(first, ["deno", ...bundleArgs()].join(" "));
  assert.match(
    first!,
    /--sourcemap=linked --output dist\/coredeno\.js main\.ts$/,
  );
  assert.equal(lines.length, TARGETS.length);
  for (const [i, line] of lines.entries()) {
    assert.equal(line, ["deno", ...compileArgs(TARGETS[i])].join(" "));
    assert.doesNotMatch(line, / -A | --allow-all| --allow-write| --allow-run/);
    assert.match(
      line,
      /--allow-net --allow-read --allow-env --allow-sys --config deno\.json/,
    );
  }
  assert.match(
    lines.at(-1)!,
    / --include dist\/coredeno\.js\.map --output dist\/coredeno-x86_64-pc-windows-msvc\.exe dist\/coredeno\.js$/,
  );
});

Deno.test("deno task compile builds a working executable, or says in one line why it cannot", async () => {
  const result = await task([]);
  if (result.code === 0) {
    const exe = new URL("dist/coredeno", REPO).pathname;
    const version = await new Deno.Command(exe, { args: ["-version"] })
      .output();
    assert.match(new TextDecoder().decode(version.stdout), /^coredeno-/);
    return;
  }
  assert.equal(result.code, 1);
  const lines = result.stderr.trim().split("\n");
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, /^deno compile could not download denort/);
  console.log(`compile could not run here: ${lines[0]}`);
});
