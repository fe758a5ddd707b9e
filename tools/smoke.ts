/**
 * Smoke test of a built coredeno, the executable or the bundle, as the
 * release workflow runs it on each OS, and tests/bundle_test.ts here:
 *
 *   deno run -A tools/smoke.ts dist/coredeno-TARGET[.exe]
 *   deno run -A tools/smoke.ts dist/coredeno.js      (run by `deno run`)
 *
 * It runs `-version`, then serves pprof from a Corefile on a free port with
 * an empty DENO_DIR (so Deno's emit cache cannot be what maps frames), loads
 * the flame-graph page and its files (text imports the build must carry),
 * takes a 2 s CPU profile while fetching heap profiles, and reads it with
 * `go tool pprof -top -lines`: coredeno's own frames must be at TypeScript
 * files and lines. Run from the repository root (the lines are checked
 * against its sources). Exit 0 and the frames on stdout, or 1 and why.
 */

import { join, resolve } from "node:path";
import { message } from "../lib/errors.ts";
import { SERVER_PERMISSIONS } from "../lib/permissions.ts";

export interface SmokeResult {
  version: string;
  /** `go tool pprof -top -lines` output. */
  top: string;
  /** Its rows for coredeno's own modules: `name path.ts:line`. */
  own: string[];
}

/** `deno run` for a `.js` bundle, the file itself for an executable. */
function commandFor(built: string): [string, string[]] {
  return built.endsWith(".js")
    ? [Deno.execPath(), ["run", "--no-config", ...SERVER_PERMISSIONS, built]]
    : [built, []];
}

/** Whether a profile row's file is one of coredeno's own modules. */
function ownModule(path: string): string | undefined {
  if (path.includes("registry.npmjs.org")) return undefined;
  const m = /(?:^|[\\/])((?:lib|plugins)[\\/].+\.ts|main\.ts)$/.exec(path);
  return m?.[1]?.replaceAll("\\", "/");
}

/**
 * Runs the checks on `built` (an executable or a `.js` bundle); throws an
 * Error saying what failed. `repo` is where the TypeScript sources are.
 */
export async function smoke(
  built: string,
  options: { repo?: string } = {},
): Promise<SmokeResult> {
  const repo = options.repo ?? Deno.cwd();
  built = resolve(built);
  const [cmd, pre] = commandFor(built);
  const dir = await Deno.makeTempDir({ prefix: "coredeno-smoke-" });
  try {
    const denoDir = join(dir, "deno_dir");
    await Deno.mkdir(denoDir);
    const env = { DENO_DIR: denoDir, NO_COLOR: "1" };
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);

    const v = await new Deno.Command(cmd, {
      args: [...pre, "-version"],
      cwd: dir,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const version = decode(v.stdout).trim();
    if (!v.success || !version.startsWith("coredeno-")) {
      throw new Error(`-version: ${version} ${decode(v.stderr)}`.trim());
    }

    // Ports of the kernel's choosing; pprof's is in its Listening line.
    await Deno.writeTextFile(
      join(dir, "Corefile"),
      ".:0 {\n    whoami\n    pprof 127.0.0.1:0\n}\n",
    );
    const child = new Deno.Command(cmd, {
      args: [...pre, "-conf", "Corefile"],
      cwd: dir,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let out = "";
    let err = "";
    const pumps = Promise.all([
      child.stdout.pipeThrough(new TextDecoderStream()).pipeTo(
        new WritableStream({ write: (s) => void (out += s) }),
      ),
      child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
        new WritableStream({ write: (s) => void (err += s) }),
      ),
    ]);
    let exited = false;
    const status = child.status.then((s) => (exited = true, s));
    try {
      const deadline = Date.now() + 30_000;
      while (!/^coredeno-/m.test(out)) {
        if (exited) throw new Error(`exited early: ${out}${err}`);
        if (Date.now() > deadline) throw new Error(`no banner: ${out}${err}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      const port = /plugin\/pprof: Listening on 127\.0\.0\.1:(\d+)$/m.exec(out)
        ?.[1];
      if (port === undefined) throw new Error(`no pprof port: ${out}${err}`);
      const base = `http://127.0.0.1:${port}/debug/pprof`;
      await checkUi(base, repo);
      let loading = true;
      const load = (async () => {
        while (loading) await (await fetch(`${base}/heap`)).arrayBuffer();
      })();
      const res = await fetch(`${base}/profile?seconds=2`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      loading = false;
      await load;
      if (res.status !== 200) {
        throw new Error(`profile: ${res.status} ${decode(bytes)}`);
      }
      const file = join(dir, "cpu.pb.gz");
      await Deno.writeFile(file, bytes);

      const goTmp = join(dir, "go");
      await Deno.mkdir(goTmp);
      const go = await new Deno.Command("go", {
        args: ["tool", "pprof", "-top", "-lines", file],
        env: { PPROF_TMPDIR: goTmp, HOME: goTmp },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const top = decode(go.stdout);
      if (!go.success) throw new Error(`go tool pprof: ${decode(go.stderr)}`);
      const own: string[] = [];
      for (
        const [row, name, path, line] of top.matchAll(
          / (\S+) (\S+):(\d+)\r?$/gm,
        )
      ) {
        const module = ownModule(path!);
        if (module) {
          await checkLine(repo, module, name!, Number(line), row!.trim());
          own.push(row!.trim());
        } else if (/coredeno\.js$/.test(path!) && built.endsWith(".js")) {
          await checkNotOwn(built, Number(line), row!.trim());
        }
      }
      if (own.length === 0) {
        throw new Error(`no frame of coredeno's own at a .ts line:\n${top}`);
      }
      return { version, top, own };
    } finally {
      try {
        child.kill(Deno.build.os === "windows" ? "SIGKILL" : "SIGTERM");
      } catch { /* already exited */ }
      await status;
      await pumps;
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The row's line exists in the source, and the function's name is at or above it. */
/**
 * The flame-graph page and its files, which are text imports: a build that
 * left them out of its module graph would fail here, in a folder away from
 * the checkout. The script and style are served as the checkout has them.
 */
async function checkUi(base: string, repo: string): Promise<void> {
  const page = await fetch(`${base}/ui/`);
  const html = await page.text();
  if (
    page.status !== 200 ||
    !html.includes('<script src="flame.js" defer></script>') ||
    !html.includes('<option value="profile">profile</option>')
  ) {
    throw new Error(`ui/: ${page.status} ${html.slice(0, 200)}`);
  }
  for (const file of ["flame.js", "flame.css"]) {
    const response = await fetch(`${base}/ui/${file}`);
    const served = await response.text();
    const source = await Deno.readTextFile(
      join(repo, "lib", "pprof", "ui", file),
    );
    if (response.status !== 200 || served !== source) {
      throw new Error(
        `ui/${file}: ${response.status}, not lib/pprof/ui/${file} as it is`,
      );
    }
  }
}

async function checkLine(
  repo: string,
  module: string,
  name: string,
  line: number,
  row: string,
) {
  const lines = (await Deno.readTextFile(join(repo, module))).split("\n");
  if (line < 1 || line > lines.length) {
    throw new Error(`${row}: ${module} has ${lines.length} lines`);
  }
  // esbuild renames clashing names (setup → setup2): V8 sees those.
  const stem = name.replace(/\d+$/, "").split(".").at(-1)!;
  if (
    /^[\w$]+$/.test(stem) && !lines.slice(0, line).some((l) => l.includes(stem))
  ) {
    throw new Error(`${row}: no ${stem} at or above line ${line} of ${module}`);
  }
}

/**
 * A frame left at a bundle position must be an npm package's (its map may
 * skip lines) or esbuild's runtime's.
 */
async function checkNotOwn(bundle: string, line: number, row: string) {
  const lines = (await Deno.readTextFile(bundle)).split("\n");
  const module = lines.slice(0, line).findLast((l) =>
    /^\/\/ \S+\.[cm]?[jt]sx?$/.test(l)
  );
  // Before the first module comment: esbuild's runtime helpers, no source.
  if (module !== undefined && !module.includes("registry.npmjs.org")) {
    throw new Error(`${row}: a frame of ${module} left unmapped`);
  }
}

if (import.meta.main) {
  const built = Deno.args[0];
  if (!built) {
    console.error("usage: tools/smoke.ts dist/coredeno[-TARGET][.exe|.js]");
    Deno.exit(2);
  }
  try {
    const r = await smoke(built);
    console.log(r.version);
    console.log(r.own.slice(0, 15).join("\n"));
  } catch (error) {
    console.error(`smoke test of ${built} failed: ${message(error)}`);
    Deno.exit(1);
  }
}
