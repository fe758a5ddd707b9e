/**
 * The inspector failing under a running server: the block profiler's
 * session closed before a chunk rotation, a trace's session closed before
 * it starts or while it runs. In Deno an unhandled rejection ends the
 * process (and fails this test), so every inspector call must be awaited or
 * handled: the failure is logged as `plugin/pprof: ...`, the request gets
 * Go's error, and the server keeps serving.
 *
 * The server runs in this process (a real `Deno.serve` on 127.0.0.1:0), so
 * the test can reach the inspector sessions the profilers open and close
 * them, as a crashed or detached inspector would.
 */

import assert from "node:assert/strict";
import { Session } from "node:inspector";
import { setLogSink } from "../../lib/log.ts";
import { holdProfiler } from "../../lib/pprof/profiler.ts";
import { pprofSurface } from "../../lib/pprof/surface.ts";
import { BLOCK_CHUNK_MS } from "../../lib/profile/mod.ts";
import { waitFor } from "../_helpers.ts";

/** Records every inspector session connected from now on; `closeNext` closes the next one at birth. */
function watchSessions() {
  const connect = Session.prototype.connect;
  const sessions: Session[] = [];
  let closeNext = false;
  Session.prototype.connect = function (this: Session) {
    connect.call(this);
    sessions.push(this);
    if (closeNext) {
      closeNext = false;
      this.disconnect();
    }
  };
  return {
    sessions,
    closeNextAtBirth() {
      closeNext = true;
    },
    restore() {
      Session.prototype.connect = connect;
    },
  };
}

/** A pprof surface on 127.0.0.1:0 in this process, with log lines collected. */
function serve() {
  const lines: string[] = [];
  const previous = setLogSink((line) => lines.push(line));
  const surface = pprofSurface({ allow: [] });
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    (request, info) => surface(request, info),
  );
  const base = `http://127.0.0.1:${server.addr.port}/debug/pprof`;
  return {
    base,
    lines,
    async get(path: string) {
      const response = await fetch(`${base}/${path}`);
      return {
        status: response.status,
        goPprof: response.headers.get("x-go-pprof"),
        body: await response.text(),
      };
    },
    async close() {
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

async function assertServing(server: Server) {
  const index = await server.get("");
  assert.equal(index.status, 200);
  assert.match(index.body, /Types of profiles available:/);
  const heap = await server.get("heap");
  assert.equal(heap.status, 200);
}

/** A log line matching `pattern` was collected. */
function assertLogged(server: Server, pattern: RegExp) {
  assert.ok(
    server.lines.some((l) => pattern.test(l)),
    server.lines.join("\n"),
  );
}

/** Go's 500 with `body`, the `[ERROR] plugin/pprof:` line `log`, and a server that keeps serving. */
async function assertFault(
  server: Server,
  response: Awaited<ReturnType<Server["get"]>>,
  body: RegExp,
  log: RegExp,
) {
  assert.equal(response.status, 500, response.body);
  assert.equal(response.goPprof, "1");
  assert.match(response.body, body);
  assertLogged(server, log);
  await assertServing(server);
}

/** A server with the profiler held as `settings` ask, for `fn`; then released. */
async function withServer(
  settings: { blockRate: number; allocations: false },
  fn: (server: Server) => Promise<void>,
) {
  const server = serve();
  const hold = holdProfiler(settings, { source: "inspector_faults_test" });
  try {
    await hold.ready;
    await fn(server);
  } finally {
    await hold.release();
    await server.close();
  }
}

Deno.test({
  name:
    "block: the inspector session closed under the stall detector; rotations fail with a log line and Go's 500, the server keeps serving",
  // The block profiler's timers and session are the process's, stopped below.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const watch = watchSessions();
    let lines: string[] = [];
    try {
      await withServer({ blockRate: 1, allocations: false }, async (server) => {
        lines = server.lines;
        // The stall detector's private session is the last one connected (the
        // heap sampler's shared session, if new, comes first).
        assert.ok(watch.sessions.length >= 1);
        const blockSession = watch.sessions.at(-1)!;

        await t.step("a rotation asked for by /block", async () => {
          stall(60);
          await new Promise((r) => setTimeout(r, 50)); // the monitor sees it
          blockSession.disconnect();
          await assertFault(
            server,
            await server.get("block"),
            /^Could not serve block: .*Session is not connected\n$/,
            /^\[ERROR\] plugin\/pprof: block: .*Session is not connected/,
          );
        });

        await t.step("the rotation on its timer", async () => {
          const logged = () =>
            server.lines.some((l) =>
              /^\[ERROR\] plugin\/pprof: block profile: a chunk rotation failed: .*Session is not connected/
                .test(l)
            );
          await waitFor(
            "the timed rotation to fail",
            logged,
            BLOCK_CHUNK_MS + 10_000,
          );
          await assertServing(server);
        });
      });
    } finally {
      watch.restore();
    }
    assert.ok(
      lines.every((l) => l.includes("plugin/pprof: ")),
      lines.join("\n"),
    );
  },
});

Deno.test({
  name:
    "trace: the inspector session closed before or during a trace; Go's 500, a log line, and the next trace works",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const watch = watchSessions();
    try {
      // Heap sampling is on (blockRate 0 still holds it), so /heap answers.
      await withServer({ blockRate: 0, allocations: false }, async (server) => {
        await t.step("closed before the trace starts", async () => {
          watch.closeNextAtBirth();
          await assertFault(
            server,
            await server.get("trace?seconds=0.2"),
            /^Could not serve trace: .*Session is not connected\n$/,
            /^\[ERROR\] plugin\/pprof: trace: .*Session is not connected/,
          );
        });

        await t.step("closed while it runs", async () => {
          const before = watch.sessions.length;
          const pending = server.get("trace?seconds=1");
          await waitFor(
            "the trace's session",
            () => watch.sessions.length > before,
          );
          await new Promise((r) => setTimeout(r, 200));
          watch.sessions.at(-1)!.disconnect();
          const trace = await pending;
          assert.equal(trace.status, 500, trace.body);
          assert.equal(trace.goPprof, "1");
          assert.match(
            trace.body,
            /^Could not serve trace: .*Session is not connected\n$/,
          );
          await assertServing(server);
        });

        await t.step("the next trace is served", async () => {
          const trace = await server.get("trace?seconds=0.2");
          assert.equal(trace.status, 200, trace.body);
          assert.ok(Array.isArray(JSON.parse(trace.body).traceEvents));
        });
      });
    } finally {
      watch.restore();
    }
  },
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
      setTimeout(() => callback(new Error("Inspector error -32000: injected")));
      return;
    }
    return (post as (...args: unknown[]) => void).call(this, sent, ...rest);
  } as typeof post;
  return { restore: () => void (Session.prototype.post = post) };
}

Deno.test({
  name:
    "profile: Profiler.start fails; Go's 500, a log line, and the next CPU profile works",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const fault = failNext("Profiler.start");
    try {
      await withServer({ blockRate: 0, allocations: false }, async (server) => {
        await assertFault(
          server,
          await server.get("profile?seconds=1"),
          /injected\n$/,
          /^\[ERROR\] plugin\/pprof: profile: .*injected/,
        );
        const next = await server.get("profile?seconds=1");
        assert.equal(next.status, 200, next.body);
      });
    } finally {
      fault.restore();
    }
  },
});

Deno.test({
  name:
    "heap?gc=1: the collection and the read both fail; Go's 500, a log line, and the next read works",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
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
    });
  },
});

Deno.test({
  name:
    "block: Profiler.start fails as stall detection starts; a log line, and the server keeps serving",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const fault = failNext("Profiler.start");
    try {
      await withServer({ blockRate: 1, allocations: false }, async (server) => {
        await waitFor(
          "the failed start to be logged",
          () =>
            server.lines.some((l) =>
              /^\[ERROR\] plugin\/pprof: block profile: the inspector did not start: .*injected/
                .test(l)
            ),
        );
        await assertServing(server);
      });
    } finally {
      fault.restore();
    }
  },
});
