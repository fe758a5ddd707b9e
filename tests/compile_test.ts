/**
 * `deno task compile`: the commands it runs (`--dry-run`: the bundle, then
 * one `deno compile` per target with exactly `deno task start`'s
 * permissions, never -A or write/run), its refusal of an unknown target, and
 * a real compile where Deno's runtime for executables (`denort`) cannot be
 * downloaded: one clear line, exit 1. That is what our machines can observe
 * (no denort is obtainable here, DESIGN.md); the test makes it so anywhere
 * by hiding a cached denort and routing downloads to a closed port.
 */

import assert from "node:assert/strict";
import { bundleArgs } from "../tools/bundle.ts";
import { TARGETS } from "../tools/compile.ts";
import { REPO } from "./_helpers.ts";

const TASKS = JSON.parse(await Deno.readTextFile(new URL("deno.json", REPO)))
  .tasks as Record<string, string>;

/** The permission flags of a `deno` command line, in order. */
function permissions(line: string): string[] {
  return line.split(/\s+/).filter((arg) =>
    /^(--allow-|--deny-|-A$|--allow-all$|-P|--permission-set)/.test(arg)
  );
}

/** Runs `deno task compile ARGS`; with `env`, in exactly that environment. */
async function task(args: string[], env?: Record<string, string>) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "compile", ...args],
    cwd: REPO.pathname,
    stdin: "null",
    clearEnv: env !== undefined,
    env: { ...env, NO_COLOR: "1" },
  }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return {
    code: output.code,
    stdout: text(output.stdout),
    stderr: text(output.stderr),
  };
}

Deno.test("deno task compile --dry-run: the bundle, then deno compile of it with deno task start's permissions, per target", async () => {
  const start = permissions(TASKS.start!);
  assert.ok(start.length > 0, TASKS.start);
  assert.match(TASKS.compile!, /tools\/compile\.ts/);

  const all = await task(["--dry-run", "--all"]);
  assert.equal(all.code, 0, all.stderr);
  assert.equal(all.stderr, "");
  const [first, ...lines] = all.stdout.trim().split("\n");
  // The bundle first: the executables are compiled from it, with its map.
  assert.equal(first, ["deno", ...bundleArgs()].join(" "));
  assert.match(
    first!,
    /^deno bundle .*--sourcemap=linked --output dist\/coredeno\.js main\.ts$/,
  );
  assert.equal(lines.length, TARGETS.length);
  for (const [i, line] of lines.entries()) {
    const target = TARGETS[i]!;
    const exe = target.includes("windows") ? ".exe" : "";
    assert.match(line, /^deno compile /);
    assert.deepEqual(permissions(line), start, line);
    assert.doesNotMatch(line, / -A | --allow-all| --allow-write| --allow-run/);
    assert.match(line, / --config deno\.json /); // its "unstable" list
    assert.ok(line.includes(` --target ${target} `), line);
    assert.ok(
      line.endsWith(
        ` --include dist/coredeno.js.map --output dist/coredeno-${target}${exe} dist/coredeno.js`,
      ),
      line,
    );
  }

  // No target: this machine's, named plainly.
  const here = await task(["--dry-run"]);
  assert.equal(here.code, 0, here.stderr);
  const [bundle, compile, ...rest] = here.stdout.trim().split("\n");
  assert.equal(bundle, first);
  assert.deepEqual(rest, []);
  assert.deepEqual(permissions(compile!), start);
  assert.doesNotMatch(compile!, / --target /);
  assert.ok(
    compile!.endsWith(
      " --include dist/coredeno.js.map --output dist/coredeno dist/coredeno.js",
    ),
    compile,
  );
});

Deno.test("deno task compile refuses an unknown target (exit 2) and runs nothing", async () => {
  const result = await task(["--dry-run", "--target", "x86_64-unknown-plan9"]);
  assert.equal(result.code, 2);
  assert.equal(result.stdout, "");
  assert.equal(
    result.stderr,
    `unknown target x86_64-unknown-plan9 (want one of ${TARGETS.join(", ")})\n`,
  );
});

/**
 * A DENO_DIR that shares the npm packages and esbuild (the bundle needs
 * them, offline) but not a downloaded denort (`dl/release/`).
 */
async function denoDirWithoutDenort(): Promise<string> {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
  }).output();
  const real = JSON.parse(new TextDecoder().decode(info.stdout))
    .denoDir as string;
  const dir = await Deno.makeTempDir({ prefix: "coredeno-denodir-" });
  await Deno.mkdir(`${dir}/dl`);
  for (const name of ["npm", "remote"]) {
    try {
      await Deno.symlink(`${real}/${name}`, `${dir}/${name}`);
      await Deno.stat(`${dir}/${name}`);
    } catch { /* not there: nothing to share */ }
  }
  try {
    for await (const entry of Deno.readDir(`${real}/dl`)) {
      if (entry.name === "release" || entry.name.includes("denort")) continue;
      await Deno.symlink(`${real}/dl/${entry.name}`, `${dir}/dl/${entry.name}`);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return dir;
}

Deno.test("deno task compile where denort cannot be downloaded: exit 1 and exactly one line saying so", async () => {
  const denoDir = await denoDirWithoutDenort();
  const closed = "http://127.0.0.1:9"; // discard: nothing listens
  try {
    const env = Deno.env.toObject();
    delete env.DENORT_BIN;
    const result = await task([], {
      ...env,
      DENO_DIR: denoDir,
      HTTPS_PROXY: closed,
      HTTP_PROXY: closed,
      ALL_PROXY: closed,
      NO_PROXY: "",
      https_proxy: closed,
      http_proxy: closed,
      all_proxy: closed,
      no_proxy: "",
    });
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.equal(result.stdout, "");
    assert.equal(
      result.stderr,
      "deno compile could not download denort, Deno's runtime for executables: " +
        "this machine cannot reach Deno's download server; build where it can, " +
        "or point DENORT_BIN at a local denort\n",
    );
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
});
