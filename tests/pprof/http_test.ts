/**
 * The pprof HTTP surface: exact statuses, headers and bodies against Go's
 * net/http/pprof (endpoints.md §1, §6). Checked in memory (a Request in, a
 * Response out) on the surface the plugin serves (`pprofSurface`, here
 * through `pprofHandler`, which holds the profiler as the plugin does);
 * over a real socket only what needs coredeno's process: its argv, and the
 * plugin wiring the same surface to its listener.
 */

import assert from "node:assert/strict";
import { inMemoryPprof } from "./_in_memory.ts";
import { startCoredeno } from "../_helpers.ts";

const GO_ERROR_HEADERS = {
  "content-type": "text/plain; charset=utf-8",
  "x-go-pprof": "1",
  "x-content-type-options": "nosniff",
};

function assertHeaders(
  response: Response,
  expected: Record<string, string | null>,
) {
  for (const [name, value] of Object.entries(expected)) {
    assert.equal(response.headers.get(name), value, `header ${name}`);
  }
}

/** `fetch`, or the same signature answered in memory. */
type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

/** `/debug/pprof` redirects (302) to `/debug/pprof/`, as Go's mux does. */
async function assertRedirect(fetch: Fetch, base: string) {
  const response = await fetch(`${base}/debug/pprof?x=1`, {
    redirect: "manual",
  });
  assert.equal(response.status, 302);
  assertHeaders(response, {
    location: "/debug/pprof/",
    "content-type": "text/html; charset=utf-8",
  });
  assert.equal(
    await response.text(),
    '<a href="/debug/pprof/">Found</a>.\n',
  );
}

/** The index lists what is served, sorted, with Go's markup. */
async function assertIndex(fetch: Fetch, base: string) {
  for (const query of ["", "?debug=1"]) {
    const response = await fetch(`${base}/debug/pprof/${query}`);
    assert.equal(response.status, 200);
    assertHeaders(response, {
      "content-type": "text/html; charset=utf-8",
      "x-content-type-options": "nosniff",
    });
    const html = await response.text();
    assert.match(html, /<title>\/debug\/pprof\/<\/title>/);
    assert.match(html, /Types of profiles available:/);
    assert.match(
      html,
      /<thead><td>Count<\/td><td>Profile<\/td><\/thead>/,
    );
    const names = [
      ...html.matchAll(
        /<tr><td>\d+<\/td><td><a href='(\w+)\?debug=1'>\1<\/a><\/td><\/tr>/g,
      ),
    ]
      .map((m) => m[1]);
    assert.deepEqual(names, [
      "allocs",
      "block",
      "cmdline",
      "goroutine",
      "heap",
      "mutex",
      "profile",
      "symbol",
      "threadcreate",
      "trace",
    ]);
    assert.match(html, /Profile Descriptions:/);
    assert.match(
      html,
      /<li><div class=profile-name>cmdline: <\/div> The command line/,
    );
  }
}

Deno.test("pprof HTTP surface answers as Go's net/http/pprof, in memory", async (t) => {
  const { base, fetch, close } = inMemoryPprof();
  try {
    await t.step(
      "/debug/pprof redirects (302) to /debug/pprof/",
      () => assertRedirect(fetch, base),
    );
    await t.step(
      "the index lists what is served, sorted, with Go's markup",
      () => assertIndex(fetch, base),
    );

    await t.step("symbol answers num_symbols: 1 to GET and POST", async () => {
      for (const init of [{}, { method: "POST", body: "0x1000+0x2000" }]) {
        const response = await fetch(
          `${base}/debug/pprof/symbol?0x401000`,
          init,
        );
        assert.equal(response.status, 200);
        assertHeaders(response, {
          "content-type": "text/plain; charset=utf-8",
          "x-content-type-options": "nosniff",
        });
        assert.equal(await response.text(), "num_symbols: 1\n");
      }
    });

    await t.step(
      "unknown profile names are a Go-style 404 that never echoes the name",
      async () => {
        for (
          const name of [
            "nosuch",
            "%3Cscript%3Escripty%3Cscript%3E",
            "cmdline/",
            "cmdline/x",
            "heap/",
            "heap/x",
          ]
        ) {
          const response = await fetch(
            `${base}/debug/pprof/${name}?seconds=abc`,
          );
          assert.equal(response.status, 404, name);
          assertHeaders(response, {
            ...GO_ERROR_HEADERS,
            "content-disposition": null,
          });
          assert.equal(await response.text(), "Unknown profile\n");
        }
      },
    );

    await t.step("other methods get 405 with Allow", async () => {
      for (
        const [path, method, allow] of [
          ["/debug/pprof/", "POST", "GET, HEAD"],
          ["/debug/pprof/cmdline", "DELETE", "GET, HEAD"],
          ["/debug/pprof/nosuch", "PUT", "GET, HEAD"],
          ["/debug/pprof/symbol", "PUT", "GET, HEAD, POST"],
          ["/debug/pprof", "POST", "GET, HEAD"],
        ] as const
      ) {
        const response = await fetch(`${base}${path}`, {
          method,
          redirect: "manual",
        });
        assert.equal(response.status, 405, `${method} ${path}`);
        assertHeaders(response, { ...GO_ERROR_HEADERS, allow });
        assert.equal(await response.text(), "Method Not Allowed\n");
      }
    });

    await t.step(
      "paths outside /debug/pprof/ are Go's 404; unclean paths 301",
      async () => {
        const notFound = await fetch(`${base}/metrics`);
        assert.equal(notFound.status, 404);
        assertHeaders(notFound, {
          "content-type": "text/plain; charset=utf-8",
          "x-go-pprof": null,
        });
        assert.equal(await notFound.text(), "404 page not found\n");

        const unclean = await fetch(`${base}//debug/pprof/./cmdline?a=b`, {
          redirect: "manual",
        });
        assert.equal(unclean.status, 301);
        assert.equal(
          unclean.headers.get("location"),
          "/debug/pprof/cmdline?a=b",
        );
        await unclean.body?.cancel();
      },
    );
  } finally {
    await close();
  }
});

Deno.test("the pprof plugin serves that surface on its listener, with coredeno's argv", async (t) => {
  const server = await startCoredeno(".:0 {\n    pprof 127.0.0.1:0\n}\n");
  const port = server.httpPort("pprof");
  const base = `http://127.0.0.1:${port}`;
  try {
    await t.step(
      "/debug/pprof redirects (302) to /debug/pprof/",
      () => assertRedirect(fetch, base),
    );
    await t.step(
      "the index lists what is served, sorted, with Go's markup",
      () => assertIndex(fetch, base),
    );

    await t.step(
      "cmdline is argv joined with NUL, no trailing newline",
      async () => {
        const response = await fetch(`${base}/debug/pprof/cmdline`);
        assert.equal(response.status, 200);
        assertHeaders(response, {
          "content-type": "text/plain; charset=utf-8",
          "x-content-type-options": "nosniff",
        });
        const argv = (await response.text()).split("\0");
        assert.equal(argv[0], Deno.execPath());
        assert.ok(argv[1]!.endsWith("/main.ts"), argv[1]);
        assert.equal(argv[2], "-conf");
        assert.ok(argv[3]!.endsWith("/Corefile"));
        assert.equal(argv.length, 4);
      },
    );

    await t.step(
      "HEAD answers with headers only (Deno.serve drops the body)",
      async () => {
        const response = await fetch(`${base}/debug/pprof/cmdline`, {
          method: "HEAD",
        });
        assert.equal(response.status, 200);
        assertHeaders(response, {
          "content-type": "text/plain; charset=utf-8",
        });
        assert.equal(await response.text(), "");
      },
    );

    await t.step(
      "bad requests on the wire, then it keeps serving",
      async () => {
        for (
          const bytes of [
            "GARBAGE\r\n\r\n",
            "GET /debug/pprof/nosuch HTTP/1.1\r\n\r\n",
          ]
        ) {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port });
          await conn.write(new TextEncoder().encode(bytes));
          await conn.read(new Uint8Array(4096));
          conn.close();
        }
        const response = await fetch(`${base}/debug/pprof/`);
        assert.equal(response.status, 200);
        await response.body?.cancel();
      },
    );
  } finally {
    const status = await server.stop();
    server.cleanup();
    assert.equal(status.code, 0, server.stderr());
  }
});
