/**
 * coredeno: a Corefile-configured server whose `pprof` plugin serves this
 * process's profiles. Flags, Corefile discovery, startup output, signals and
 * exit codes follow CoreDNS (reference: corefile.md §6).
 */

import {
  FlagError,
  type FlagSpec,
  HelpRequested,
  parseGoFlags,
  usage,
} from "./lib/cli/go_flags.ts";
import { message } from "./lib/errors.ts";
import { log } from "./lib/log.ts";
import { versionLines, zoneLines } from "./lib/server/banner.ts";
import type { Runner } from "./lib/server/instance.ts";
import type { CorefileInput } from "./lib/server/plugin.ts";

/** CoreDNS's `-dns.port` default: zones that name no port listen here. */
const DEFAULT_DNS_PORT = "53";

const FLAGS: readonly FlagSpec[] = [
  {
    names: ["conf"],
    kind: "string",
    usage: 'Corefile to load (default "Corefile")',
  },
  {
    names: ["dns.port", "p"],
    kind: "string",
    usage: "Default port",
    default: DEFAULT_DNS_PORT,
  },
  { names: ["pidfile"], kind: "string", usage: "Path to write pid file" },
  { names: ["plugins"], kind: "bool", usage: "List installed plugins" },
  {
    names: ["quiet"],
    kind: "bool",
    usage: "Quiet mode (no initialization output)",
  },
  { names: ["version"], kind: "bool", usage: "Show version" },
];

/** Exit codes CoreDNS uses. */
const EXIT = {
  ok: 0,
  fatal: 1,
  usage: 2,
  forceQuit: 2,
  stopFailed: 3,
  shutdownFailed: 4,
} as const;

function fatal(message: string): never {
  console.error(message);
  Deno.exit(EXIT.fatal);
}

interface CorefileSource {
  input: CorefileInput;
  /** Reads it again for a reload; absent when the built-in default runs for want of any file. */
  reread?: () => Promise<CorefileInput>;
}

/**
 * `-conf` (or `stdin`), else `./Corefile`, else nothing (the built-in
 * default), with how to read the same source again (caddy's loaders).
 */
async function readCorefile(conf: string | undefined): Promise<CorefileSource> {
  if (conf === "stdin" && !Deno.stdin.isTerminal()) {
    const input = {
      text: await new Response(Deno.stdin.readable).text(),
      filename: "/dev/stdin",
    };
    // A pipe reads empty the second time: caddy then keeps the text it has.
    return { input, reread: () => Promise.resolve(input) };
  }
  if (conf !== undefined && conf !== "stdin") {
    const read = async (): Promise<CorefileInput> => {
      try {
        return { text: await Deno.readTextFile(conf), filename: conf };
      } catch (error) {
        throw new Error(describeReadError(conf, error), { cause: error });
      }
    };
    try {
      return { input: await read(), reread: read };
    } catch (error) {
      fatal(`loading Corefile via flag: ${message(error)}`);
    }
  }
  let input: CorefileInput;
  try {
    input = {
      text: await Deno.readTextFile("Corefile"),
      filename: "Corefile",
    };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { input: { text: "", filename: "Corefile" } };
    }
    fatal(`loading Corefile: ${describeReadError("Corefile", error)}`);
  }
  const first = input;
  return {
    input,
    async reread() {
      try {
        return {
          text: await Deno.readTextFile("Corefile"),
          filename: "Corefile",
        };
      } catch (error) {
        // caddy's default loader finds nothing and keeps the running text.
        if (error instanceof Deno.errors.NotFound) return first;
        throw new Error(describeReadError("Corefile", error), {
          cause: error,
        });
      }
    },
  };
}

/** Go's `open NAME: reason` wording for file errors. */
function describeReadError(path: string, error: unknown): string {
  if (error instanceof Deno.errors.NotFound) {
    return `open ${path}: no such file or directory`;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `open ${path}: permission denied`;
  }
  if (error instanceof Deno.errors.IsADirectory) {
    return `read ${path}: is a directory`;
  }
  return `open ${path}: ${message(error)}`;
}

function removePidfile(path: string | undefined): void {
  if (path === undefined) return;
  try {
    Deno.removeSync(path);
  } catch { /* already gone: nothing to undo */ }
}

/** SIGINT, SIGTERM, SIGQUIT and SIGHUP as caddy's POSIX trap handles them. */
function trapSignals(runner: Runner, pidfile: string | undefined): void {
  let interrupted = false;
  async function shutDown(signal: "SIGINT" | "SIGTERM"): Promise<never> {
    if (signal === "SIGINT") {
      log("INFO", "SIGINT: Shutting down");
      removePidfile(pidfile);
    } else {
      log("INFO", "SIGTERM: Shutting down servers then terminating");
    }
    const errors = await runner.stop();
    for (const error of errors) {
      log("ERROR", message(error));
    }
    removePidfile(pidfile);
    Deno.exit(errors.length > 0 ? EXIT.shutdownFailed : EXIT.ok);
  }
  Deno.addSignalListener("SIGINT", () => {
    if (interrupted) {
      log("INFO", "SIGINT: Force quit");
      removePidfile(pidfile);
      Deno.exit(EXIT.forceQuit);
    }
    interrupted = true;
    void shutDown("SIGINT");
  });
  if (Deno.build.os === "windows") return;
  Deno.addSignalListener("SIGTERM", () => void shutDown("SIGTERM"));
  Deno.addSignalListener("SIGQUIT", () => {
    log("INFO", "SIGQUIT: Quitting process immediately");
    removePidfile(pidfile);
    Deno.exit(EXIT.ok);
  });
  Deno.addSignalListener("SIGHUP", () => {}); // ignored, as CoreDNS does
  Deno.addSignalListener("SIGUSR1", () => void reload(runner));
}

/** SIGUSR1: re-read the Corefile from its source and restart on it (caddy's trap). */
async function reload(runner: Runner): Promise<void> {
  log("INFO", "SIGUSR1: Reloading");
  let input: CorefileInput | undefined;
  try {
    input = await runner.reread();
  } catch (error) {
    log("ERROR", `SIGUSR1: loading updated Corefile: ${message(error)}`);
    return;
  }
  if (input === undefined) {
    log("ERROR", "SIGUSR1: no Corefile loader with which to reload Corefile");
    return;
  }
  try {
    await runner.restart(input);
  } catch (error) {
    log("ERROR", `SIGUSR1: ${message(error)}`);
  }
}

async function main(args: readonly string[]): Promise<void> {
  let flags;
  try {
    flags = parseGoFlags(args, FLAGS);
  } catch (error) {
    const help = error instanceof HelpRequested;
    if (!help && !(error instanceof FlagError)) throw error;
    if (!help) console.error(error.message);
    console.error(usage("coredeno", FLAGS).trimEnd());
    Deno.exit(help ? EXIT.ok : EXIT.usage);
  }
  const { values, rest } = flags;
  if (rest.length > 0) {
    fatal(`extra command line arguments: [${rest.join(" ")}]`);
  }
  if (values.get("version") === "true") {
    console.log(versionLines().join("\n"));
    return;
  }
  // The server's modules load here: `run` and `capture` never need them.
  const { DIRECTIVES, PLUGINS } = await import("./plugins/mod.ts");
  if (values.get("plugins") === "true") {
    console.log(PLUGINS.map((p) => p.name).sort().join("\n") + "\n");
    return;
  }
  const quiet = values.get("quiet") === "true";
  const pidfile = values.get("pidfile");

  const pidLock = pidfile === undefined
    ? undefined
    : await lockPidfile(pidfile);
  const source = await readCorefile(values.get("conf"));
  const { Runner } = await import("./lib/server/instance.ts");
  const runner = new Runner({
    directives: DIRECTIVES,
    plugins: PLUGINS,
    dnsPort: values.get("dns.port") ?? DEFAULT_DNS_PORT,
    ...(source.reread === undefined ? {} : { reread: source.reread }),
  });
  let instance;
  try {
    instance = await runner.start(source.input);
  } catch (error) {
    removePidfile(pidfile); // created empty by the lock: nothing started
    fatal(message(error));
  }
  trapSignals(runner, pidfile);
  if (pidLock !== undefined) {
    try {
      await writePid(pidLock);
    } catch (error) {
      await runner.stop();
      fatal(`Could not write pidfile: ${describeReadError(pidfile!, error)}`);
    }
  }
  if (!quiet) console.log(zoneLines(instance.listening()).join("\n"));
  await instance.announce();
  if (!quiet) console.log(versionLines().join("\n"));
}

/** How long to wait for the pidfile's lock before deciding another process holds it. */
const PIDFILE_LOCK_WAIT_MS = 250;

/**
 * Opens and locks the pidfile for the life of the process, so a second
 * coredeno on the same pidfile refuses to start (CoreDNS would overwrite it,
 * and two servers would then fight over one file). The lock is the kernel's
 * (flock), so a stale file whose process is gone is no obstacle. Deno has no
 * non-blocking lock, hence the short wait.
 */
async function lockPidfile(pidfile: string): Promise<Deno.FsFile> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(pidfile, { read: true, write: true, create: true });
  } catch (error) {
    fatal(`Could not write pidfile: ${describeReadError(pidfile, error)}`);
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const locked = await Promise.race([
    file.lock(true).then(() => true),
    new Promise<false>((resolve) =>
      timer = setTimeout(() => resolve(false), PIDFILE_LOCK_WAIT_MS)
    ),
  ]);
  clearTimeout(timer);
  if (!locked) {
    const other = (await Deno.readTextFile(pidfile).catch(() => "")).trim() ||
      "unknown";
    fatal(`pidfile ${pidfile}: already running as pid ${other}`);
  }
  return file;
}

/** Writes our pid into the locked pidfile. */
async function writePid(file: Deno.FsFile): Promise<void> {
  await file.truncate(0);
  await file.seek(0, Deno.SeekMode.Start);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
}

if (import.meta.main) {
  // Each command loads only its own modules: `coredeno run`'s start is
  // time the program waits (bench P7w).
  if (Deno.args[0] === "capture") {
    const { runCapture } = await import("./lib/capture/cli.ts");
    Deno.exit(await runCapture(Deno.args.slice(1)));
  }
  if (Deno.args[0] === "run") {
    const { runCli } = await import("./lib/cli/run.ts");
    Deno.exit(await runCli(Deno.args.slice(1)));
  }
  await main(Deno.args);
}
