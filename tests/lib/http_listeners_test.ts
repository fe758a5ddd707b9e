/** Shared HTTP listeners: how a reload keeps an address's socket. */

import assert from "node:assert/strict";
import { acquireHttpListener } from "../../lib/net/http_listeners.ts";
import { freePort } from "../_helpers.ts";

async function get(port: number): Promise<string> {
  return await (await fetch(`http://127.0.0.1:${port}/`)).text();
}

Deno.test("a second holder of an address takes over its socket; releases hand it back, then close it", async () => {
  // A port written out: only those are shared (port 0 never is).
  const port = freePort();
  const at = { address: `127.0.0.1:${port}`, host: "127.0.0.1", port };
  const old = acquireHttpListener(at, () => new Response("old"));
  assert.equal(await get(port), "old");
  const next = acquireHttpListener(at, () => new Response("new")); // no second bind: no AddrInUse
  assert.equal(await get(port), "new");
  await next.release(); // e.g. the new configuration failed to start: the old one answers again
  assert.equal(await get(port), "old");
  const again = acquireHttpListener(at, () => new Response("again"));
  await old.release(); // the old configuration stops after the new one started
  assert.equal(await get(port), "again");
  await again.release();
  await assert.rejects(get(port));
});

Deno.test("port 0 is never shared, and a taken address fails in Go's words", async () => {
  const a = acquireHttpListener({
    address: "127.0.0.1:0",
    host: "127.0.0.1",
    port: 0,
  }, () => new Response("a"));
  const b = acquireHttpListener({
    address: "127.0.0.1:0",
    host: "127.0.0.1",
    port: 0,
  }, () => new Response("b"));
  assert.notEqual(a.port, b.port);
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (busy.addr as Deno.NetAddr).port;
  assert.throws(
    () =>
      acquireHttpListener({
        address: `127.0.0.1:${port}`,
        host: "127.0.0.1",
        port,
      }, () => new Response()),
    { message: `listen tcp 127.0.0.1:${port}: bind: address already in use` },
  );
  busy.close();
  await a.release();
  await b.release();
});
