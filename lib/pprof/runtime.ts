/**
 * Go's runtime profiles with their honest JavaScript meaning: `block` (event
 * loop stalls), `goroutine` (JavaScript threads), `mutex` and `threadcreate`
 * (valid profiles that say why they hold nothing), plus `trace` (a Chrome
 * DevTools trace). Same parameters, headers and delta algorithm as Go's.
 */

import { Profile, StringTable } from "../deps.ts";
import { BLOCK_FLOOR_MS } from "../profile/stalls.ts";
import { encodeProfile } from "../profile/encode.ts";
import type { IsolateInfo } from "../profile/types.ts";
import { TraceBusyError } from "../profile/trace.ts";
import { FrameTable, stacksToPprof } from "../profile/call_tree.ts";
import { isolateLabels } from "../profile/cpu.ts";
import {
  addComment,
  fillFilenames,
  nowNanos,
  setSampleTypes,
} from "../profile/pprof.ts";
import { contentionProfileText, countProfileText } from "../profile/text.ts";
import type { Engine } from "./engine.ts";
import type { Endpoint } from "./handler.ts";
import { goError, goProfile, goText } from "./http.ts";
import { intParam, serveDelta } from "./profiles.ts";

type Snapshot = () => Promise<Profile> | Profile;

/** A named, delta-capable profile endpoint: snapshot, `debug=1` text, `seconds`. */
function namedProfile(
  name: string,
  description: () => string,
  snapshot: Snapshot,
  count: () => number,
): Endpoint {
  return {
    name,
    get description() {
      return description();
    },
    count,
    async serve(_request, url, signal) {
      const secondsText = url.searchParams.get("seconds");
      if (secondsText !== null && secondsText !== "") {
        return await serveDelta(
          name,
          url,
          secondsText,
          async () => await snapshot(),
          signal,
        );
      }
      const profile = await snapshot();
      if (intParam(url, "debug") !== 0) {
        return goText(profileText(name, profile));
      }
      return goProfile(await encodeProfile(profile), name);
    },
  };
}

/** An empty profile of the given types, with an explanation in its comments. */
function emptyProfile(
  types: [string, string][],
  periodType: [string, string],
  comments: string[],
): Profile {
  const p = new Profile({ stringTable: new StringTable() });
  setSampleTypes(p, types, periodType);
  p.period = 1;
  p.timeNanos = nowNanos();
  for (const c of comments) addComment(p, c);
  return p;
}

const CONTENTION_TYPES: [string, string][] = [
  ["contentions", "count"],
  ["delay", "nanoseconds"],
];

/** `block`: event-loop stalls, or an empty profile when `block` is not configured. */
export function blockEndpoint(engine: Engine): Endpoint {
  const rate = () => engine.agreed()?.blockRate ?? 0;
  return namedProfile(
    "block",
    () =>
      `Event-loop stalls of the main isolate: the JavaScript that held its event loop while every other callback waited. ` +
      `A contention is one stall (the loop got to a due callback at least ${BLOCK_FLOOR_MS} ms late); ` +
      `its delay is how late, split across the stacks sampled during it. ` +
      (rate() > 0
        ? `On, at rate ${rate()} ns: stalls that long are always recorded, shorter ones with probability delay/rate, scaled to stay unbiased.`
        : `Off: turn it on with block in the Corefile's pprof block, the block option of pprofHandler() or servePprof(), or coredeno run --block.`),
    () =>
      rate() > 0 ? engine.profiler().block.profile() : emptyProfile(
        CONTENTION_TYPES,
        ["contentions", "count"],
        [
          "coredeno: block profiling is off; `pprof { block [RATE] }` in a Corefile, the `block` option of pprofHandler()/servePprof() or `coredeno run --block` turns on event-loop stall detection",
        ],
      ),
    () => rate() > 0 ? engine.profiler().block.count() : 0,
  );
}

/**
 * One sample per isolate, its stack a frame naming it (`main: file:///app.ts`,
 * `worker #3 (pool): file:///work.ts`), labelled as CPU samples are.
 */
function isolatesProfile(
  type: string,
  isolates: readonly IsolateInfo[],
  comments: string[],
): Profile {
  const table = new FrameTable();
  const stacks = isolates.map((isolate) => ({
    frames: [table.add(isolateFrame(isolate), undefined, "[isolate]")],
    values: [1],
    labels: [
      ...isolateLabels(isolate),
      { key: "state", str: isolate.alive ? "running" : "ended" },
    ],
  }));
  const p = stacksToPprof(table, stacks, { mappingInfo: (l) => l });
  setSampleTypes(p, [[type, "count"]], [type, "count"]);
  p.period = 1;
  p.timeNanos = nowNanos();
  fillFilenames(p);
  for (const c of comments) addComment(p, c);
  return p;
}

/** An isolate as a frame. */
export function isolateFrame(isolate: IsolateInfo): string {
  return isolate.kind === "main"
    ? `main: ${isolate.url}`
    : `worker #${isolate.number}${
      isolate.name ? ` (${isolate.name})` : ""
    }: ${isolate.url}`;
}

/** `goroutine`: JavaScript threads, one per live isolate. */
export function goroutineEndpoint(engine: Engine): Endpoint {
  const live = () => engine.profiler().live();
  return namedProfile(
    "goroutine",
    () =>
      `JavaScript threads: one per live isolate of ${engine.reachText()}, its frame naming its script. ` +
      "Pending async work is not a thread and is not counted.",
    () =>
      isolatesProfile("goroutine", live(), [
        `coredeno: one entry per live JavaScript isolate (${engine.reachText()})`,
      ]),
    () => {
      try {
        return live().length;
      } catch {
        return 0;
      }
    },
  );
}

/** `mutex`: JavaScript in the main isolate takes no locks, so never contends for one. */
export const mutexEndpoint: Endpoint = namedProfile(
  "mutex",
  () =>
    "Always empty: JavaScript on the event loop takes no locks, so nothing holds a contended mutex. " +
    "Time other work spent waiting for JavaScript is in the block profile.",
  () =>
    emptyProfile(CONTENTION_TYPES, ["contentions", "count"], [
      "coredeno: JavaScript on the event loop takes no locks; see the block profile for event-loop stalls",
    ]),
  () => 0,
);

/** `threadcreate`: every isolate started since the profiler attached, ended ones too. */
export function threadcreateEndpoint(engine: Engine): Endpoint {
  const history = () => engine.profiler().history();
  return namedProfile(
    "threadcreate",
    () =>
      `Isolates (JavaScript threads) started since the profiler attached, ended ones included (label state=ended), ` +
      `of ${engine.reachText()}. Deno's and V8's own threads have no JavaScript creation stack and are not counted.`,
    () =>
      isolatesProfile("threadcreate", history(), [
        "coredeno: one entry per JavaScript isolate started since the profiler attached",
      ]),
    () => {
      try {
        return history().length;
      } catch {
        return 0;
      }
    },
  );
}

/** Go's `trace` parameter: a float; missing, unparsable or ≤ 0 means 1. */
function traceSeconds(text: string | null): number {
  if (text === null || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
    return 1;
  }
  const value = Number(text);
  return Number.isFinite(value) && value > 0 ? value : 1;
}

/**
 * The longest trace: every sample of every isolate in its window is held
 * until it ends and sent as one JSON document; a trace is a close look at
 * a short window, so a minute bounds it. Profile longer stretches with
 * /profile.
 */
export const MAX_TRACE_SECONDS = 60;

/** `trace?seconds=N`: a Chrome DevTools trace JSON of the next N seconds. */
export function traceEndpoint(engine: Engine): Endpoint {
  return {
    name: "trace",
    timed: true,
    get description() {
      return `A trace of the next N seconds (seconds GET parameter, default 1, at most ${MAX_TRACE_SECONDS}) as Chrome DevTools trace JSON, ` +
        `not Go's execution trace: one thread per isolate (${engine.reachText()}), with its CPU samples ` +
        `(${engine.profilerRateText()}), busy runs, sampled GC, and the main event loop's stalls. ` +
        "A trace is a close look at a short window; profile longer stretches with /profile. " +
        "Open trace.json in Perfetto (ui.perfetto.dev), chrome://tracing or DevTools' Performance panel.";
    },
    serve: (_request, url, signal) => serveTrace(engine, url, signal),
  };
}

async function serveTrace(
  engine: Engine,
  url: URL,
  signal: AbortSignal,
): Promise<Response> {
  const seconds = traceSeconds(url.searchParams.get("seconds"));
  if (seconds > MAX_TRACE_SECONDS) {
    return goError(
      400,
      `invalid value for "seconds" - must be at most ${MAX_TRACE_SECONDS}`,
    );
  }
  let trace;
  try {
    trace = await engine.profiler().trace({
      durationMillis: seconds * 1000,
      signal,
    });
  } catch (error) {
    if (error instanceof TraceBusyError) {
      return goError(500, `Could not enable tracing: ${error.message}`);
    }
    throw error;
  }
  // Deno.serve gzips JSON for clients that accept it; saved, it is plain JSON.
  return new Response(JSON.stringify(trace), {
    headers: {
      "X-Content-Type-Options": "nosniff",
      "Content-Type": "application/json",
      "Content-Disposition": `attachment; filename="trace.json"`,
    },
  });
}

/**
 * `debug=1`: the profile in Go's legacy text for `name`, which `go tool
 * pprof` parses and people read: `--- contention:` (block), `--- mutex:`
 * (mutex), `NAME profile: total N` (goroutine, threadcreate).
 */
export function profileText(name: string, p: Profile): string {
  if (name === "block") return contentionProfileText("contention", p);
  if (name === "mutex") return contentionProfileText("mutex", p);
  return countProfileText(name, p);
}
