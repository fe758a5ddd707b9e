/**
 * `coredeno run [--pprof ADDRESS] [--block [RATE]] [--allocations]
 * [DENO FLAGS...] SCRIPT [ARGS...]`: runs an unmodified Deno program with
 * `/debug/pprof` attached. It is `deno run --preload lib/pprof/attach.ts`
 * with a private inspector (`--inspect=127.0.0.1:PORT
 * --inspect-publish-uid=none`): the preload starts the watcher Worker, which
 * profiles every isolate from outside their event loops and serves the
 * listener, before the program's main module runs; that stays the main
 * module (its `Deno.args`, `import.meta.main` and exit code are its own).
 *
 * Nothing is printed into the program's output: Deno's inspector notes
 * ("Debugger session started.") are filtered out through `DENO_LOG`, which
 * the preload then removes from the program's environment where it may;
 * the address served is printed here, by `coredeno run`, before the program
 * starts.
 *
 * Permissions: without any permission flag the program gets coredeno's own
 * (`--allow-net --allow-read --allow-env --allow-sys`); with some, it gets
 * exactly those plus what the profiler needs and they do not grant:
 * `--allow-sys` and `--allow-net` to the inspector's and pprof's own
 * addresses (nothing is added to `-A`). Other Deno flags before SCRIPT
 * (`--v8-flags=...`, `--config x`, ...) pass through.
 *
 * Signals: Ctrl-C reaches the program from the terminal itself (it is in
 * the same process group), so `coredeno run` does not pass SIGINT on, which
 * would deliver it twice; SIGTERM and SIGHUP, which are sent to it alone,
 * it passes on.
 */

import { START_PERMISSIONS } from "../permissions.ts";
import { parsePort, splitHostPort } from "../net/host_port.ts";
import { DEFAULT_ADDRESS } from "../pprof/listen.ts";

/** Exit status for bad usage, as Go's flag package (and coredeno) use. */
const EXIT_USAGE = 2;

export const RUN_USAGE =
  `Usage: coredeno run [--pprof ADDRESS] [--block [RATE]] [--allocations] [DENO FLAGS...] SCRIPT [ARGS...]

Runs a Deno program with /debug/pprof attached (default ${DEFAULT_ADDRESS}).
  --pprof ADDRESS   where pprof listens, host:port (port 0: any free port)
  --block [RATE]    event-loop stall profile; RATE in ns, as the Corefile's block
  --allocations     allocs is cumulative alloc_space instead of live objects
DENO FLAGS (-A, --allow-*, --deny-*, --v8-flags=..., ...) are passed to deno run;
without a permission flag the program gets --allow-net --allow-read --allow-env --allow-sys.`;

/** What `coredeno run` was asked, parsed. */
export interface RunPlan {
  /** Options for `servePprof`, as attach.ts reads them from its URL. */
  pprof: { address: string; block?: number; allocations?: true };
  denoFlags: string[];
  script: string;
  args: string[];
}

/** A usage mistake, with the message to print above the usage. */
export class RunUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RunUsageError";
  }
}

/** Whether a Deno flag grants or denies a permission. */
function isPermissionFlag(flag: string): boolean {
  return /^(-A|--allow-|--deny-|--ignore-|-[RWINESP]($|=)|--permission-set)/
    .test(flag);
}

/** Deno flags whose value may follow as the next argument (`--config x`). */
const FLAGS_WITH_VALUE = new Set([
  "-c",
  "--config",
  "--import-map",
  "--lock",
  "--cert",
  "--ext",
  "--location",
  "--seed",
  "--preload",
  "--require",
  "--conditions",
  "--node-modules-linker",
  "--min-dep-age",
  "--inspect-publish-uid",
  "-L",
  "--log-level",
]);

/** Whether the flags grant everything (so nothing may be added: Deno refuses `-A --allow-sys`). */
function grantsAll(flags: readonly string[]): boolean {
  return flags.some((f) => f === "-A" || f === "--allow-all");
}

/** Whether the flags grant a permission in full (`--allow-net`, `-N`), not scoped. */
function grantsWhole(flags: readonly string[], long: string, short: string) {
  return flags.some((f) => f === long || f === short);
}

/** Parses `run`'s arguments (those after `run`). */
export function parseRun(argv: readonly string[]): RunPlan {
  const pprof: RunPlan["pprof"] = { address: DEFAULT_ADDRESS };
  const denoFlags: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("-") || arg === "-") break;
    const [name, inline] = splitFlag(arg);
    switch (name) {
      case "--pprof": {
        const value = inline ?? argv[++i];
        if (value === undefined || value === "") {
          throw new RunUsageError("--pprof needs an ADDRESS (host:port)");
        }
        pprof.address = value;
        break;
      }
      case "--block": {
        // RATE is optional: the next argument is a rate only if it is a number.
        const value = inline ??
          (/^\d+$/.test(argv[i + 1] ?? "") ? argv[++i] : undefined);
        pprof.block = value === undefined ? 1 : Number(value);
        if (!Number.isSafeInteger(pprof.block) || pprof.block <= 0) {
          throw new RunUsageError(
            `--block invalid value '${value}': RATE must be a positive integer`,
          );
        }
        break;
      }
      case "--allocations":
        if (inline !== undefined) {
          throw new RunUsageError("--allocations takes no value");
        }
        pprof.allocations = true;
        break;
      case "-h":
      case "--help":
        throw new RunUsageError("");
      default:
        denoFlags.push(arg);
        // `--config x`: x is the flag's value, not the script.
        if (inline === undefined && FLAGS_WITH_VALUE.has(name)) {
          const value = argv[++i];
          if (value === undefined) {
            throw new RunUsageError(`${name} needs a value`);
          }
          denoFlags.push(value);
        }
    }
  }
  const script = argv[i];
  if (script === undefined) throw new RunUsageError("no SCRIPT to run");
  return {
    pprof,
    denoFlags: [...denoFlags],
    script,
    args: argv.slice(i + 1),
  };
}

/** Whether the program's flags start an inspector of the user's own. */
function userInspects(flags: readonly string[]): boolean {
  return flags.some((f) => /^--inspect(-brk|-wait)?($|=)/.test(f));
}

/**
 * The flags the program runs with: its own, and what the profiler needs
 * that they do not grant: the private inspector on `inspectPort`, the
 * `sys` permission (the inspector) and `net` to the inspector and pprof's
 * addresses. With no permission flag, coredeno's own set.
 */
export function childFlags(
  plan: RunPlan,
  inspectPort: number | undefined,
  pprofHostPort: string,
): string[] {
  const own = plan.denoFlags;
  const added: string[] = [];
  if (inspectPort !== undefined) {
    added.push(
      `--inspect=127.0.0.1:${inspectPort}`,
      "--inspect-publish-uid=none",
    );
  }
  if (!own.some(isPermissionFlag)) {
    added.push(...START_PERMISSIONS);
  } else if (!grantsAll(own)) {
    if (!grantsWhole(own, "--allow-sys", "-S")) added.push("--allow-sys");
    if (!grantsWhole(own, "--allow-net", "-N")) {
      const hosts = [pprofHostPort];
      if (inspectPort !== undefined) hosts.push(`127.0.0.1:${inspectPort}`);
      added.push(`--allow-net=${hosts.join(",")}`);
    }
  }
  return [...added, ...own];
}

/**
 * `DENO_LOG` that keeps the level the user chose (`-q`, `--log-level`, or
 * their own `DENO_LOG`) and silences only the inspector's notes.
 */
export function quietInspectorLog(
  flags: readonly string[],
  current: string | undefined,
): string {
  let base = current || "info";
  if (!current) {
    const level = flags.find((f) => /^(-L|--log-level)=/.test(f))?.split(
      "=",
    )[1] ??
      flags[flags.findIndex((f) => f === "-L" || f === "--log-level") + 1];
    if (flags.some((f) => f === "-q" || f === "--quiet")) base = "error";
    else if (level) base = level;
  }
  return `${base},deno_inspector_server=warn,deno::worker=warn,deno_runtime::worker=warn`;
}

function splitFlag(arg: string): [string, string | undefined] {
  const eq = arg.indexOf("=");
  return eq < 0 ? [arg, undefined] : [arg.slice(0, eq), arg.slice(eq + 1)];
}

/** Where the preload lives; only a checkout (or a copy of `lib/`) has it on disk. */
const ATTACH = new URL("../pprof/attach.ts", import.meta.url);

/** `coredeno run ...`: runs the program, returns its exit status. */
export async function runCli(argv: readonly string[]): Promise<number> {
  let plan: RunPlan;
  try {
    plan = parseRun(argv);
  } catch (error) {
    if (!(error instanceof RunUsageError)) throw error;
    if (error.message) console.error(`coredeno run: ${error.message}`);
    console.error(RUN_USAGE);
    return error.message ? EXIT_USAGE : 0;
  }
  if (ATTACH.protocol !== "file:" || !exists(ATTACH)) {
    console.error(
      `coredeno run: this build has no ${
        ATTACH.pathname.split("/").slice(-3).join("/")
      } on disk to preload; ` +
        "run it from a checkout: deno task run SCRIPT",
    );
    return 1;
  }
  let address: { listen: string; url: string; grant: string };
  try {
    address = concreteAddress(plan.pprof.address);
  } catch (error) {
    console.error(`coredeno run: pprof: ${(error as Error).message}`);
    console.error(RUN_USAGE);
    return EXIT_USAGE;
  }
  // The user's own --inspect: pprof profiles in-process (see watch.ts).
  const inspectPort = userInspects(plan.denoFlags) ? undefined : freePort();
  const attach = new URL(ATTACH);
  attach.searchParams.set("address", address.listen);
  if (plan.pprof.block) attach.searchParams.set("block", `${plan.pprof.block}`);
  if (plan.pprof.allocations) attach.searchParams.set("allocations", "");
  const env: Record<string, string> = {};
  if (inspectPort !== undefined) {
    attach.searchParams.set("watch", "");
    env.DENO_LOG = quietInspectorLog(plan.denoFlags, Deno.env.get("DENO_LOG"));
    if (!Deno.env.get("DENO_LOG")) attach.searchParams.set("unsetLog", "");
  }
  console.error(
    `coredeno run: pprof at http://${address.url}/debug/pprof/`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...childFlags(plan, inspectPort, address.grant),
      "--preload",
      attach.href,
      plan.script,
      ...plan.args,
    ],
    env,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // The program decides what a signal means; we only pass on what the
  // terminal did not already send it (see the module's comment).
  const forward = (signal: Deno.Signal) => () => child.kill(signal);
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? []
    : ["SIGTERM", "SIGHUP"];
  const listeners: [Deno.Signal, () => void][] = signals.map((
    s,
  ) => [s, forward(s)]);
  if (Deno.build.os !== "windows") listeners.push(["SIGINT", () => {}]);
  for (const [s, listener] of listeners) Deno.addSignalListener(s, listener);
  const status = await child.status;
  for (const [s, listener] of listeners) Deno.removeSignalListener(s, listener);
  return status.signal === null ? status.code : 128 + signalNumber(status);
}

/**
 * The pprof address with a port that is known before the program starts
 * (port 0 gets a free one here), so it can be printed and granted: as
 * written for the listener, as a URL's host, and as a `--allow-net` entry.
 */
function concreteAddress(
  address: string,
): { listen: string; url: string; grant: string } {
  const { host, port } = splitHostPort(address);
  let number = parsePort(address, port);
  if (number === 0) number = freePort(host || "0.0.0.0");
  const bracket = (h: string) => h.includes(":") ? `[${h}]` : h;
  return {
    listen: `${bracket(host)}:${number}`,
    url: `${bracket(host || "localhost")}:${number}`,
    grant: `${bracket(host || "0.0.0.0")}:${number}`,
  };
}

/** A port free now on `host` (the kernel's choice). */
function freePort(host = "127.0.0.1"): number {
  const listener = Deno.listen({ hostname: host, port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function signalNumber(status: Deno.CommandStatus): number {
  const numbers: Record<string, number> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGKILL: 9,
    SIGTERM: 15,
  };
  return numbers[status.signal ?? ""] ?? 1;
}

function exists(url: URL): boolean {
  try {
    return Deno.statSync(url).isFile;
  } catch {
    return false;
  }
}
