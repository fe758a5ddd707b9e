/**
 * The inspector failing under a running server: the profiler's session
 * closed under the stall detector, and single commands failing as V8 would
 * answer them (a capture's start, a heap read, a trace). In Deno an
 * unhandled rejection ends the process (and fails this test), so every
 * inspector call must be awaited or handled: the failure is logged once as
 * `plugin/pprof: ...`, the request gets Go's error, and the server keeps
 * serving. Every test ends with nothing left running (the sanitizers are on).
 *
 * The server runs in this process (a real `Deno.serve` on 127.0.0.1:0) over
 * a profiler of its own, so the test can close its session or fail its
 * commands, as a crashed or detached inspector would.
 */

import assert from "node:assert/strict";
import { Session } from "node:inspector";
import { setLogSink } from "../../lib/log.ts";
import { engineOf } from "../../lib/pprof/engine.ts";
import { pprofSurface } from "../../lib/pprof/surface.ts";
import { LocalIsolates } from "../../lib/profile/inspector.ts";
import { Profiler } from "../../lib/profile/profiler.ts";
import { BLOCK_CHUNK_MS } from "../../lib/profile/mod.ts";
import { decodeProfile } from "../../lib/profile/pprof.ts";

/** A pprof surface on 127.0.0.1:0 over a profiler of its own, with log lines collected. */
function serve(settings: { blockRate: number; allocations: false }) {
  const lines: string[] = [];
  const previous = setLogSink((line) => lines.push(line));
  const isolates = new LocalIsolates();
  const profiler = new Profiler(isolates);
  const surface = pprofSurface(
    { allow: [] },
    engineOf(() => profiler, () => settings),
  );
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    (request, info) => surface(request, info),
  );
  const base = `http://127.0.0.1:${server.addr.port}/debug/pprof`;
  return {
    base,
    lines,
    isolates,
    ready: profiler.apply(settings),
    async get(path: string) {
      const response = await fetch(`${base}/${path}`);
      return {
        status: response.status,
        goPprof: response.headers.get("x-go-pprof"),
        body: await response.text(),
      };
    },
    async close() {
      await profiler.close();
      ac.abort();
      await server.finished;
      setLogSink(previous);
    },
  };
}

/** Holds the event loop for `ms`: a stall the lag monitor records. */
function stall(ms: number) {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* busy */ }
}

type Server = ReturnType<typeof serve>;

/** The index answers: the server keeps serving. */
async function assertServing(server: Server) {
  const index = await server.get("");
  assert.equal(index.status, 200);
  assert.match(index.body, /Types of profiles available:/);
}

/** Go's 500 with `body`, one `[ERROR] plugin/pprof:` line `log`, and a server that keeps serving. */
async function assertFault(
  server: Server,
  response: Awaited<ReturnType<Server["get"]>>,
  body: RegExp,
  log: RegExp,
) {
  assert.equal(response.status, 500, response.body);
  assert.equal(response.goPprof, "1");
  assert.match(response.body, body);
  assert.ok(
    server.lines.some((l) => log.test(l)),
    server.lines.join("\n"),
  );
  await assertServing(server);
}

/** A server held as `settings` ask, for `fn`; then closed. */
async function withServer(
  settings: { blockRate: number; allocations: false },
  fn: (server: Server) => Promise<void>,
) {
  const server = serve(settings);
  try {
    await server.ready;
    await fn(server);
  } finally {
    await server.close();
  }
}

Deno.test("block: the profiler's session closed under the stall detector; one log line and Go's 500, then detection stops and the server keeps serving", async (t) => {
  await withServer({ blockRate: 1, allocations: false }, async (server) => {
    await t.step("a rotation asked for by /block", async () => {
      stall(60);
      await new Promise((r) => setTimeout(r, 50)); // the monitor sees it
      server.isolates.close();
      await assertFault(
        server,
        await server.get("block"),
        /^Could not serve block: .*not connected\n$/,
        /^\[ERROR\] plugin\/pprof: block: .*not connected/,
      );
    });

    await t.step(
      "no rotation fails again: detection stopped, said once",
      async () => {
        const before = server.lines.length;
        await new Promise((r) => setTimeout(r, BLOCK_CHUNK_MS + 1000));
        assert.deepEqual(server.lines.slice(before), []);
        const response = await fetch(`${server.base}/block`);
        assert.equal(response.status, 200);
        const p = decodeProfile(new Uint8Array(await response.arrayBuffer()));
        const comments = p.comment.map((c) => p.stringTable.strings[Number(c)]);
        assert.ok(
          comments.some((c) =>
            /stall detection stopped: .*not connected/.test(c!)
          ),
          comments.join("\n"),
        );
      },
    );
  });
});

/** Makes the next call of each of `methods`, on any session, fail as V8 would answer it. */
function failNext(...methods: string[]) {
  const post = Session.prototype.post;
  const failing = new Set(methods);
  Session.prototype.post = function (
    this: Session,
    sent: string,
    ...rest: unknown[]
  ) {
    const callback = rest.at(-1);
    if (failing.delete(sent) && typeof callback === "function") {
      if (failing.size === 0) Session.prototype.post = post;
      queueMicrotask(() =>
        callback(new Error("Inspector error -32000: injected"))
      );
      return;
    }
    return (post as (...args: unknown[]) => void).call(this, sent, ...rest);
  } as typeof post;
  return { restore: () => void (Session.prototype.post = post) };
}

Deno.test("profile: the capture's start fails; Go's 500, a log line, and the next CPU profile works", async () => {
  await withServer({ blockRate: 0, allocations: false }, async (server) => {
    const fault = failNext("Runtime.evaluate");
    try {
      await assertFault(
        server,
        await server.get("profile?seconds=1"),
        /injected\n$/,
        /^\[ERROR\] plugin\/pprof: profile: .*injected/,
      );
    } finally {
      fault.restore();
    }
    const next = await server.get("profile?seconds=1");
    assert.equal(next.status, 200, next.body);
  });
});

Deno.test("heap?gc=1: the collection and the read both fail; Go's 500, a log line, and the next read works", async () => {
  await withServer({ blockRate: 0, allocations: false }, async (server) => {
    const fault = failNext(
      "HeapProfiler.collectGarbage",
      "HeapProfiler.getSamplingProfile",
    );
    let failed;
    try {
      failed = await server.get("heap?gc=1");
    } finally {
      fault.restore();
    }
    // A turn for a late rejection to end the process, if one could.
    await new Promise((r) => setTimeout(r, 100));
    await assertFault(
      server,
      failed,
      /injected\n$/,
      /^\[ERROR\] plugin\/pprof: heap: .*injected/,
    );
    const next = await server.get("heap");
    assert.equal(next.status, 200, next.body);
  });
});

Deno.test("trace: its start fails; Go's 500, a log line, and the next trace works", async () => {
  await withServer({ blockRate: 0, allocations: false }, async (server) => {
    const fault = failNext("Runtime.evaluate");
    try {
      await assertFault(
        server,
        await server.get("trace?seconds=0.2"),
        /^Could not serve trace: .*injected\n$/,
        /^\[ERROR\] plugin\/pprof: trace: .*injected/,
      );
    } finally {
      fault.restore();
    }
    const trace = await server.get("trace?seconds=0.2");
    assert.equal(trace.status, 200, trace.body);
    assert.ok(Array.isArray(JSON.parse(trace.body).traceEvents));
  });
});

/** Counts the calls of `method` on any session from now until `restore`. */
function countCalls(method: string) {
  const post = Session.prototype.post;
  const counter = {
    calls: 0,
    restore: () => void (Session.prototype.post = post),
  };
  Session.prototype.post = function (this: Session, sent: string, ...rest) {
    if (sent === method) counter.calls++;
    return (post as (...args: unknown[]) => void).call(this, sent, ...rest);
  } as typeof post;
  return counter;
}

Deno.test("heap and allocs asked at once (as a scraper asks) share one read of the sampler; a later request reads again", async () => {
  await withServer({ blockRate: 0, allocations: false }, async (server) => {
    const reads = countCalls("HeapProfiler.getSamplingProfile");
    try {
      const answers = await Promise.all(
        ["heap", "allocs", "heap", "allocs"].map((p) => server.get(p)),
      );
      assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200]);
      assert.equal(reads.calls, 1, "one read for four requests");
      assert.equal((await server.get("heap")).status, 200);
      assert.equal(reads.calls, 2, "a later request reads anew");
    } finally {
      reads.restore();
    }
  });
});
