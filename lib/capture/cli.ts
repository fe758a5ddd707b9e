/** The `coredeno capture` subcommand's flags, output and exit code. */

import {
  FlagError,
  type FlagSpec,
  HelpRequested,
  parseGoFlags,
  usage,
} from "../cli/go_flags.ts";
import {
  capture,
  CaptureError,
  EXIT,
  PROFILE_TYPES,
  type ProfileType,
} from "./capture.ts";

const FLAGS: readonly FlagSpec[] = [
  {
    names: ["url"],
    kind: "string",
    usage: "server to capture from: host:port or a URL",
    default: "localhost:6053",
  },
  {
    names: ["type"],
    kind: "string",
    usage: `profile to fetch: ${PROFILE_TYPES.join(", ")}`,
    default: "profile",
  },
  {
    names: ["seconds"],
    kind: "string",
    usage:
      "capture length (profile 30, trace 1) or, for the others, a delta window",
  },
  {
    names: ["output", "o"],
    kind: "string",
    usage: "file to write, - for stdout (default TYPE.pb.gz, trace.json)",
  },
  {
    names: ["top"],
    kind: "string",
    usage: "rows of the summary, 0 for none",
    default: "10",
  },
  {
    names: ["format"],
    kind: "string",
    usage:
      "the summary: text (a top table) or md (a Markdown report: top functions, hottest lines, call paths)",
    default: "text",
  },
  {
    names: ["base"],
    kind: "string",
    usage:
      "a saved profile to compare with (--format md): what grew and what shrank",
  },
  { names: ["quiet"], kind: "bool", usage: "no progress bar" },
  {
    names: ["progress"],
    kind: "bool",
    usage: "a progress bar even when stderr is not a terminal",
  },
];

/** Runs `coredeno capture ARGS`; returns the exit code. */
export async function runCapture(args: readonly string[]): Promise<number> {
  const stderr = (text: string) =>
    writeAllSync(Deno.stderr, new TextEncoder().encode(text));
  let values: Map<string, string>;
  try {
    const parsed = parseGoFlags(args, FLAGS);
    if (parsed.rest.length > 0) {
      throw new FlagError(
        `extra command line arguments: [${parsed.rest.join(" ")}]`,
      );
    }
    values = parsed.values;
  } catch (error) {
    if (!(error instanceof FlagError || error instanceof HelpRequested)) {
      throw error;
    }
    if (error instanceof FlagError) stderr(`${error.message}\n`);
    stderr(usage("coredeno capture", FLAGS));
    return error instanceof HelpRequested ? EXIT.ok : EXIT.usage;
  }
  try {
    const type = values.get("type") ?? "profile";
    if (!(PROFILE_TYPES as readonly string[]).includes(type)) {
      throw new CaptureError(
        `unknown --type ${type} (want one of ${PROFILE_TYPES.join(", ")})`,
        EXIT.usage,
      );
    }
    const top = Number(values.get("top") ?? "10");
    if (!Number.isInteger(top) || top < 0) {
      throw new CaptureError("--top wants a whole number", EXIT.usage);
    }
    const format = values.get("format") ?? "text";
    if (format !== "text" && format !== "md") {
      throw new CaptureError(
        `unknown --format ${format} (want text or md)`,
        EXIT.usage,
      );
    }
    if (values.has("base") && format !== "md") {
      throw new CaptureError("--base needs --format md", EXIT.usage);
    }
    const secondsText = values.get("seconds");
    const seconds = secondsText === undefined ? undefined : Number(secondsText);
    const fractional = type === "trace"; // Go parses trace's seconds as a float
    if (
      seconds !== undefined &&
      !(seconds > 0 && (fractional || Number.isInteger(seconds)))
    ) {
      throw new CaptureError(
        `--seconds wants a positive ${fractional ? "number" : "whole number"}`,
        EXIT.usage,
      );
    }
    await capture({
      url: values.get("url") ?? "localhost:6053",
      type: type as ProfileType,
      ...(seconds === undefined ? {} : { seconds }),
      ...(values.has("output") ? { output: values.get("output")! } : {}),
      top,
      format,
      ...(values.has("base") ? { base: values.get("base")! } : {}),
      progress: values.get("quiet") !== "true" &&
        (values.get("progress") === "true" || Deno.stderr.isTerminal()),
    }, {
      stdout: (text) =>
        writeAllSync(Deno.stdout, new TextEncoder().encode(text)),
      stderr,
      async writeStdout(bytes) {
        // A write may take fewer bytes than it was given (pipes): loop.
        let written = 0;
        while (written < bytes.length) {
          written += await Deno.stdout.write(bytes.subarray(written));
        }
      },
      async writeFile(path, bytes) {
        // Asked at run time: coredeno itself runs without write permission.
        const permission = await Deno.permissions.request({
          name: "write",
          path,
        });
        if (permission.state !== "granted") {
          throw new CaptureError(
            `no permission to write ${path}: allow it, or use --output -`,
            EXIT.usage,
          );
        }
        await Deno.writeFile(path, bytes);
      },
      async readFile(path) {
        // Asked at run time, as for writing: `deno task capture` grants
        // only the network.
        const permission = await Deno.permissions.request({
          name: "read",
          path,
        });
        if (permission.state !== "granted") {
          throw new CaptureError(
            `no permission to read ${path}: allow it`,
            EXIT.usage,
          );
        }
        return await Deno.readFile(path);
      },
    });
    return EXIT.ok;
  } catch (error) {
    if (!(error instanceof CaptureError)) throw error;
    stderr(`${error.message}\n`);
    return error.exitCode;
  }
}

/** `writeSync` may write fewer bytes than it was given: write them all. */
function writeAllSync(
  file: { writeSync(bytes: Uint8Array): number },
  bytes: Uint8Array,
): void {
  let written = 0;
  while (written < bytes.length) {
    written += file.writeSync(bytes.subarray(written));
  }
}
