/**
 * `coredeno capture`: fetch a profile from any /debug/pprof/ server
 * (coredeno or a Go program), show progress while a timed profile runs,
 * check that what came back is a profile, save it, and print its top.
 */

import { gunzipSync } from "node:zlib";
import type { Profile } from "../deps.ts";
import { decodeProfile } from "../profile/pprof.ts";
import { message } from "../errors.ts";
import { formatSummary, markdownSummary, summarize } from "./summary.ts";

/** Exit codes, one per kind of failure, so scripts can tell them apart. */
export const EXIT = {
  ok: 0,
  server: 1,
  usage: 2,
  unreachable: 3,
  invalid: 4,
  output: 5,
} as const;

export class CaptureError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = "CaptureError";
  }
}

export const PROFILE_TYPES = [
  "profile",
  "heap",
  "allocs",
  "block",
  "mutex",
  "goroutine",
  "threadcreate",
  "trace",
] as const;
export type ProfileType = typeof PROFILE_TYPES[number];

export interface CaptureOptions {
  /** `host:port`, a base URL, or a full /debug/pprof/ URL. */
  url: string;
  type: ProfileType;
  /** Capture length (profile, trace) or delta window (the others). */
  seconds?: number;
  /** File to write; `-` is stdout. Default `<type>.pb.gz` (`trace.json`). */
  output?: string;
  /** Rows of the summary; 0 prints none. */
  top: number;
  /** The summary as a `go tool pprof -top`-like table, or a Markdown report. */
  format?: "text" | "md";
  /** A profile file the Markdown report compares this one with. */
  base?: string;
  /** Show a progress bar on stderr. */
  progress: boolean;
  /** How long to wait for the response headers beyond the capture itself. */
  graceSeconds?: number;
}

export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Writes all of `bytes` to stdout (`--output -`): a profile is binary. */
  writeStdout(bytes: Uint8Array): Promise<void>;
  writeFile(path: string, bytes: Uint8Array): Promise<void>;
  readFile(path: string): Promise<Uint8Array>;
}

/** The URL to fetch: the type's endpoint under the given server, with `seconds`. */
export function captureUrl(
  options: Pick<CaptureOptions, "url" | "type" | "seconds">,
): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(options.url)
    ? options.url
    : `http://${options.url}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new CaptureError(
      `invalid --url ${JSON.stringify(options.url)}`,
      EXIT.usage,
    );
  }
  if (url.pathname === "/" || url.pathname === "") {
    url.pathname = `/debug/pprof/${options.type}`;
  }
  if (options.seconds !== undefined) {
    url.searchParams.set("seconds", String(options.seconds));
  }
  return url;
}

/** How long the server will take before it answers, in seconds. */
function captureSeconds(options: CaptureOptions): number {
  if (options.seconds !== undefined) return options.seconds;
  if (options.type === "profile") return 30; // Go's default
  if (options.type === "trace") return 1;
  return 0;
}

export async function capture(options: CaptureOptions, io: Io): Promise<void> {
  const url = captureUrl(options);
  // A full /debug/pprof/NAME URL names the profile itself.
  const named = url.pathname.split("/").at(-1) ?? "";
  if ((PROFILE_TYPES as readonly string[]).includes(named)) {
    options = { ...options, type: named as ProfileType };
  }
  const base = options.base === undefined
    ? undefined
    : await readBase(options.base, io);
  const seconds = captureSeconds(options);
  const timeout = (seconds + (options.graceSeconds ?? 30)) * 1000;
  io.stderr(`Fetching ${options.type} from ${url}\n`);
  const progress = options.progress && seconds > 0
    ? startProgress(seconds, io)
    : undefined;
  let response: Response;
  let body: Uint8Array;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeout) });
    body = new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    if (error instanceof DOMException && error.name === "TimeoutError") {
      throw new CaptureError(
        `timed out after ${timeout / 1000}s waiting for ${url}`,
        EXIT.unreachable,
      );
    }
    throw new CaptureError(
      `cannot reach ${url}: ${message(error)}`,
      EXIT.unreachable,
    );
  } finally {
    progress?.stop();
  }
  if (response.status !== 200) {
    throw new CaptureError(serverError(response, body), EXIT.server);
  }

  const output = options.output ??
    (options.type === "trace" ? "trace.json" : `${options.type}.pb.gz`);
  const report = output === "-" ? io.stderr : io.stdout;
  if (options.type === "trace") {
    const events = validateTrace(body);
    report(`Trace: ${events} events\n`);
  } else {
    const profile = readProfile(body);
    if (options.format === "md") {
      report(
        await markdownSummary(profile, {
          title: `${
            options.type === "profile"
              ? `CPU profile of ${seconds} s`
              : `${options.type} profile`
          } from ${url.host}`,
          top: options.top || 10,
          ...(base ? { base: base.profile, baseTitle: base.title } : {}),
        }),
      );
    } else if (options.top > 0) {
      report(formatSummary(summarize(profile, options.top)));
    }
  }
  try {
    // The bytes as served: gzip is binary, no text decoding on the way.
    if (output === "-") await io.writeStdout(body);
    else await io.writeFile(output, body);
  } catch (error) {
    if (error instanceof CaptureError) throw error;
    throw new CaptureError(
      `cannot write ${output === "-" ? "to stdout" : output}: ${
        message(error)
      }`,
      EXIT.output,
    );
  }
  if (output !== "-") io.stderr(`Saved ${options.type} in ${output}\n`);
}

/** The `--base` profile file, read before the capture so a bad one fails fast. */
async function readBase(path: string, io: Io) {
  let bytes: Uint8Array;
  try {
    bytes = await io.readFile(path);
  } catch (error) {
    if (error instanceof CaptureError) throw error;
    throw new CaptureError(
      `cannot read --base ${path}: ${message(error)}`,
      EXIT.usage,
    );
  }
  try {
    return { profile: decodeProfile(bytes), title: path };
  } catch (error) {
    throw new CaptureError(`--base ${path}: ${message(error)}`, EXIT.invalid);
  }
}

/** `go tool pprof`'s wording: the body only when the server marks it as a Go pprof error. */
function serverError(response: Response, body: Uint8Array): string {
  const status = `server response: ${response.status} ${response.statusText}`;
  const text = new TextDecoder().decode(body).trimEnd();
  const goError = response.headers.get("x-go-pprof") &&
    response.headers.get("content-type")?.includes("text/plain");
  return goError && text ? `${status} - ${text}` : status;
}

/** The profile in `body`, or exit 4 saying why it is not one. */
function readProfile(body: Uint8Array): Profile {
  if (body.length === 0) {
    throw new CaptureError("not a pprof profile: empty input", EXIT.invalid);
  }
  try {
    return decodeProfile(body);
  } catch (error) {
    throw new CaptureError(message(error), EXIT.invalid);
  }
}

function validateTrace(body: Uint8Array): number {
  try {
    const raw = body[0] === 0x1f && body[1] === 0x8b ? gunzipSync(body) : body;
    const trace = JSON.parse(new TextDecoder().decode(raw));
    const events = Array.isArray(trace) ? trace : trace?.traceEvents;
    if (!Array.isArray(events)) throw new Error("no traceEvents");
    return events.length;
  } catch (error) {
    throw new CaptureError(
      `not a trace: ${message(error)}`,
      EXIT.invalid,
    );
  }
}

/** `[#####.....]  3s/10s` on one stderr line, redrawn four times a second. */
function startProgress(seconds: number, io: Io) {
  const started = Date.now();
  const width = 30;
  const draw = () => {
    const elapsed = Math.min(seconds, (Date.now() - started) / 1000);
    const filled = Math.round(width * elapsed / seconds);
    io.stderr(
      `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${
        Math.floor(elapsed)
      }s/${seconds}s`,
    );
  };
  draw();
  const timer = setInterval(draw, 250);
  return {
    stop() {
      clearInterval(timer);
      draw();
      io.stderr("\n");
    },
  };
}
