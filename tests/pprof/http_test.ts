/**
 * The pprof HTTP surface over a real socket: coredeno runs as a subprocess
 * with `deno task start`'s permissions, and `fetch` checks exact statuses,
 * headers and bodies against Go's net/http/pprof (endpoints.md §1, §6).
 */

import assert from "node:assert/strict";
import { freePort, startCoredeno } from "../_helpers.ts";

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

Deno.test("pprof HTTP surface answers as Go's net/http/pprof", async (t) => {
  const port = freePort();
  const server = await startCoredeno(
    `.:${freePort()} {\n    pprof 127.0.0.1:${port}\n}\n`,
  );
  const base = `http://127.0.0.1:${port}`;
  try {
    await t.step("/debug/pprof redirects (302) to /debug/pprof/", async () => {
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
    });

    await t.step(
      "the index lists what is served, sorted, with Go's markup",
      async () => {
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
      },
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

    await t.step("HEAD answers with headers only", async () => {
      const response = await fetch(`${base}/debug/pprof/cmdline`, {
        method: "HEAD",
      });
      assert.equal(response.status, 200);
      assertHeaders(response, { "content-type": "text/plain; charset=utf-8" });
      assert.equal(await response.text(), "");
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

    await t.step("the server keeps serving after bad requests", async () => {
      const response = await fetch(`${base}/debug/pprof/`);
      assert.equal(response.status, 200);
      await response.body?.cancel();
    });
  } finally {
    const status = await server.stop();
    server.cleanup();
    assert.equal(status.code, 0, server.stderr());
  }
});
