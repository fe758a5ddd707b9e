/**
 * What the bench's suites share: the run's configuration, the suite shape,
 * the coredeno processes they start (the HTTP app, `main.ts -conf`) and the
 * HTTP load and profiling windows.
 */

import {
  type Arm,
  type Child,
  measure,
  type Result,
  run,
  type Side,
  spawn,
} from "../harness.ts";
import { type Need, REPO, type Tools } from "../setup.ts";
import {
  SERVER_PERMISSIONS,
  START_PERMISSIONS,
} from "../../lib/permissions.ts";

export interface Config {
  quick: boolean;
  /** Windows per comparison (per set of processes where there are several). */
  rounds: number;
  seconds: number;
  /**
   * Fresh sets of processes for comparisons of settings fixed at a
   * process's start (each process has its own JIT luck: harness.ts).
   */
  sets: number;
  /** Requests per second of the paced HTTP load on each server (`pacedLoad`). */
  rate: number;
  tools: Tools;
  log(text: string): void;
}

export interface Suite {
  ids: string[];
  title: string;
  needs: Need[];
  run(c: Config): Promise<Result[]>;
}

export const CONFIG = `${REPO}deno.json`;
export const MAIN = `${REPO}main.ts`;
export const FIXTURES = `${REPO}bench/fixtures`;
export const HTTP_CONNECTIONS = 16;

/** A first second of load (JIT, connections), skipped by --quick. */
export async function warmUp(
  c: Config,
  load: (seconds: number) => Promise<number>,
) {
  if (!c.quick) await load(1);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function skipped(ids: string[], name: string, note: string): Result[] {
  return ids.map((id) => ({ id, name, unit: "", note }));
}

/** The coredeno HTTP workload (bench/fixtures/app.ts). */
export async function startApp(options: {
  pprof?: boolean;
  pprofBody?: string;
  retainMb?: number;
  v8Flags?: string;
  /** A 1 ms ticker, whose longest gap `GET /pause` answers (P12). */
  ticker?: boolean;
}): Promise<{ child: Child; app: string; pprof?: string }> {
  const child = spawn(Deno.execPath(), [
    "run",
    "--config",
    CONFIG,
    ...START_PERMISSIONS,
    ...(options.v8Flags ? [`--v8-flags=${options.v8Flags}`] : []),
    `${FIXTURES}/app.ts`,
    "--app-port",
    "0",
    ...(options.pprof ? ["--pprof-port", "0"] : []),
    ...(options.pprofBody ? ["--pprof-body", options.pprofBody] : []),
    ...(options.retainMb ? ["--retain-mb", String(options.retainMb)] : []),
    ...(options.ticker ? ["--ticker"] : []),
  ], { env: { NO_COLOR: "1" } });
  await child.waitFor("ready", 120_000);
  let ready: RegExpExecArray | null;
  while ((ready = /^ready (\d+) (\S+) /m.exec(child.output())) === null) {
    await sleep(5); // the rest of the line
  }
  const [, appPort, pprofPort] = ready;
  return {
    child,
    app: `http://127.0.0.1:${appPort}/`,
    ...(options.pprof ? { pprof: `http://127.0.0.1:${pprofPort}` } : {}),
  };
}

/** A Node 20 `node_app.mjs` process: its app, its control port and a call to it. */
export interface NodeApp {
  child: Child;
  app: string;
  control: string;
  /** Asks the control port (`/start`, `/stop`, …); returns its answer. */
  call(path: string): Promise<string>;
}

/**
 * Starts bench/fixtures/node_app.mjs with `@datadog/pprof` from `dir`;
 * `ticker`: a 1 ms ticker whose longest gap the control port's `/pause`
 * answers.
 */
export async function startNodeApp(
  dir: string,
  ticker = false,
): Promise<NodeApp> {
  const child = spawn("node", [
    `${FIXTURES}/node_app.mjs`,
    "0",
    "0",
    dir,
    ...(ticker ? ["ticker"] : []),
  ]);
  await child.waitFor("ready");
  let ready: RegExpExecArray | null;
  while ((ready = /^ready (\d+) (\d+)$/m.exec(child.output())) === null) {
    await sleep(5); // the rest of the line
  }
  const [, appPort, controlPort] = ready;
  const control = `http://127.0.0.1:${controlPort}`;
  return {
    child,
    app: `http://127.0.0.1:${appPort}/`,
    control,
    async call(path) {
      const r = await fetch(`${control}${path}`);
      const text = await r.text();
      if (!r.ok) throw new Error(`node control ${path}: ${r.status} ${text}`);
      return text;
    },
  };
}

/** Completed requests against `url` in `seconds`, from a separate process. */
export async function httpLoad(
  c: Config,
  url: string,
  seconds: number,
): Promise<number> {
  if (c.tools.loader === "wrk") {
    const out = await run("wrk", [
      "-t1",
      `-c${HTTP_CONNECTIONS}`,
      `-d${Math.max(1, Math.round(seconds))}s`,
      url,
    ], { timeoutMs: seconds * 1000 + 30_000 });
    const ops = /(\d+) requests in/.exec(out)?.[1];
    if (ops === undefined) throw new Error(`unexpected wrk output:\n${out}`);
    const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1];
    return Number(ops) - Number(errors ?? 0);
  }
  return (await inRepoLoad(url, seconds)).ops;
}

/** bench/fixtures/load.ts against `url`: back to back, or paced at `rate`/s. */
async function inRepoLoad(
  url: string,
  seconds: number,
  rate?: number,
): Promise<{ ops: number; errors: number }> {
  const out = await run(Deno.execPath(), [
    "run",
    "--allow-net=127.0.0.1",
    `${FIXTURES}/load.ts`,
    url,
    String(seconds),
    "8",
    ...(rate ? [String(rate)] : []),
  ], { timeoutMs: seconds * 1000 + 30_000 });
  return JSON.parse(out);
}

/**
 * Requests completed against `url` in `seconds` at `c.rate` per second
 * (bench/fixtures/load.ts paced, a process of its own); fails if more
 * than 1% of them failed.
 */
export async function pacedLoad(
  c: Config,
  url: string,
  seconds: number,
): Promise<number> {
  const { ops, errors } = await inRepoLoad(url, seconds, c.rate);
  if (errors > ops / 100) {
    throw new Error(`${url}: ${errors} failed requests, ${ops} answered`);
  }
  return ops;
}

/** A process under paced HTTP load, nothing else done: a side of `sideBySide`. */
export function plainSide(c: Config, pid: number, url: string): Side {
  return { pid, load: (s) => pacedLoad(c, url, s) };
}

/**
 * `side` with a CPU profile request held open around its window of
 * `seconds` (asked 100 ms before it, left when it ends, which stops the
 * profile; the server builds it outside the window: P3 measures the build).
 */
export function withCapture(side: Side, pprof: string, seconds: number): Side {
  let abort: AbortController | undefined;
  let profile: Promise<unknown> | undefined;
  return {
    ...side,
    async before() {
      await side.before?.();
      abort = new AbortController();
      const asked = Math.ceil(seconds) + 5;
      profile = fetch(`${pprof}/debug/pprof/profile?seconds=${asked}`, {
        signal: abort.signal,
      }).then((r) => r.arrayBuffer()).catch(() => {});
      await sleep(100);
    },
    async after() {
      abort?.abort();
      await profile;
      await sleep(200); // the server builds the profile it was asked for
      await side.after?.();
    },
  };
}

/** An "on" window of `alternate` for coredeno: `load` with a capture held open (`withCapture`). */
export function profilingArm(
  name: string,
  pid: number,
  pprof: string,
  load: (seconds: number) => Promise<number>,
): Arm {
  return {
    name,
    async window(s) {
      const side = withCapture({ pid, load }, pprof, s);
      await side.before!();
      const w = await measure(pid, () => load(s));
      await side.after!();
      return w;
    },
  };
}

/** Checks that a CPU profile can be taken (a 1 s one), so "on" is really on. */
export async function checkProfile(pprof: string): Promise<void> {
  const r = await fetch(`${pprof}/debug/pprof/profile?seconds=1`);
  const bytes = new Uint8Array(await r.arrayBuffer());
  if (r.status !== 200 || bytes[0] !== 0x1f) {
    throw new Error(`profile endpoint answered ${r.status}`);
  }
}

/** A program of bench/fixtures that prints `ready PORT` once it serves. */
export interface Program {
  /** The program's own process (under `coredeno run`, not the supervisor). */
  pid: number;
  child: Child;
  /** http://127.0.0.1:PORT of its `ready` line. */
  url: string;
  /** Where pprof answers, when attached. */
  pprof?: string;
  /** `coredeno run`'s own process, when there is one. */
  supervisor?: number;
}

/**
 * How a fixture program runs: `plain` (`deno run`), `watched` (`coredeno
 * run`: the watcher, over the private inspector) or `inproc` (`deno run`
 * with the program's own `--serve-pprof`, for fixtures that have it).
 */
export type How = "plain" | "watched" | "inproc";

/** Starts `bench/fixtures/SCRIPT` as `how` says; resolves once it is ready. */
export async function startProgram(
  script: string,
  how: How,
  args: string[] = [],
): Promise<Program> {
  return await readyProgram(spawnProgram(script, how, args), how);
}

/** Spawns `bench/fixtures/SCRIPT` as `how` says (`readyProgram` waits for it). */
export function spawnProgram(
  script: string,
  how: How,
  args: string[] = [],
): Child {
  const path = `${FIXTURES}/${script}`;
  return how === "watched"
    ? spawn(Deno.execPath(), [
      "run",
      "--config",
      CONFIG,
      ...RUN_TASK,
      "--pprof",
      "127.0.0.1:0",
      path,
      ...args,
    ], { env: { NO_COLOR: "1" } })
    : spawn(Deno.execPath(), [
      "run",
      "--config",
      CONFIG,
      ...START_PERMISSIONS,
      path,
      ...args,
      ...(how === "inproc" ? ["--serve-pprof"] : []),
    ], { env: { NO_COLOR: "1" } });
}

/**
 * `coredeno run` as `deno task run` starts it (after `deno run`: its
 * permissions, main.ts, `run`), with main.ts's path made absolute.
 */
const RUN_TASK: string[] = (JSON.parse(Deno.readTextFileSync(CONFIG)) as {
  tasks: { run: string };
}).tasks.run.split(/\s+/).slice(2).map((arg) => arg === "main.ts" ? MAIN : arg);

/** The pprof URL that `coredeno run` printed, once it has. */
export function watchedPprof(child: Child): string | undefined {
  return /pprof at (http:\/\/\S+?)\/debug\/pprof\//.exec(child.output())?.[1];
}

/** A spawned program, once it has printed its `ready` line. */
export async function readyProgram(child: Child, how: How): Promise<Program> {
  const port = await readyPort(child);
  const program: Program = {
    pid: child.pid,
    child,
    url: `http://127.0.0.1:${port}`,
  };
  if (how === "watched") {
    program.pprof = watchedPprof(child);
    if (!program.pprof) throw new Error(`no pprof address:\n${child.output()}`);
    program.supervisor = child.pid;
    program.pid = await onlyChild(child.pid);
  }
  return program;
}

/** The port of a fixture's `ready PORT` line, once it is printed whole. */
export async function readyPort(child: Child): Promise<number> {
  await child.waitFor("ready ", 120_000);
  let ready: RegExpExecArray | null;
  while ((ready = /^ready (\d+)\s*$/m.exec(child.output())) === null) {
    await sleep(5); // the rest of the line
  }
  return Number(ready[1]);
}

/** The one child process of `pid` (`coredeno run`'s program). */
async function onlyChild(pid: number): Promise<number> {
  const text = await run("sh", ["-c", `cat /proc/${pid}/task/*/children`]);
  const pids = text.trim().split(/\s+/).filter(Boolean).map(Number);
  if (pids.length !== 1) {
    throw new Error(`coredeno run (${pid}) has children [${pids}], not one`);
  }
  return pids[0]!;
}

/** A coredeno process as users run it (`main.ts -conf`), DNS + pprof. */
export function startCoredeno(dnsPort: number, pprofPort: number): Child {
  return startCorefile(
    `.:${dnsPort} {\n    whoami\n    pprof 127.0.0.1:${pprofPort}\n}\n`,
  );
}

/** `main.ts -conf` on a Corefile with this text, in a directory of its own. */
export function startCorefile(corefile: string): Child {
  const dir = Deno.makeTempDirSync({ prefix: "coredeno-bench-" });
  Deno.writeTextFileSync(`${dir}/Corefile`, corefile);
  const child = spawn(Deno.execPath(), [
    "run",
    "--config",
    CONFIG,
    ...SERVER_PERMISSIONS,
    MAIN,
    "-conf",
    `${dir}/Corefile`,
  ], { cwd: dir, env: { NO_COLOR: "1" } });
  const stop = child.stop;
  child.stop = async () => {
    await stop();
    await Deno.remove(dir, { recursive: true });
  };
  return child;
}
