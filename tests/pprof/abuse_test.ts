/**
 * Abusive HTTP against the pprof surface: malformed queries and escapes,
 * absurd values and odd methods get a Go-style 4xx (in memory: a Request
 * in, a Response out); on a running pprof listener, garbage on the wire,
 * 200 concurrent connections and slow clients never stall the index: every
 * index request is answered, and one is answered while slow clients hold
 * their requests open.
 */

import assert from "node:assert/strict";
import { inMemoryPprof } from "./_in_memory.ts";
import { startCoredeno } from "../_helpers.ts";

/** GETs the index every 50 ms until stopped; counts the answers and collects any failure. */
function watchIndex(base: string) {
  let running = true;
  let answered = 0;
  const failures: string[] = [];
  const done = (async () => {
    while (running) {
      try {
        const response = await fetch(`${base}/debug/pprof/`, {
          signal: AbortSignal.timeout(5000),
        });
        await response.body?.cancel();
        if (response.status !== 200) failures.push(`status ${response.status}`);
        else answered++;
      } catch (error) {
        failures.push(String(error));
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    /** Index answers so far. */
    answered: () => answered,
    async stop() {
      running = false;
      await done;
      return { failures };
    },
  };
}

/** Sends raw bytes on a fresh connection; returns the status line (or "closed"). */
async function rawRequest(port: number, bytes: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(bytes));
    const buffer = new Uint8Array(4096);
    const n = await conn.read(buffer);
    return n === null
      ? "closed"
      : new TextDecoder().decode(buffer.subarray(0, n)).split("\r\n")[0]!;
  } finally {
    conn.close();
  }
}

Deno.test("abusive parameters and odd methods get Go-style 4xx, in memory", async (t) => {
  const { base, fetch, close } = inMemoryPprof();
  try {
    await t.step("malformed and absurd parameters", async () => {
      const cases: [string, number][] = [
        ["/debug/pprof/heap?seconds=%ff%fe", 400],
        ["/debug/pprof/heap?seconds=99999999999999999999", 400],
        ["/debug/pprof/heap?seconds=-1", 400],
        ["/debug/pprof/heap?seconds=1e3", 400],
        ["/debug/pprof/heap?seconds=4000", 400],
        ["/debug/pprof/heap?debug=%zz&gc=%00", 200],
        ["/debug/pprof/heap?&&&=&==", 200],
        ["/debug/pprof/profile?seconds=99999999", 400],
        ["/debug/pprof/profile?seconds=1&hz=0", 400],
        ["/debug/pprof/profile?seconds=1&hz=abc", 400],
        ["/debug/pprof/%zz", 404],
        ["/debug/pprof/%00", 404],
        ["/debug/pprof/" + "x".repeat(8000), 404],
      ];
      for (const [path, status] of cases) {
        const response = await fetch(base + path);
        await response.body?.cancel();
        assert.equal(response.status, status, path);
        if (status >= 400) {
          assert.equal(response.headers.get("x-go-pprof"), "1", path);
        }
      }
    });

    await t.step("odd methods get 405", async () => {
      for (const method of ["PUT", "DELETE", "PATCH", "OPTIONS", "BREW"]) {
        const response = await fetch(`${base}/debug/pprof/heap`, { method });
        await response.body?.cancel();
        assert.equal(response.status, 405, method);
      }
    });
  } finally {
    await close();
  }
});

Deno.test("abusive connections never stall the index of a running listener", async (t) => {
  const server = await startCoredeno(".:0 {\n    pprof 127.0.0.1:0\n}\n");
  const port = server.httpPort("pprof");
  const base = `http://127.0.0.1:${port}`;
  const watch = watchIndex(base);
  try {
    await t.step("garbage on the wire is refused without harm", async () => {
      for (
        const bytes of [
          "GARBAGE\r\n\r\n",
          "GET /debug/pprof/ HTTP/9.9\r\n\r\n",
          "\x00\x01\x02\r\n\r\n",
        ]
      ) {
        const line = await rawRequest(port, bytes);
        assert.ok(
          line === "closed" || /^HTTP\/1\.[01] 4\d\d/.test(line),
          `${JSON.stringify(bytes)} → ${line}`,
        );
      }
    });

    await t.step(
      "200 concurrent connections all get their answer",
      async () => {
        const responses = await Promise.all(
          Array.from(
            { length: 200 },
            (_, i) =>
              fetch(`${base}/debug/pprof/${i % 2 ? "heap" : "cmdline"}`),
          ),
        );
        for (const response of responses) {
          assert.equal(response.status, 200);
          await response.arrayBuffer();
        }
      },
    );

    await t.step(
      "slow clients, trickling a request, do not hold the others up",
      async () => {
        const conns = await Promise.all(
          Array.from(
            { length: 20 },
            () => Deno.connect({ hostname: "127.0.0.1", port }),
          ),
        );
        const request = new TextEncoder().encode(
          "GET /debug/pprof/cmdline HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        // A byte per 100 ms, never the last: every slow request stays open
        // while the index is asked. A server held up by them would answer
        // no index request before the bytes run out (about 4.6 s).
        let sent = 0;
        const trickle = async () => {
          await Promise.all(
            conns.map((c) => c.write(request.subarray(sent, sent + 1))),
          );
          sent++;
        };
        await trickle();
        const before = watch.answered();
        while (watch.answered() < before + 2 && sent < request.length - 1) {
          await new Promise((r) => setTimeout(r, 100));
          await trickle();
        }
        for (const conn of conns) conn.close();
        assert.ok(
          watch.answered() >= before + 2,
          `no index answer while ${conns.length} slow requests were open`,
        );
      },
    );
  } finally {
    const { failures } = await watch.stop();
    await server.stop();
    server.cleanup();
    assert.deepEqual(failures, []);
  }
});
