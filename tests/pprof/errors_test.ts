/**
 * One error mapper for the /debug/pprof surface: whatever an endpoint throws
 * is answered in Go's error format (so `go tool pprof` prints it) and logged
 * as `plugin/pprof: ...`, in memory: a Request in, a Response out.
 */

import assert from "node:assert/strict";
import { setLogSink } from "../../lib/log.ts";
import { createPprofHandler, type Endpoint } from "../../lib/pprof/handler.ts";

/** Runs `fn` with log lines collected instead of printed. */
async function withLog<T>(fn: (lines: string[]) => Promise<T>): Promise<T> {
  const lines: string[] = [];
  const previous = setLogSink((line) => lines.push(line));
  try {
    return await fn(lines);
  } finally {
    setLogSink(previous);
  }
}

const throwing: Endpoint = {
  name: "broken",
  description: "throws at once",
  serve() {
    throw new Error("inspector session closed");
  },
};

const rejecting: Endpoint = {
  name: "late",
  description: "rejects after a turn",
  async serve() {
    await new Promise((r) => setTimeout(r, 1));
    throw new TypeError("bad state");
  },
};

const fine: Endpoint = {
  name: "fine",
  description: "answers",
  serve: () => new Response("ok"),
};

Deno.test("an endpoint that throws answers Go's 500 and logs plugin/pprof", async (t) => {
  const handle = createPprofHandler([throwing, rejecting, fine]);
  const cases = [
    {
      path: "broken",
      body: "Could not serve broken: inspector session closed\n",
      log: "[ERROR] plugin/pprof: broken: inspector session closed",
    },
    {
      path: "late?seconds=1",
      body: "Could not serve late: bad state\n",
      log: "[ERROR] plugin/pprof: late: TypeError: bad state",
    },
  ];
  for (const c of cases) {
    await t.step(c.path, async () => {
      await withLog(async (lines) => {
        const response = await handle(
          new Request(`http://localhost/debug/pprof/${c.path}`),
        );
        assert.equal(response.status, 500);
        assert.equal(response.headers.get("x-go-pprof"), "1");
        assert.equal(
          response.headers.get("content-type"),
          "text/plain; charset=utf-8",
        );
        assert.equal(response.headers.get("x-content-type-options"), "nosniff");
        assert.equal(response.headers.get("content-disposition"), null);
        assert.equal(await response.text(), c.body);
        assert.deepEqual(lines, [c.log]);
      });
    });
  }

  await t.step("the surface keeps serving", async () => {
    await withLog(async (lines) => {
      const response = await handle(
        new Request("http://localhost/debug/pprof/fine"),
      );
      assert.equal(response.status, 200);
      assert.equal(await response.text(), "ok");
      assert.deepEqual(lines, []);
    });
  });
});
