/**
 * `/debug/pprof/trace?seconds=N`: a Chrome DevTools trace JSON of the window,
 * from a process whose `blocker()` holds the loop ~200 ms once a second.
 */

import assert from "node:assert/strict";
import { REPO, spawnScript, waitFor } from "../_helpers.ts";

interface Event {
  name: string;
  ph: string;
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  cat: string;
  args?: Record<string, unknown>;
}

Deno.test("trace: DevTools trace JSON with samples, busy runs and stalls inside the window", async () => {
  const server = spawnScript(
    new URL("tests/pprof/fixtures/blocker.ts", REPO).pathname,
    [""],
    { BLOCKS: "1000", REPORT_PROFILER_START: "1" },
  );
  try {
    await waitFor(
      "the blocker to serve",
      () => server.stdout().includes("ready "),
    );
    const port = Number(/^ready (\d+)$/m.exec(server.stdout())![1]);
    const base = `http://127.0.0.1:${port}/debug/pprof`;
    await waitFor("a first block", () => server.stdout().includes("blocked "));
    const starts = () => server.stdout().split("profiler started\n").length;
    const before = starts();
    const pending = fetch(`${base}/trace?seconds=2.5`);
    // One trace at a time, with Go's error text, once the first has started.
    await waitFor("the trace to start", () => starts() > before);
    const busy = await fetch(`${base}/trace`);
    assert.equal(busy.status, 500);
    assert.equal(busy.headers.get("x-go-pprof"), "1");
    assert.equal(
      await busy.text(),
      "Could not enable tracing: tracing already in use\n",
    );

    const response = await pending;
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("content-disposition"),
      'attachment; filename="trace.json"',
    );
    assert.equal(response.headers.get("content-type"), "application/json");
    const trace = JSON.parse(await response.text()) as {
      traceEvents: Event[];
      metadata: Record<string, unknown>;
    };
    const events = trace.traceEvents;
    assert.ok(Array.isArray(events));
    for (const e of events) {
      assert.equal(typeof e.name, "string");
      assert.equal(typeof e.ph, "string");
      assert.ok(Number.isFinite(e.ts), `ts of ${e.name}`);
      assert.equal(typeof e.pid, "number");
      assert.equal(typeof e.tid, "number");
    }
    // DevTools drops the process when this event is present.
    assert.ok(!events.some((e) => e.name === "TracingStartedInBrowser"));
    assert.ok(events.some((e) => e.ph === "M" && e.name === "thread_name"));

    const profile = events.find((e) => e.name === "Profile" && e.ph === "P")!;
    const chunk = events.find((e) =>
      e.name === "ProfileChunk" && e.ph === "P"
    )!;
    assert.ok(profile && chunk);
    const start = (profile.args!.data as { startTime: number }).startTime;
    const data = chunk.args!.data as {
      cpuProfile: {
        nodes: {
          id: number;
          parent?: number;
          callFrame: {
            functionName: string;
            url: string;
            lineNumber: number;
          };
        }[];
        samples: number[];
      };
      timeDeltas: number[];
      endTime: number;
    };
    const ids = new Set(data.cpuProfile.nodes.map((n) => n.id));
    for (const n of data.cpuProfile.nodes) {
      if (n.parent !== undefined) assert.ok(ids.has(n.parent));
    }
    // At the profilers' rate (100 Hz here), over the 2.5 s window.
    assert.equal(trace.metadata.samplingIntervalMicros, 10_000);
    assert.ok(data.cpuProfile.samples.length > 100, "samples of the window");
    assert.equal(data.cpuProfile.samples.length, data.timeDeltas.length);
    for (const s of data.cpuProfile.samples) assert.ok(ids.has(s));
    const end = start + data.timeDeltas.reduce((a, b) => a + b, 0);
    // The window: 2.5 s requested (plus scheduling slack).
    assert.ok(end - start >= 2.4e6 && end - start <= 4e6, `${end - start} µs`);
    const names = new Set(
      data.cpuProfile.nodes.map((n) => n.callFrame.functionName),
    );
    assert.ok(names.has("blocker"));
    // Frames as in the pprof profiles: TypeScript lines (0-based, as CDP's),
    // anonymous functions named after their start.
    const blockerTs = new URL("tests/pprof/fixtures/blocker.ts", REPO);
    const blockerLine = (await Deno.readTextFile(blockerTs)).split("\n")
      .findIndex((l) => l.startsWith("export function blocker("));
    for (const n of data.cpuProfile.nodes) {
      const f = n.callFrame;
      if (f.functionName === "blocker") {
        assert.equal(f.url, blockerTs.href);
        assert.equal(f.lineNumber, blockerLine, "blocker's TypeScript line");
      }
      if (f.url && f.lineNumber >= 0) {
        assert.notEqual(f.functionName, "", `a name at ${f.url}`);
      }
    }
    assert.ok(
      [...names].some((n) => /^\(anonymous:L#\d+:C#\d+\)$/.test(n)),
      "anonymous functions named as in pprof",
    );

    // Inside the profile's window: its start to its end (V8's endTime; the
    // last sample may come up to an interval before it).
    const inWindow = (e: Event) =>
      e.ts >= start && e.ts + (e.dur ?? 0) <= data.endTime + 1000;
    const runs = events.filter((e) => e.name === "RunTask" && e.ph === "X");
    assert.ok(runs.length > 0 && runs.every(inWindow));
    const stalls = events.filter((e) => e.name === "EventLoopStall");
    assert.ok(stalls.length >= 2, `${stalls.length} stalls in 2.5 s`);
    assert.ok(stalls.every(inWindow));
    // The blocker's ~200 ms stalls are there.
    assert.ok(stalls.filter((e) => e.dur! >= 150_000).length >= 2);
  } finally {
    await server.stop();
  }
});
