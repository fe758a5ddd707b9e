/** Who may read the profiles: loopback by default, `allow CIDR...`, and a warning off loopback. */

import assert from "node:assert/strict";
import { Dispenser, parseCorefile } from "../../lib/corefile/mod.ts";
import { setLogSink } from "../../lib/log.ts";
import {
  isAllowed,
  isLoopbackHost,
  parseAllowed,
} from "../../lib/pprof/allow.ts";
import { servePprof } from "../../lib/pprof/mod.ts";
import { DIRECTIVES } from "../../plugins/mod.ts";
import { parsePprof } from "../../plugins/pprof/setup.ts";
import { startCoredeno } from "../_helpers.ts";

/** This machine's own addresses that other hosts reach it by (not loopback, not link-local). */
const OUTSIDE = Deno.networkInterfaces()
  .map((i) => i.address)
  .filter((a) => !isLoopbackHost(a) && !a.toLowerCase().startsWith("fe80:"));

/** Ignore a test (with the reason printed) when `ok` is false, unless CI is set: CI must run it. */
function skipWithout(ok: boolean, why: string): boolean {
  if (ok || Deno.env.get("CI")) return false;
  console.log(`SKIPPED: loopback-only test: ${why}`);
  return true;
}

/** Whether a TCP connection to `hostname:port` is accepted. */
async function accepts(hostname: string, port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname, port })).close();
    return true;
  } catch {
    return false;
  }
}

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

Deno.test({
  name:
    "a bare pprof listens on loopback only: this machine's other addresses are refused, and nothing warns",
  ignore: skipWithout(
    OUTSIDE.length > 0,
    "no address beyond loopback to probe",
  ),
  async fn() {
    const [block] = parseCorefile(".:53 {\n    pprof\n}\n", {
      filename: "Corefile",
      directives: new Set(DIRECTIVES),
    });
    const bare = parsePprof(
      new Dispenser("Corefile", block!.tokens.get("pprof")!),
    );
    assert.equal(bare.port, 6053);
    const lines: string[] = [];
    const restore = setLogSink((line) => lines.push(line));
    // The bare directive's host on a free port (tests never bind 6053), and,
    // as a control that the probe sees an open listener, one on every
    // interface.
    const closed = servePprof({ address: `${bare.host}:0` });
    const open = servePprof({ address: ":0" });
    try {
      const { hostname, port } = closed.addr;
      assert.ok(isLoopbackHost(hostname), `bound to ${hostname}`);
      assert.ok(await accepts(hostname, port));
      for (const address of OUTSIDE) {
        assert.ok(!await accepts(address, port), `${address} reaches it`);
      }
      const reached = [];
      for (const address of OUTSIDE) {
        if (await accepts(address, open.addr.port)) reached.push(address);
      }
      assert.ok(reached.length > 0, `none of ${OUTSIDE} reaches :0`);
      assert.deepEqual(
        lines.filter((l) => l.includes("beyond loopback")),
        [
          `[WARNING] plugin/pprof: listening on :0, beyond loopback: anyone who reaches it can read this process's profiles`,
        ],
      );
    } finally {
      setLogSink(restore);
      await closed.shutdown();
      await open.shutdown();
    }
  },
});

Deno.test("clients outside allow get Go's 403; a non-loopback address warns at startup", async () => {
  const server = await startCoredeno(
    "a.example:0 {\n    pprof 127.0.0.1:0 {\n        allow 127.0.0.0/8\n    }\n}\n" +
      "b.example:0 {\n    pprof :0 {\n        allow 10.0.0.0/8\n    }\n}\n",
  );
  const port = (host: string) =>
    Number(
      new RegExp(`plugin/pprof: Listening on ${host}:(\\d+)`).exec(
        server.stdout(),
      )?.[1],
    );
  const [open, closed] = [port("127\\.0\\.0\\.1"), port("0\\.0\\.0\\.0")];
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
        `\\[WARNING\\] plugin/pprof: listening on :0, beyond loopback: clients in 10\\.0\\.0\\.0/8 can read`,
      ),
    );
    assert.doesNotMatch(
      server.stdout(),
      /WARNING.*listening on 127\.0\.0\.1/,
    );
  } finally {
    await server.stop();
    server.cleanup();
  }
});
