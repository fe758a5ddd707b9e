/** Who may read the profiles: loopback by default, `allow CIDR...`, and a warning off loopback. */

import assert from "node:assert/strict";
import {
  isAllowed,
  isLoopbackHost,
  parseAllowed,
} from "../../lib/pprof/allow.ts";
import { freePort, startCoredeno } from "../_helpers.ts";

Deno.test("allow lists match IPv4, IPv6 and IPv4-mapped peers", () => {
  const nets = ["10.0.0.0/8", "192.168.1.7", "fd00::/8"].map((t) =>
    parseAllowed(t)!
  );
  assert.ok(isAllowed(nets, "10.1.2.3"));
  assert.ok(isAllowed(nets, "192.168.1.7"));
  assert.ok(isAllowed(nets, "::ffff:10.9.9.9"));
  assert.ok(isAllowed(nets, "fd12::1"));
  assert.ok(!isAllowed(nets, "192.168.1.8"));
  assert.ok(!isAllowed(nets, "11.0.0.1"));
  assert.ok(!isAllowed(nets, "fe80::1"));
  assert.ok(!isAllowed(nets, "not-an-ip"));
  assert.ok(
    isLoopbackHost("localhost") && isLoopbackHost("127.3.4.5") &&
      isLoopbackHost("::1"),
  );
  assert.ok(
    !isLoopbackHost("") && !isLoopbackHost("0.0.0.0") &&
      !isLoopbackHost("10.0.0.1"),
  );
});

Deno.test("the default address is loopback only", async () => {
  const { DEFAULT_ADDRESS } = await import("../../plugins/pprof/setup.ts");
  assert.equal(DEFAULT_ADDRESS, "localhost:6053");
});

Deno.test("clients outside allow get Go's 403; a non-loopback address warns at startup", async () => {
  const open = freePort();
  const closed = freePort();
  const server = await startCoredeno(
    `a.example:${freePort()} {\n    pprof 127.0.0.1:${open} {\n        allow 127.0.0.0/8\n    }\n}\n` +
      `b.example:${freePort()} {\n    pprof :${closed} {\n        allow 10.0.0.0/8\n    }\n}\n`,
  );
  try {
    const allowed = await fetch(`http://127.0.0.1:${open}/debug/pprof/`);
    assert.equal(allowed.status, 200);
    await allowed.body?.cancel();
    const refused = await fetch(`http://127.0.0.1:${closed}/debug/pprof/heap`);
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get("x-go-pprof"), "1");
    assert.equal(await refused.text(), "Forbidden\n");
    assert.match(
      server.stdout(),
      new RegExp(
        `\\[WARNING\\] plugin/pprof: listening on :${closed}, beyond loopback: clients in 10\\.0\\.0\\.0/8 can read`,
      ),
    );
    assert.doesNotMatch(
      server.stdout(),
      new RegExp(`listening on 127\\.0\\.0\\.1:${open}`),
    );
  } finally {
    await server.stop();
    server.cleanup();
  }
});
