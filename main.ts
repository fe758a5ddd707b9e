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
import { log } from "./lib/log.ts";
import { versionLines, zoneLines } from "./lib/server/banner.ts";
import { type Instance, loadInstance } from "./lib/server/instance.ts";
import { DIRECTIVES, PLUGINS } from "./plugins/mod.ts";

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
    default: "53",
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

interface CorefileInput {
  text: string;
  filename: string;
}

/** `-conf` (or `stdin`), else `./Corefile`, else nothing (the built-in default). */
async function readCorefile(conf: string | undefined): Promise<CorefileInput> {
  if (conf === "stdin" && !Deno.stdin.isTerminal()) {
    return {
      text: await new Response(Deno.stdin.readable).text(),
      filename: "/dev/stdin",
    };
  }
  if (conf !== undefined && conf !== "stdin") {
    try {
      return { text: await Deno.readTextFile(conf), filename: conf };
    } catch (error) {
      fatal(`loading Corefile via flag: ${describeReadError(conf, error)}`);
    }
  }
  try {
    return { text: await Deno.readTextFile("Corefile"), filename: "Corefile" };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { text: "", filename: "Corefile" };
    }
    fatal(`loading Corefile: ${describeReadError("Corefile", error)}`);
  }
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
  if (error instanceof Deno.errors.NotCapable) {
    return `open ${path}: ${(error as Error).message}`;
  }
  return `open ${path}: ${
    error instanceof Error ? error.message : String(error)
  }`;
}

function removePidfile(path: string | undefined): void {
  if (path === undefined) return;
  try {
    Deno.removeSync(path);
  } catch { /* already gone: nothing to undo */ }
}

/** SIGINT, SIGTERM, SIGQUIT and SIGHUP as caddy's POSIX trap handles them. */
function trapSignals(instance: Instance, pidfile: string | undefined): void {
  let interrupted = false;
  async function shutDown(signal: "SIGINT" | "SIGTERM"): Promise<never> {
    if (signal === "SIGINT") {
      log("INFO", "SIGINT: Shutting down");
      removePidfile(pidfile);
    } else {
      log("INFO", "SIGTERM: Shutting down servers then terminating");
    }
    const errors = await instance.stop();
    for (const error of errors) {
      log("ERROR", error instanceof Error ? error.message : String(error));
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
  Deno.addSignalListener("SIGUSR1", () => {
    log("INFO", "SIGUSR1: Reloading");
    log(
      "ERROR",
      "SIGUSR1: reloading is not supported yet; the running configuration stays",
    );
  });
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
  if (values.get("plugins") === "true") {
    console.log(PLUGINS.map((p) => p.name).sort().join("\n") + "\n");
    return;
  }
  const quiet = values.get("quiet") === "true";
  const pidfile = values.get("pidfile");

  const input = await readCorefile(values.get("conf"));
  let instance: Instance;
  try {
    instance = loadInstance(input.text, {
      filename: input.filename,
      directives: DIRECTIVES,
      plugins: PLUGINS,
      dnsPort: values.get("dns.port") ?? "53",
    });
    await instance.start();
  } catch (error) {
    fatal(error instanceof Error ? error.message : String(error));
  }
  trapSignals(instance, pidfile);
  if (pidfile !== undefined) {
    try {
      await Deno.writeTextFile(pidfile, `${Deno.pid}\n`);
    } catch (error) {
      await instance.stop();
      fatal(`Could not write pidfile: ${describeReadError(pidfile, error)}`);
    }
  }
  if (!quiet) {
    console.log([...zoneLines(instance.servers), ...versionLines()].join("\n"));
  }
  if (instance.servers.length > 0) {
    log(
      "WARNING",
      "DNS serving is not implemented yet: the zones are validated, not answered",
    );
  }
}

if (import.meta.main) await main(Deno.args);
