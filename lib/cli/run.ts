/**
 * `coredeno run [--pprof ADDRESS] [--block [RATE]] [--allocations]
 * [DENO FLAGS...] SCRIPT [ARGS...]`: runs an unmodified Deno program with
 * `/debug/pprof` attached. It is `deno run --preload lib/pprof/attach.ts`:
 * the listener starts in the program's own isolate, before its main module,
 * which stays the main module (its `Deno.args`, `import.meta.main` and exit
 * code are its own).
 *
 * Permissions: without any permission flag the program gets coredeno's own
 * (`--allow-net --allow-read --allow-env --allow-sys`); with some (`-A`,
 * `--allow-write`, `--allow-net=...`), it gets exactly those plus
 * `--allow-sys`, which the profiler needs. Other Deno flags before SCRIPT
 * (`--v8-flags=...`, `--unstable-...`, `--config=...`) pass through; give
 * their values with `=`.
 */

import { START_PERMISSIONS } from "../permissions.ts";
import { DEFAULT_ADDRESS } from "../pprof/mod.ts";

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
  return /^(-A|--allow-|--deny-|-P$|-P=|--permission-set)/.test(flag);
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
    }
  }
  const script = argv[i];
  if (script === undefined) throw new RunUsageError("no SCRIPT to run");
  const permissions = denoFlags.some(isPermissionFlag)
    ? ["--allow-sys"]
    : START_PERMISSIONS;
  return {
    pprof,
    denoFlags: [...permissions, ...denoFlags],
    script,
    args: argv.slice(i + 1),
  };
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
  const attach = new URL(ATTACH);
  attach.searchParams.set("address", plan.pprof.address);
  if (plan.pprof.block) attach.searchParams.set("block", `${plan.pprof.block}`);
  if (plan.pprof.allocations) attach.searchParams.set("allocations", "");
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...plan.denoFlags,
      "--preload",
      attach.href,
      plan.script,
      ...plan.args,
    ],
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // The program decides what a signal means; we only pass it on.
  const forward = (signal: Deno.Signal) => () => child.kill(signal);
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM", "SIGHUP"];
  const listeners = signals.map((s) => [s, forward(s)] as const);
  for (const [s, listener] of listeners) Deno.addSignalListener(s, listener);
  const status = await child.status;
  for (const [s, listener] of listeners) Deno.removeSignalListener(s, listener);
  return status.signal === null ? status.code : 128 + signalNumber(status);
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
