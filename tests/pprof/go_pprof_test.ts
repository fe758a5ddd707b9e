/** The real client: `go tool pprof` from Debian's golang-go against a running coredeno. */

import assert from "node:assert/strict";
import { goAvailable, startCoredeno, startWorkload } from "../_helpers.ts";
import { goToolPprof } from "../_go.ts";

const hasGo = goAvailable();

Deno.test({
  name: "go tool pprof prints coredeno's Go-style errors and exits 1",
  ignore: !hasGo,
  async fn() {
    const server = await startCoredeno(".:0 {\n    pprof 127.0.0.1:0\n}\n");
    const port = server.httpPort("pprof");
    try {
      const result = await goToolPprof([
        "-top",
        `http://127.0.0.1:${port}/debug/pprof/nosuch`,
      ]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(
        result.stderr,
        /server response: 404 Not Found - Unknown profile/,
      );
      assert.match(result.stderr, /failed to fetch any source profiles/);
    } finally {
      await server.stop();
      server.cleanup();
    }
  },
});

/**
 * A recording HTTP proxy in front of `upstream`: `go tool pprof` talks to
 * it, and the test sees every path the client asked for (no /symbol).
 */
function recordingProxy(upstream: string) {
  const paths: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => {
      const url = new URL(request.url);
      paths.push(`${request.method} ${url.pathname}${url.search}`);
      return fetch(`${upstream}${url.pathname}${url.search}`, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        signal: request.signal,
      });
    },
  );
  return {
    paths,
    base: `http://127.0.0.1:${server.addr.port}`,
    close: () => server.shutdown(),
  };
}

/** A `go tool pprof` value (`1.20s`, `10ms`, `.`) in seconds. */
function seconds(value: string): number {
  const m = value.match(/^([\d.]+)(ns|us|µs|ms|s|m|h)$/);
  if (!m) return 0;
  const scale: Record<string, number> = {
    ns: 1e-9,
    us: 1e-6,
    "µs": 1e-6,
    ms: 1e-3,
    s: 1,
    m: 60,
    h: 3600,
  };
  return Number(m[1]) * scale[m[2]!]!;
}

/** The 1-based line of `needle` in the workload fixture's TypeScript source. */
function fixtureLine(needle: string): number {
  const source = Deno.readTextFileSync(
    new URL("fixtures/workload.ts", import.meta.url),
  );
  return source.split("\n").findIndex((line) => line.includes(needle)) + 1;
}

Deno.test({
  name:
    "go tool pprof reads CPU and heap profiles of a running workload, with TypeScript lines",
  ignore: !hasGo,
  async fn(t) {
    const workload = await startWorkload();
    const proxy = recordingProxy(workload.base);
    const hostPort = proxy.base.replace("http://", "");
    try {
      await t.step(
        "-top -seconds 2 HOST:PORT names the hot function",
        async () => {
          const result = await goToolPprof(["-top", "-seconds", "2", hostPort]);
          assert.equal(result.code, 0, result.stderr);
          assert.match(
            result.stderr,
            /Fetching profile over HTTP from http:\/\/127\.0\.0\.1:\d+\/debug\/pprof\/profile\?seconds=2/,
          );
          assert.match(result.stdout, /^Type: cpu$/m);
          assert.match(result.stdout, /Duration: 2/);
          // The hottest JavaScript function: rows are by flat time; the
          // bracketed frames ([native...], [gc]) are the runtime's, whose
          // share depends on how loaded the machine is.
          const top = result.stdout.split("\n").find((line) =>
            /\d+(\.\d+)?%\s+\S/.test(line) && !/Showing|\s\[/.test(line)
          );
          assert.match(top ?? "", / alpha$/, result.stdout);
        },
      );

      await t.step(
        "-raw on CPU shows alpha at TypeScript lines inside it",
        async () => {
          const result = await goToolPprof([
            "-raw",
            `${proxy.base}/debug/pprof/profile?seconds=1`,
          ]);
          assert.equal(result.code, 0, result.stdout + result.stderr);
          const start = fixtureLine("export function alpha(");
          const end = fixtureLine("export function beta(") - 1;
          const lines = [
            ...result.stdout.matchAll(/ alpha \S*workload\.ts:(\d+)\s/g),
          ].map((m) => Number(m[1]));
          assert.ok(lines.length > 0, result.stdout);
          for (const line of lines) {
            assert.ok(line >= start && line <= end, `alpha at ${line}`);
          }
        },
      );

      await t.step(
        "-list alpha puts alpha's time on its loop's line",
        async () => {
          const result = await goToolPprof([
            "-list",
            "^alpha$",
            `${proxy.base}/debug/pprof/profile?seconds=2`,
          ]);
          assert.equal(result.code, 0, result.stderr);
          assert.match(result.stdout, /ROUTINE =+ alpha in \S*workload\.ts/);
          // "  flat  cum  LINE: source", values like 1.20s, 10ms or ".".
          const flat = new Map<number, number>();
          for (
            const m of result.stdout.matchAll(
              /^\s+(\S+)\s+\S+\s+(\d+):/gm,
            )
          ) {
            flat.set(Number(m[2]), seconds(m[1]!));
          }
          const loop = fixtureLine("x = (x * 1.000001 + i) % 1e9; // hot");
          const hottest = [...flat].sort((a, b) => b[1] - a[1])[0];
          assert.equal(hottest?.[0], loop, result.stdout);
          const all = [...flat.values()].reduce((a, b) => a + b, 0);
          console.log(
            `-list alpha: loop line ${loop} has ${
              (100 * flat.get(loop)! / all).toFixed(1)
            }% of alpha's flat time`,
          );
        },
      );

      await t.step(
        "-raw and -traces on heap name the allocating function",
        async () => {
          const raw = await goToolPprof([
            "-raw",
            `${proxy.base}/debug/pprof/heap`,
          ]);
          assert.equal(raw.code, 0, raw.stderr);
          assert.match(raw.stdout, /PeriodType: space bytes/);
          assert.match(
            raw.stdout,
            /inuse_objects\/count inuse_space\/bytes\[dflt\]|inuse_space\/bytes/,
          );
          assert.match(raw.stdout, / retainMemory /);
          const traces = await goToolPprof([
            "-traces",
            `${proxy.base}/debug/pprof/heap`,
          ]);
          assert.equal(traces.code, 0, traces.stderr);
          assert.match(traces.stdout, /-----------\+-------/);
          assert.match(traces.stdout, /retainMemory/);
        },
      );

      await t.step(
        "a bad seconds surfaces as the server's Go-style 400",
        async () => {
          const result = await goToolPprof([
            "-top",
            `${proxy.base}/debug/pprof/heap?seconds=abc`,
          ]);
          assert.equal(result.code, 1);
          assert.match(
            result.stderr,
            /server response: 400 Bad Request - invalid value for "seconds" - must be a positive integer/,
          );
        },
      );

      await t.step("no request ever reached /debug/pprof/symbol", () => {
        assert.ok(proxy.paths.length >= 5, proxy.paths.join("\n"));
        assert.deepEqual(proxy.paths.filter((p) => p.includes("/symbol")), []);
      });
    } finally {
      await proxy.close();
      await workload.stop();
    }
  },
});
