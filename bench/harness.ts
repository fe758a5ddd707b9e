/**
 * The bench harness: process CPU time from /proc, measurement windows,
 * paired ratios, child processes and the result table.
 *
 * Method: CPU time per operation of a process (all its threads' run time
 * from /proc, divided by completed operations), compared as ratios, never
 * as absolute numbers.
 *
 * Side by side (`sideBySide`, every CPU row of the suites in cpu.ts): the
 * processes compared are loaded in the same window, each by its own load
 * generator, so the other work on the machine, which comes and goes by the
 * second, weighs on all of them alike; the ratio is taken window by
 * window. Two processes of the same program are not alike either: V8
 * compiles each its own way (its tiering decides which function gets
 * optimized with which callee inlined, by timing), and a process may run
 * 20–25% cheaper per request than its twin for as long as it lives. So a
 * state that can be switched at run time (a capture held open, a scrape)
 * is compared on identical processes that take the roles in turn
 * (`rotation`), and each full turn is one ratio, its geometric mean, in
 * which every process's own luck cancels (`windowRatios`); settings fixed
 * at a process's start are compared over several fresh sets of processes,
 * beside an A/A twin measured the same way.
 *
 * `alternate` (the DNS suites) is the older way: windows one after the
 * other, each compared with the mean of its neighbours.
 */

import dgram from "node:dgram";

const CLK_TCK = 100; // USER_HZ on Linux (getconf CLK_TCK)

/**
 * A /proc file of another process. Deno asks for --allow-all to read
 * /proc/PID files directly, so `cat` reads them (--allow-run is granted).
 */
function procFile(pid: number, name: string): string {
  const out = new Deno.Command("cat", {
    args: [`/proc/${pid}/${name}`],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  if (!out.success) throw new Error(`cannot read /proc/${pid}/${name}`);
  return new TextDecoder().decode(out.stdout);
}

/** User + system CPU seconds in one /proc/PID/stat line (all threads, ended ones too). */
function statCpuSeconds(stat: string): number {
  // Fields after the command name, which sits in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** User + system CPU seconds a process has used so far (all threads). */
export function cpuSeconds(pid: number): number {
  return statCpuSeconds(procFile(pid, "stat"));
}

/** What `readCpu` reads of one process at one instant. */
export interface CpuReading {
  /** Whole-process user + system seconds, in ticks of 10 ms (ended threads too). */
  ticks: number;
  /** Nanoseconds each live thread has run, by thread id (schedstat). */
  threads: Map<number, number>;
}

/**
 * Reads several processes at one instant (one `sh`): their CPU time in
 * /proc/PID/stat, which counts in 10 ms ticks, and each live thread's run
 * time in nanoseconds (/proc/PID/task/TID/schedstat).
 */
export function readCpu(pids: readonly number[]): CpuReading[] {
  const script = pids.map((pid) =>
    `echo "= $(cat /proc/${pid}/stat)"; (cd /proc/${pid}/task && grep -H . */schedstat)`
  ).join("; ");
  const out = new Deno.Command("sh", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  const blocks = new TextDecoder().decode(out.stdout).split(/^= /m).slice(1);
  if (blocks.length !== pids.length) {
    throw new Error(`cannot read /proc/{${pids.join(",")}}`);
  }
  return blocks.map((block) => {
    const [stat, ...lines] = block.trim().split("\n");
    const threads = new Map<number, number>();
    for (const line of lines) {
      // "TID/schedstat:RUN_NS WAIT_NS SLICES"
      const [tid, rest] = line.split("/schedstat:");
      threads.set(Number(tid), Number(rest!.split(" ")[0]));
    }
    return { ticks: statCpuSeconds(stat!), threads };
  });
}

/**
 * CPU seconds between two readings of a process: to the nanosecond from
 * its threads' run times when every thread of the first reading still
 * lives (new ones count from their start), else from the 10 ms ticks.
 */
export function cpuBetween(a: CpuReading, b: CpuReading): number {
  let ns = 0;
  for (const [tid, before] of a.threads) {
    const after = b.threads.get(tid);
    if (after === undefined) return b.ticks - a.ticks;
    ns += after - before;
  }
  for (const [tid, after] of b.threads) {
    if (!a.threads.has(tid)) ns += after;
  }
  return ns / 1e9;
}

/** Resident set size of a process in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const status = procFile(pid, "status");
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return kb === undefined ? NaN : Number(kb) * 1024;
}

export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function summarize(values: number[]): Summary {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const mid = Math.floor(n / 2);
  const median = n % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[n - 1]!, n };
}

/** What one window measured. */
export interface Window {
  /** Completed operations. */
  ops: number;
  /** CPU seconds the measured process used in the window. */
  cpu: number;
  /** Wall seconds. */
  seconds: number;
}

export const cpuPerOp = (w: Window) => w.ops > 0 ? w.cpu / w.ops : NaN;
export const opsPerSecond = (w: Window) =>
  w.seconds > 0 ? w.ops / w.seconds : NaN;

/** One side of a comparison. */
export interface Arm {
  name: string;
  /** Measures one window of `seconds`. */
  window(seconds: number): Promise<Window>;
}

/**
 * Runs arms in turn, round after round: `rounds` rounds of every arm, then
 * one more window of the first arm (so every later window sits between two
 * of the first). Returns each arm's windows.
 */
export async function alternate(
  arms: Arm[],
  options: { rounds: number; seconds: number; gapMs?: number },
): Promise<Window[][]> {
  const out: Window[][] = arms.map(() => []);
  const gap = () => new Promise((r) => setTimeout(r, options.gapMs ?? 200));
  for (let round = 0; round < options.rounds; round++) {
    for (let i = 0; i < arms.length; i++) {
      out[i]!.push(await arms[i]!.window(options.seconds));
      await gap();
    }
  }
  out[0]!.push(await arms[0]!.window(options.seconds));
  return out;
}

/**
 * Ratios of arm `b` to the baseline arm `a`, one per round: b's window over
 * the mean of the a windows around it (when a is arm 0) or over a's window
 * of the same round.
 */
export function pairedRatios(
  windows: Window[][],
  a: number,
  b: number,
  metric: (w: Window) => number,
): number[] {
  const as = windows[a]!;
  const bs = windows[b]!;
  const ratios: number[] = [];
  for (let i = 0; i < bs.length; i++) {
    const base = a === 0 && as[i + 1]
      ? (metric(as[i]!) + metric(as[i + 1]!)) / 2
      : metric(as[i]!);
    ratios.push(metric(bs[i]!) / base);
  }
  return ratios;
}

/** One process's part in a side-by-side window. */
export interface Side {
  /** The process whose CPU is measured. */
  pid: number;
  /** Drives it for `seconds`; resolves to the operations it completed. */
  load(seconds: number): Promise<number>;
  /** Outside the window: before it starts (a capture asked for), after it ends. */
  before?(): Promise<void>;
  after?(): Promise<void>;
}

/**
 * `rounds` windows of `seconds`, in each of which every side of
 * `sides(round)` is loaded at the same time; the CPU of all of them is read
 * at one instant before and after. Returns each side's windows, by its
 * place in `sides(round)` (its role), one per round.
 */
export async function sideBySide(
  sides: (round: number) => Side[],
  options: { rounds: number; seconds: number; gapMs?: number },
): Promise<Window[][]> {
  const out: Window[][] = [];
  for (let round = 0; round < options.rounds; round++) {
    const these = sides(round);
    await Promise.all(these.map((side) => side.before?.()));
    const pids = these.map((side) => side.pid);
    const c0 = readCpu(pids);
    const timed = await Promise.all(these.map(async (side) => {
      const t0 = performance.now();
      const ops = await side.load(options.seconds);
      return { ops, seconds: (performance.now() - t0) / 1000 };
    }));
    const c1 = readCpu(pids);
    await Promise.all(these.map((side) => side.after?.()));
    timed.forEach(({ ops, seconds }, i) =>
      (out[i] ??= []).push({ ops, seconds, cpu: cpuBetween(c0[i]!, c1[i]!) })
    );
    await new Promise((r) => setTimeout(r, options.gapMs ?? 200));
  }
  return out;
}

/**
 * Roles played in turn: in round r, role i is played by process
 * (i + r) mod n, so that every process plays every role once in n rounds.
 */
export function rotation<P>(
  processes: readonly P[],
  roles: readonly ((process: P) => Side)[],
): (round: number) => Side[] {
  const n = processes.length;
  if (roles.length !== n) throw new Error("one role per process");
  return (round) => roles.map((role, i) => role(processes[(i + round) % n]!));
}

/**
 * Role `b` over role `a` in the same windows. With `cycle` n > 1 (roles in
 * `rotation` over n processes), one ratio per full turn of n rounds, the
 * geometric mean of its n window ratios: each process played both roles,
 * so its own speed divides out. An incomplete last turn is dropped.
 */
export function windowRatios(
  windows: Window[][],
  a: number,
  b: number,
  metric: (w: Window) => number,
  cycle = 1,
): number[] {
  const each = windows[b]!.map((w, i) => metric(w) / metric(windows[a]![i]!));
  const out: number[] = [];
  for (let i = 0; i + cycle <= each.length; i += cycle) {
    const turn = each.slice(i, i + cycle);
    out.push(Math.exp(turn.reduce((s, r) => s + Math.log(r), 0) / cycle));
  }
  return out;
}

/** Measures `pid`'s CPU around `load`, which returns completed operations. */
export async function measure(
  pid: number,
  load: () => Promise<number>,
): Promise<Window> {
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  const ops = await load();
  const seconds = (performance.now() - t0) / 1000;
  return { ops, cpu: cpuSeconds(pid) - c0, seconds };
}

// ---------------------------------------------------------------- processes

/**
 * A TCP port that was free a moment ago on 127.0.0.1: for `freeDnsPort`,
 * DNS servers whose port is written before they start (unbound's config,
 * several `.` servers in one Corefile, dnsperf's target), and for P6 in
 * suites/dns.ts (not converted here).
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A UDP+TCP port pair (same number) free a moment ago on 127.0.0.1. */
export async function freeDnsPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = freePort();
    const free = await new Promise<boolean>((resolve) => {
      const udp = dgram.createSocket("udp4");
      udp.once("error", () => {
        udp.close();
        resolve(false);
      });
      udp.bind(port, "127.0.0.1", () => udp.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error("no free UDP+TCP port pair on 127.0.0.1");
}

export interface Child {
  pid: number;
  /** Everything printed so far. */
  output(): string;
  /** Resolves once the output contains `text`; rejects if the process exits first. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Every child still running, so an interrupted bench leaves none behind. */
const running = new Set<Child>();

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((c) => c.stop()));
}

/** Spawns a long-running child, capturing stdout and stderr. */
export function spawn(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Child {
  const proc = new Deno.Command(cmd, {
    args,
    env: options.env,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  let exited = false;
  const pump = (stream: ReadableStream<Uint8Array>) =>
    stream.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (s) => void (text += s) }),
    ).catch(() => {});
  const done = Promise.all([
    proc.status,
    pump(proc.stdout),
    pump(proc.stderr),
  ]).then(() => void (exited = true));
  const child: Child = {
    pid: proc.pid,
    output: () => text,
    async waitFor(wanted, timeoutMs = 30_000) {
      const deadline = performance.now() + timeoutMs;
      while (!text.includes(wanted)) {
        if (exited) {
          throw new Error(`${cmd} ${args.join(" ")} exited:\n${text}`);
        }
        if (performance.now() > deadline) {
          throw new Error(
            `timed out waiting for "${wanted}" from ${cmd}:\n${text}`,
          );
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop() {
      running.delete(child);
      try {
        proc.kill("SIGTERM");
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          proc.kill("SIGKILL");
        } catch { /* gone */ }
      }, 3000);
      await done;
      clearTimeout(timer);
    },
  };
  running.add(child);
  return child;
}

/** Runs a command to completion, bounded in time; returns stdout (throws on failure). */
export async function run(
  cmd: string,
  args: string[],
  options: { timeoutMs?: number; env?: Record<string, string>; cwd?: string } =
    {},
): Promise<string> {
  const signal = AbortSignal.timeout(options.timeoutMs ?? 120_000);
  const out = await new Deno.Command(cmd, {
    args,
    env: options.env,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr);
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}${
        signal.aborted ? ", timed out" : ""
      }):\n${stdout}${stderr}`.trim(),
    );
  }
  return stdout;
}

/** Whether a command can be started. */
export function has(cmd: string): boolean {
  try {
    new Deno.Command(cmd, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- results

export interface Result {
  id: string;
  name: string;
  /** A ratio (dimensionless) or an absolute value in `unit`. */
  ratio?: number;
  value?: number;
  unit: string;
  min?: number;
  max?: number;
  n?: number;
  /** The target, as text (e.g. "≤ 1.01"), with its check. */
  target?: string;
  pass?: boolean;
  /** Why a metric was not measured ("pending: …", "skipped: …"). */
  note?: string;
}

/**
 * One ratio over another (coredeno's cost over Node's): medians over
 * medians, the widest spread their extremes allow.
 */
export function ratioOfRatios(a: Summary, b: Summary): Summary {
  return {
    median: a.median / b.median,
    min: a.min / b.max,
    max: a.max / b.min,
    n: Math.min(a.n, b.n),
  };
}

/** A result from a summary, checked against `limit` (≤ unless `atLeast`). */
export function ratioResult(
  id: string,
  name: string,
  s: Summary,
  target?: { limit: number; atLeast?: boolean },
): Result {
  return {
    id,
    name,
    ratio: s.median,
    unit: "ratio",
    min: s.min,
    max: s.max,
    n: s.n,
    ...(target
      ? {
        target: `${target.atLeast ? "≥" : "≤"} ${target.limit}`,
        pass: target.atLeast
          ? s.median >= target.limit
          : s.median <= target.limit,
      }
      : {}),
  };
}

export function valueResult(
  id: string,
  name: string,
  s: Summary,
  unit: string,
  limit?: number,
): Result {
  return {
    id,
    name,
    value: s.median,
    unit,
    min: s.min,
    max: s.max,
    n: s.n,
    ...(limit === undefined
      ? {}
      : { target: `≤ ${limit} ${unit}`, pass: s.median <= limit }),
  };
}

function fmt(x: number | undefined, unit = "ratio"): string {
  if (x === undefined || !Number.isFinite(x)) return "-";
  if (unit === "ratio") return x.toFixed(3);
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** The results as an aligned Markdown table. */
export function table(results: Result[]): string {
  const head = [
    "id",
    "metric",
    "median",
    "unit",
    "min",
    "max",
    "n",
    "target",
    "verdict",
  ];
  const rows = results.map((r) => [
    r.id,
    r.name,
    r.note ?? fmt(r.ratio ?? r.value, r.unit),
    r.note ? "" : r.unit,
    fmt(r.min, r.unit),
    fmt(r.max, r.unit),
    r.n === undefined ? "-" : String(r.n),
    r.target ?? "",
    r.pass === undefined ? (r.note ? "" : "info") : r.pass ? "ok" : "MISS",
  ]);
  const widths = head.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => row[i]!.length))
  );
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [
    line(head),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...rows.map(line),
  ].join("\n");
}

/** One JSON object per metric, as the issue asks. */
export function jsonLine(r: Result): string {
  return JSON.stringify({
    name: `${r.id} ${r.name}`,
    ...(r.ratio !== undefined ? { ratio: r.ratio } : {}),
    ...(r.value !== undefined ? { value: r.value } : {}),
    unit: r.unit,
    min: r.min ?? null,
    max: r.max ?? null,
    n: r.n ?? 0,
    ...(r.target ? { target: r.target, pass: r.pass } : {}),
    ...(r.note ? { note: r.note } : {}),
  });
}
