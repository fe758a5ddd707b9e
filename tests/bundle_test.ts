/**
 * The bundle (`deno task bundle`) is a distributable: it runs with an empty
 * DENO_DIR (its npm packages are inside), and its profiles show coredeno's
 * own frames at TypeScript files and lines, through the map beside it, not
 * through Deno's emit cache (an empty DENO_DIR has none).
 */

import assert from "node:assert/strict";
import { goToolPprof } from "./_go.ts";
import {
  captured,
  freePort,
  goAvailable,
  REPO,
  START_PERMISSIONS,
  waitFor,
} from "./_helpers.ts";

const hasGo = goAvailable();
const ROOT = REPO.pathname.replace(/\/$/, "");

/** Builds the bundle into `dir` with `deno task bundle`'s script. */
async function buildBundle(dir: string): Promise<string> {
  const output = `${dir}/coredeno.js`;
  const built = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-run",
      "--allow-read",
      "--allow-write",
      "tools/bundle.ts",
      "--output",
      output,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(built.success, new TextDecoder().decode(built.stderr));
  const code = await Deno.readTextFile(output);
  assert.match(code, /\/\/# sourceMappingURL=coredeno\.js\.map\n?$/);
  await Deno.stat(`${output}.map`);
  return output;
}

/** `deno run` of the bundle in `dir` as a user would, DENO_DIR empty. */
function runBundle(dir: string, script: string, args: string[]) {
  return captured(
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", ...START_PERMISSIONS, script, ...args],
      cwd: dir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { DENO_DIR: `${dir}/deno_dir`, NO_COLOR: "1" },
    }).spawn(),
  );
}

Deno.test({
  name:
    "the bundle runs with an empty DENO_DIR and its CPU profiles show TypeScript lines (go tool pprof -top -lines)",
  ignore: !hasGo,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "coredeno-bundle-" });
    try {
      const script = await buildBundle(dir);
      await Deno.mkdir(`${dir}/deno_dir`);

      const version = runBundle(dir, script, ["-version"]);
      assert.equal((await version.status).code, 0, version.stderr());
      assert.match(version.stdout(), /^coredeno-/);

      const port = freePort();
      await Deno.writeTextFile(
        `${dir}/Corefile`,
        `.:${freePort()} {\n    whoami\n    pprof 127.0.0.1:${port}\n}\n`,
      );
      const server = runBundle(dir, script, ["-conf", "Corefile"]);
      try {
        let exited = false;
        server.status.then(() => exited = true);
        await waitFor("the bundle's version banner", () => {
          if (exited) throw new Error(`exited early:\n${server.stderr()}`);
          return server.stdout().includes("coredeno-");
        });
        const base = `http://127.0.0.1:${port}/debug/pprof`;
        // Load while profiling: heap profiles run coredeno's own modules
        // (the pprof surface, the heap converter, the encoder).
        let loading = true;
        const load = (async () => {
          while (loading) await (await fetch(`${base}/heap`)).arrayBuffer();
        })();
        const res = await fetch(`${base}/profile?seconds=2`);
        const bytes = new Uint8Array(await res.arrayBuffer());
        loading = false;
        await load;
        assert.equal(res.status, 200, new TextDecoder().decode(bytes));
        const file = `${dir}/cpu.pb.gz`;
        await Deno.writeFile(file, bytes);

        const top = await goToolPprof(["-top", "-lines", file]);
        assert.equal(top.code, 0, top.stderr);
        console.log(
          top.stdout.split("\n").filter((l) => l.includes(ROOT)).slice(0, 12)
            .join("\n"),
        );
        // No frame of ours left at a position in the bundle (an npm
        // package's may be: its own map does not cover every line).
        const bundleLines = (await Deno.readTextFile(script)).split("\n");
        for (
          const [row, line] of top.stdout.matchAll(/^.*coredeno\.js:(\d+)$/gm)
        ) {
          const module = bundleLines.slice(0, Number(line)).findLast((l) =>
            /^\/\/ \S+\.[cm]?[jt]sx?$/.test(l)
          );
          assert.match(module ?? "", /registry\.npmjs\.org/, row);
        }
        const own = [
          ...top.stdout.matchAll(/ (\S+) (\/\S+\.ts):(\d+)$/gm),
        ].filter(([, , path]) => path!.startsWith(`${ROOT}/`));
        assert.ok(own.length > 0, `no frames in ${ROOT}:\n${top.stdout}`);
        for (const [row, name, path, line] of own) {
          const lines = (await Deno.readTextFile(path!)).split("\n");
          assert.ok(
            Number(line) >= 1 && Number(line) <= lines.length,
            `${row}: line beyond ${path}`,
          );
          // esbuild renames clashing names (setup → setup2): V8 sees those.
          const stem = name!.replace(/\d+$/, "").split(".").at(-1)!;
          if (/^[\w$]+$/.test(stem)) {
            assert.ok(
              lines.slice(0, Number(line)).some((l) => l.includes(stem)),
              `${row}: no ${stem} at or above line ${line} of ${path}`,
            );
          }
        }
      } finally {
        await server.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
