/** Shared fixtures: free ports, a coredeno subprocess, and the `go` gate. */

import assert from "node:assert/strict";
import { correctMap } from "../tools/bundle.ts";
import { SERVER_PERMISSIONS, START_PERMISSIONS } from "../lib/permissions.ts";

export const REPO = new URL("../", import.meta.url);
export const MAIN = new URL("main.ts", REPO).pathname;
export const CONFIG = new URL("deno.json", REPO).pathname;

/**
 * `deno task start`'s permissions (least privilege; what `coredeno run`
 * gives a program) and `deno task start:fast`'s (the same and
 * `--allow-ffi`), with which `startCoredeno` runs the server; tests of the
 * sandboxed path add `--deny-ffi`.
 */
export { SERVER_PERMISSIONS, START_PERMISSIONS };

/**
 * A TCP port that was free a moment ago on 127.0.0.1, and may be taken by
 * the time it is bound. Prefer port 0 in the Corefile and `startCoredeno`'s
 * `zonePort`/`httpPort`; this is for a port that must be known before
 * anything starts (each use says why).
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A temp dir with the given files; removed by the returned function. */
export function tempFiles(
  files: Record<string, string>,
): { dir: string; cleanup(): void } {
  const dir = Deno.makeTempDirSync({ prefix: "coredeno-test-" });
  for (const [name, text] of Object.entries(files)) {
    const path = `${dir}/${name}`;
    Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    Deno.writeTextFileSync(path, text);
  }
  return { dir, cleanup: () => Deno.removeSync(dir, { recursive: true }) };
}

export interface Coredeno {
  readonly child: Deno.ChildProcess;
  /** Everything printed so far on stdout and stderr. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit status once the process ends. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Sends SIGTERM (if still running) and waits for the exit. */
  stop(): Promise<Deno.CommandStatus>;
}

/** Runs `main.ts` as `deno task start` would, in `cwd`, capturing its output. */
export function spawnCoredeno(
  args: string[],
  options: { cwd?: string; extraPermissions?: string[] } = {},
): Coredeno {
  return spawnScript(
    MAIN,
    args,
    {},
    options.extraPermissions ?? [],
    options.cwd,
  );
}

/** Collects a child's stdout and stderr as text while it runs. */
export function captured(child: Deno.ChildProcess): Coredeno {
  const out = { stdout: "", stderr: "" };
  const decoder = () => new TextDecoderStream();
  const pumps = [
    child.stdout.pipeThrough(decoder()).pipeTo(
      new WritableStream({ write: (s) => void (out.stdout += s) }),
    ),
    child.stderr.pipeThrough(decoder()).pipeTo(
      new WritableStream({ write: (s) => void (out.stderr += s) }),
    ),
  ];
  const status = Promise.all([child.status, ...pumps]).then(([s]) => s);
  return {
    child,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    status,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already exited */ }
      return await status;
    },
  };
}

/** Waits until `predicate` holds, polling; throws with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 15000,
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** What a started coredeno printed about the ports it bound. */
export interface BoundPorts {
  /**
   * The port of `key`'s zone line (`.:PORT`, `example.org.:PORT on HOST`,
   * `tls://.:PORT`): the port bound, also where the Corefile said 0.
   */
  zonePort(key?: string): number;
  /**
   * The port of `plugin`'s `Listening on HOST:PORT` line, which an HTTP
   * listener (pprof, health, ready, prometheus) logs for port 0; `index`
   * counts such lines of that plugin in printed order (a reload adds more).
   */
  httpPort(plugin: string, index?: number): number;
}

/** Reads the zone lines and `Listening on` lines out of coredeno's stdout. */
export function boundPorts(stdout: () => string): BoundPorts {
  return {
    zonePort(key = ".") {
      for (const line of stdout().split("\n")) {
        if (!line.startsWith(`${key}:`)) continue;
        const match = /^(\d+)(?: on \S+)?$/.exec(line.slice(key.length + 1));
        if (match) return Number(match[1]);
      }
      throw new Error(`No zone line for ${key} in:\n${stdout()}`);
    },
    httpPort(plugin, index = 0) {
      const lines = [
        ...stdout().matchAll(
          new RegExp(
            `^\\[INFO\\] plugin/${plugin}: Listening on \\S+:(\\d+)$`,
            "gm",
          ),
        ),
      ];
      const line = lines[index];
      if (line === undefined) {
        throw new Error(`No port ${index} of ${plugin} in:\n${stdout()}`);
      }
      return Number(line[1]);
    },
  };
}

/**
 * Starts coredeno on a Corefile and waits for its version banner. Write
 * port 0 in the Corefile and read the bound ports from `zonePort` and
 * `httpPort`.
 */
export async function startCoredeno(
  corefile: string,
  args: string[] = [],
  { extraPermissions }: { extraPermissions?: string[] } = {},
): Promise<Coredeno & BoundPorts & { cleanup(): void } & AsyncDisposable> {
  const files = tempFiles({ Corefile: corefile });
  const server = spawnCoredeno(["-conf", `${files.dir}/Corefile`, ...args], {
    cwd: files.dir,
    ...(extraPermissions ? { extraPermissions } : {}),
  });
  await waitForOutput(server, "coredeno", BANNER);
  return {
    ...server,
    ...boundPorts(server.stdout),
    cleanup: files.cleanup,
    /** `await using`: stops it and removes its files. */
    async [Symbol.asyncDispose]() {
      await server.stop();
      files.cleanup();
    },
  };
}

/**
 * coredeno's version line, the last of its startup output: at the start of
 * a line, since a log line may name a `coredeno-test-` temp dir earlier.
 */
export const BANNER = /^coredeno-\S+$/m;

/** Whether `process` has printed its version line: it has started. */
export function bannerPrinted(process: { stdout(): string }): boolean {
  return BANNER.test(process.stdout());
}

/** Waits until `process` prints `marker` on stdout; fails at once if it exits first. */
async function waitForOutput(process: Coredeno, name: string, marker: RegExp) {
  let exited = false;
  process.status.then(() => exited = true);
  await waitFor(`${name} to print ${marker}`, () => {
    if (exited) {
      throw new Error(
        `${name} exited early:\n${process.stdout()}\n${process.stderr()}`,
      );
    }
    return marker.test(process.stdout());
  });
}

/**
 * Whether `command ARGS` runs. CI installs every tool the tests use, so
 * there its absence is a failure; elsewhere the tests that need it skip,
 * saying what to install.
 */
export function toolAvailable(
  command: string,
  args: string[],
  { install, purpose }: { install: string; purpose: string },
): boolean {
  try {
    new Deno.Command(command, { args, stdout: "null", stderr: "null" })
      .outputSync();
    return true;
  } catch {
    if (Deno.env.get("CI")) {
      throw new Error(
        `${command} is required when CI is set (.ci/run installs ${install})`,
      );
    }
    console.log(
      `SKIPPED: ${command} is not installed; \`apt-get install -y ${install}\` to run ${purpose}`,
    );
    return false;
  }
}

/** Whether `go` is installed (the go tool pprof tests). */
export function goAvailable(): boolean {
  return toolAvailable("go", ["version"], {
    install: "golang-go",
    purpose: "the go tool pprof tests",
  });
}

/** A process running `tests/pprof/fixtures/workload.ts`: pprof plus a known workload. */
export async function startWorkload(pprofBlockBody = "") {
  const server = spawnScript(
    new URL("tests/pprof/fixtures/workload.ts", REPO).pathname,
    [pprofBlockBody],
  );
  await waitForOutput(server, "the workload", /^ready /m);
  const port = Number(/^ready (\d+) /m.exec(server.stdout())![1]);
  return { ...server, port, base: `http://127.0.0.1:${port}` };
}

/** Runs a Deno script of this repo with `deno task start`'s permissions. */
export function spawnScript(
  path: string,
  args: string[],
  env: Record<string, string> = {},
  denoFlags: string[] = [],
  cwd?: string,
): Coredeno {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      CONFIG,
      ...SERVER_PERMISSIONS,
      ...denoFlags,
      path,
      ...args,
    ],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  return captured(child);
}

/** Builds the bundle into `dir` with `deno task bundle`'s script. */
export async function buildBundle(dir: string): Promise<string> {
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
    cwd: REPO.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(built.success, new TextDecoder().decode(built.stderr));
  const code = await Deno.readTextFile(output);
  assert.match(code, /\/\/# sourceMappingURL=coredeno\.js\.map\n?$/);
  await Deno.stat(`${output}.map`);
  return output;
}

/** `deno` arguments for `coredeno run ARGS` as `deno task run` runs it. */
export function coredenoRunArgs(args: string[]): string[] {
  return [
    "run",
    "--allow-run",
    "--allow-read",
    "--allow-env",
    "--allow-net",
    MAIN,
    "run",
    ...args,
  ];
}

/**
 * `entry` bundled by `deno bundle` to `out`, its map corrected as `deno task
 * bundle` does (tools/bundle.ts); the code, and the map as JSON. The map
 * file is left to the caller (removed here).
 */
export async function bundleWithMap(
  entry: string,
  out: string,
): Promise<{ code: string; map: string }> {
  const built = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", "--sourcemap=external", "-o", out, entry],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(built.success, new TextDecoder().decode(built.stderr));
  const code = await Deno.readTextFile(out);
  const map = JSON.parse(await Deno.readTextFile(`${out}.map`));
  correctMap(code, map);
  await Deno.remove(`${out}.map`);
  return { code, map: JSON.stringify(map) };
}
