/**
 * Go's runtime profiles with their honest JavaScript meaning: `block` (event
 * loop stalls), `goroutine` (JavaScript threads), `mutex` and `threadcreate`
 * (valid profiles that say why they hold nothing), plus `trace` (a Chrome
 * DevTools trace). Same parameters, headers and delta algorithm as Go's.
 */

import { Profile, StringTable } from "../../lib/deps.ts";
import {
  BLOCK_FLOOR_MS,
  blockProfile,
  blockProfileCount,
  captureTrace,
  encodeProfile,
  TraceBusyError,
} from "../../lib/profile/mod.ts";
import {
  addComment,
  addSyntheticSample,
  nowNanos,
  setSampleTypes,
} from "../../lib/profile/pprof.ts";
import {
  contentionProfileText,
  countProfileText,
} from "../../lib/profile/text.ts";
import type { Endpoint } from "./handler.ts";
import { goError, goProfile, goText } from "./http.ts";
import { heldBlockRate } from "./profiler.ts";
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
export function blockEndpoint(): Endpoint {
  return namedProfile(
    "block",
    () =>
      `Event-loop stalls: the JavaScript that held the event loop while every other callback waited. ` +
      `A contention is one stall (the loop got to a due callback at least ${BLOCK_FLOOR_MS} ms late); ` +
      `its delay is how late, split across the stacks sampled during it. ` +
      (heldBlockRate() > 0
        ? `On, at rate ${heldBlockRate()} ns: stalls that long are always recorded, shorter ones with probability delay/rate, scaled to stay unbiased.`
        : `Off: turn it on with block in the Corefile's pprof block, the block option of pprofHandler() or servePprof(), or coredeno run --block.`),
    () =>
      heldBlockRate() > 0 ? blockProfile() : emptyProfile(
        CONTENTION_TYPES,
        ["contentions", "count"],
        [
          "coredeno: block profiling is off; `pprof { block [RATE] }` in a Corefile, the `block` option of pprofHandler()/servePprof() or `coredeno run --block` turns on event-loop stall detection",
        ],
      ),
    () => heldBlockRate() > 0 ? blockProfileCount() : 0,
  );
}

/** `goroutine`: JavaScript threads. The main isolate runs all of this process's JavaScript. */
export const goroutineEndpoint: Endpoint = namedProfile(
  "goroutine",
  () =>
    "JavaScript threads: the main isolate, the one thread that runs this process's JavaScript " +
    "(and serves this page, so its stack is not useful and is not shown). Pending async work " +
    "is not a thread and is not counted; Web Workers are isolates this profile cannot see.",
  () => {
    const p = emptyProfile(
      [["goroutine", "count"]],
      ["goroutine", "count"],
      [
        "coredeno: one JavaScript thread (the main isolate); Web Workers are not visible to this profile",
      ],
    );
    addSyntheticSample(p, MAIN_THREAD_FRAME, "[deno]", [1]);
    return p;
  },
  () => 1,
);

export const MAIN_THREAD_FRAME = "[JavaScript main thread]";

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

/** `threadcreate`: JavaScript creates no OS threads. */
export const threadcreateEndpoint: Endpoint = namedProfile(
  "threadcreate",
  () =>
    "Always empty: JavaScript creates no OS threads. Deno's runtime and V8 start theirs in Rust and C++, " +
    "where no JavaScript stack created them (and counting them needs more than this process's permissions).",
  () =>
    emptyProfile([["threadcreate", "count"]], ["threadcreate", "count"], [
      "coredeno: JavaScript creates no OS threads; Deno's and V8's own threads have no JavaScript creation stack",
    ]),
  () => 0,
);

/** Go's `trace` parameter: a float; missing, unparsable or ≤ 0 means 1. */
function traceSeconds(text: string | null): number {
  if (text === null || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
    return 1;
  }
  const value = Number(text);
  return Number.isFinite(value) && value > 0 ? value : 1;
}

/**
 * The longest trace. Its 250 µs sampling costs the process 6-40% of its
 * throughput (feasibility.md §4), the range `/profile` refuses; a trace is
 * a close look at a short window, so that cost is bounded to a minute.
 */
export const MAX_TRACE_SECONDS = 60;

/** `trace?seconds=N`: a Chrome DevTools trace JSON of the next N seconds. */
export const traceEndpoint: Endpoint = {
  name: "trace",
  timed: true,
  description:
    `A trace of the next N seconds (seconds GET parameter, default 1, at most ${MAX_TRACE_SECONDS}) as Chrome DevTools trace JSON, ` +
    "not Go's execution trace: CPU samples every 250 µs, busy runs of the event loop, sampled GC and " +
    "event-loop stalls. Sampling that fine slows the process (the rate /profile refuses), so a trace is " +
    "for a short window; profile longer stretches with /profile. " +
    "Open trace.json in Perfetto (ui.perfetto.dev), chrome://tracing or DevTools' Performance panel.",
  async serve(_request, url, signal) {
    const seconds = traceSeconds(url.searchParams.get("seconds"));
    if (seconds > MAX_TRACE_SECONDS) {
      return goError(
        400,
        `invalid value for "seconds" - must be at most ${MAX_TRACE_SECONDS}`,
      );
    }
    let trace;
    try {
      trace = await captureTrace({ durationMillis: seconds * 1000, signal });
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
  },
};

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
