/**
 * lib/pprof as a library: options checked as the Corefile's directive is,
 * one process-wide profiler shared by every surface, conflicts refused, and
 * requests answered in memory (a Request in, a Response out) where no socket
 * is needed.
 */

import assert from "node:assert/strict";
import { freePort } from "../_helpers.ts";
import {
  PprofConflictError,
  pprofHandler,
  servePprof,
  withPprof,
} from "../../lib/pprof/mod.ts";

const peer = (hostname: string) => ({
  remoteAddr: { transport: "tcp" as const, hostname, port: 40000 },
});

Deno.test("pprofHandler: bad options fail with a clear error naming the option", () => {
  const cases: [unknown, RegExp][] = [
    [
      { blok: 1 },
      /unknown option 'blok' \(known: block, allocations, allow, path\)/,
    ],
    [{ block: 0 }, /option 'block' invalid value '0'.*positive integer/],
    [{ block: -5 }, /option 'block' invalid value '-5'/],
    [{ block: 1.5 }, /option 'block' invalid value '1.5'/],
    [{ block: "100" }, /option 'block' invalid value '100'/],
    [{ allocations: "yes" }, /option 'allocations' invalid value 'yes'/],
    [
      { allow: ["10.0.0.0/33"] },
      /option 'allow' invalid address or CIDR '10.0.0.0\/33'/,
    ],
    [{ allow: ["example.com"] }, /invalid address or CIDR 'example.com'/],
    [{ path: "debug/pprof" }, /option 'path' invalid value 'debug\/pprof'/],
    [{ path: "/debug/pprof/" }, /option 'path' invalid value/],
    [{ address: ":1" }, /unknown option 'address'/],
  ];
  for (const [options, message] of cases) {
    assert.throws(
      () => pprofHandler(options as never),
      (error: Error) =>
        error instanceof TypeError && message.test(error.message),
      `${JSON.stringify(options)} → ${message}`,
    );
  }
});

Deno.test("servePprof: a bad address is a TypeError, an address in use Go's bind error", () => {
  assert.throws(
    () => servePprof({ address: "nowhere" }),
    /pprof: address nowhere: missing port in address/,
  );
  assert.throws(
    () => servePprof({ address: "127.0.0.1:99999" }),
    /invalid port/,
  );
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (busy.addr as Deno.NetAddr).port;
    assert.throws(
      () => servePprof({ address: `127.0.0.1:${port}` }),
      new RegExp(
        `pprof: listen tcp 127.0.0.1:${port}: bind: address already in use`,
      ),
    );
  } finally {
    busy.close();
  }
});

Deno.test("surfaces share one profiler: different settings conflict, equal or unset ones share", async () => {
  const first = pprofHandler({ block: 5_000_000 });
  try {
    assert.throws(
      () => pprofHandler({ block: 7_000_000 }),
      (error: Error) =>
        error instanceof PprofConflictError &&
        /block rate 7000000 conflicts with block rate 5000000 held by pprofHandler\(\)/
          .test(error.message),
    );
    assert.throws(
      () => servePprof({ address: "127.0.0.1:0", allocations: true }),
      PprofConflictError,
    );
    // The same rate, or none, shares what is held: block is process-wide.
    const second = pprofHandler({ block: 5_000_000 });
    const third = pprofHandler();
    await Promise.all([first.ready, second.ready, third.ready]);
    const index = await third(new Request("http://x/debug/pprof/"));
    assert.match(await index.text(), /On, at rate 5000000 ns/);
    await second.close();
    await third.close();
  } finally {
    await first.close();
  }
  // Released: other settings are free to take the profiler.
  const after = pprofHandler({ block: 7_000_000, allocations: true });
  await after.ready;
  await after.close();
});

Deno.test("the index says what heap and allocs hold for the settings this surface runs with", async () => {
  for (const allocations of [false, true]) {
    const pprof = pprofHandler({ allocations });
    try {
      await pprof.ready;
      const index = await (await pprof(new Request("http://x/debug/pprof/")))
        .text();
      const heap = index.match(/heap: <\/div> ([^<]*)</)![1]!;
      const allocs = index.match(/allocs: <\/div> ([^<]*)</)![1]!;
      if (allocations) {
        assert.match(heap, /all past memory allocations .*allocation mode/);
        assert.match(allocs, /all past memory allocations .*allocation mode/);
      } else {
        assert.match(heap, /live objects \(inuse_space\)/);
        assert.match(allocs, /serves the heap data under its true names/);
      }
    } finally {
      await pprof.close();
    }
  }
});

Deno.test("two servePprof on one address conflict loudly, and the first keeps its allow list", async () => {
  // An address written out (port 0 is a fresh port each time, never shared).
  const at = `127.0.0.1:${freePort()}`;
  const first = servePprof({ address: at, allow: ["10.0.0.0/8"] });
  try {
    assert.throws(
      () => servePprof({ address: at }),
      (error: Error) =>
        error instanceof PprofConflictError &&
        error.message ===
          `pprof: servePprof(): ${at} is already served by servePprof()`,
    );
    // Still the first's: a client from 127.0.0.1 is outside 10.0.0.0/8.
    const response = await fetch(`http://${at}/debug/pprof/`);
    assert.equal(response.status, 403);
    await response.body?.cancel();
  } finally {
    await first.shutdown();
  }
});

Deno.test("pprofHandler answers in memory: the base path, 404 elsewhere, a custom path, allow", async () => {
  const pprof = pprofHandler();
  const custom = pprofHandler({
    path: "/internal/prof",
    allow: ["10.0.0.0/8"],
  });
  try {
    const index = await pprof(new Request("http://x/debug/pprof/"));
    assert.equal(index.status, 200);
    assert.match(await index.text(), /Types of profiles available:/);
    const bare = await pprof(new Request("http://x/debug/pprof"));
    assert.equal(bare.status, 302);
    assert.equal(bare.headers.get("Location"), "/debug/pprof/");
    await bare.body?.cancel();
    const elsewhere = await pprof(new Request("http://x/api"));
    assert.equal(elsewhere.status, 404);
    await elsewhere.body?.cancel();
    assert.ok(pprof.matches(new Request("http://x/debug/pprof/heap")));
    assert.ok(!pprof.matches(new Request("http://x/debug/pprofile")));

    // A custom base, and allow: the peer must be known and inside.
    assert.ok(custom.matches(new Request("http://x/internal/prof/")));
    const noPeer = await custom(new Request("http://x/internal/prof/"));
    assert.equal(noPeer.status, 403);
    assert.equal(noPeer.headers.get("X-Go-Pprof"), "1");
    await noPeer.body?.cancel();
    const outside = await custom(
      new Request("http://x/internal/prof/"),
      peer("192.168.1.1"),
    );
    assert.equal(outside.status, 403);
    await outside.body?.cancel();
    const inside = await custom(
      new Request("http://x/internal/prof/"),
      peer("10.1.2.3"),
    );
    assert.equal(inside.status, 200);
    assert.match(await inside.text(), /<title>\/internal\/prof\/<\/title>/);
    const heap = await custom(
      new Request("http://x/internal/prof/heap"),
      peer("10.1.2.3"),
    );
    assert.equal(heap.status, 200);
    const bytes = new Uint8Array(await heap.arrayBuffer());
    assert.deepEqual([...bytes.slice(0, 2)], [0x1f, 0x8b]);
  } finally {
    await pprof.close();
    await custom.close();
  }
  const closed = await pprof(new Request("http://x/debug/pprof/"));
  assert.equal(closed.status, 503);
  await closed.body?.cancel();
});

Deno.test("withPprof: the app answers everything but /debug/pprof", async () => {
  const handler = withPprof((request) =>
    new Response(`app ${new URL(request.url).pathname}`)
  );
  try {
    const app = await handler(
      new Request("http://x/debug/pprofx"),
      peer("127.0.0.1"),
    );
    assert.equal(await app.text(), "app /debug/pprofx");
    const goroutine = await handler(
      new Request("http://x/debug/pprof/goroutine?debug=1"),
      peer("127.0.0.1"),
    );
    assert.equal(goroutine.status, 200);
    assert.match(await goroutine.text(), /goroutine profile: total 1/);
  } finally {
    await handler.close();
  }
});

Deno.test("servePprof listens, answers a real client, and shuts down", async () => {
  const server = servePprof({ address: "127.0.0.1:0" });
  await server.ready;
  const base = `http://127.0.0.1:${server.addr.port}/debug/pprof`;
  const profile = await fetch(`${base}/profile?seconds=1`);
  assert.equal(profile.status, 200);
  assert.equal(
    profile.headers.get("Content-Disposition"),
    'attachment; filename="profile"',
  );
  await profile.arrayBuffer();
  await server.shutdown();
  await assert.rejects(fetch(`${base}/`));
});
