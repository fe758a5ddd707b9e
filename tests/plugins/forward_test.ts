/**
 * *forward* against a real upstream (Debian's unbound on loopback), through
 * real clients (`dig` over UDP and TCP) and coredeno as a subprocess:
 * answers, truncation retried over TCP, failover when an upstream is
 * killed, health checks bringing it back, SERVFAIL only when all are down.
 */

import assert from "node:assert/strict";
import { Dispenser } from "../../lib/corefile/mod.ts";
import { tokenize } from "../../lib/corefile/lexer.ts";
import type { DnsRequest, ResponseWriter } from "../../lib/dns/handler.ts";
import { CachedClosedError, Upstream } from "../../lib/dns/upstream.ts";
import { type Message, RCODE } from "../../lib/dns/wire.ts";
import { Forward, parseForward, parseTo } from "../../plugins/forward/mod.ts";
import { startCoredeno, tempFiles, waitFor } from "../_helpers.ts";
import { dig, digAvailable, queryMessage } from "../dns/_dns.ts";
import {
  startUnbound,
  UNBOUND_DATA,
  unboundAvailable,
} from "../dns/_unbound.ts";

const hasUnbound = unboundAvailable();
const hasDig = digAvailable();

/** The directive's tokens, on line 2 of a Corefile as in a server block. */
function dispenser(text: string): Dispenser {
  return new Dispenser("Corefile", tokenize(`\n${text}`, "Corefile"));
}

/** A ResponseWriter that keeps what is written. */
function recordingWriter(): { written: Message[]; w: ResponseWriter } {
  const written: Message[] = [];
  const w: ResponseWriter = {
    writeMsg: (m) => {
      written.push(m);
      return Promise.resolve();
    },
  };
  return { written, w };
}

/** A UDP query for www.example.test. A, as the DNS server hands it on. */
function wwwRequest(): DnsRequest {
  return {
    msg: queryMessage("www.example.test.", "A"),
    length: 34,
    proto: "udp",
    remote: { ip: "127.0.0.1", port: 1 },
    local: { ip: "127.0.0.1", port: 53 },
  };
}

Deno.test("parseForward() reads CoreDNS's properties", () => {
  const [f] = parseForward(dispenser(
    "forward example.org 127.0.0.1 127.0.0.2:5353 [::1]:53 {\n" +
      "  except sub.example.org OTHER.example.org\n  force_tcp\n" +
      "  max_fails 3\n  expire 20s\n  max_idle_conns 4\n" +
      "  health_check 1s no_rec domain Example.net\n" +
      "  policy round_robin\n  max_concurrent 100\n  next NXDOMAIN\n}",
  ));
  assert.equal(f!.from, "example.org.");
  assert.deepEqual(f!.ignored, ["sub.example.org.", "other.example.org."]);
  assert.deepEqual(f!.to.map((t) => [t.host, t.port]), [
    ["127.0.0.1", 53],
    ["127.0.0.2", 5353],
    ["::1", 53],
  ]);
  assert.equal(f!.forceTcp, true);
  assert.equal(f!.maxFails, 3);
  assert.equal(f!.expireMs, 20_000);
  assert.equal(f!.maxIdleConns, 4);
  assert.equal(f!.healthCheckMs, 1000);
  assert.equal(f!.hcRecursionDesired, false);
  assert.equal(f!.hcDomain, "example.net.");
  assert.equal(f!.policy, "round_robin");
  assert.equal(f!.maxConcurrent, 100);
  assert.deepEqual(f!.nextRcodes, [RCODE.NXDOMAIN]);
  // Two lines: two forwarders, chained.
  assert.equal(
    parseForward(dispenser("forward a. 127.0.0.1\nforward . 127.0.0.2"))
      .length,
    2,
  );
});

Deno.test("parseForward() rejects bad input naming file and line", async (t) => {
  const files = tempFiles({
    "resolv.conf": "# comment\nnameserver 10.0.0.1\nnameserver ::1\n" +
      "search example.org\nnameserver not-an-ip\n",
  });
  try {
    assert.deepEqual(
      parseTo(`${files.dir}/resolv.conf`).map((t) => [t.host, t.port]),
      [["10.0.0.1", 53], ["::1", 53]],
    );
  } finally {
    files.cleanup();
  }
  const cases: [string, string][] = [
    ["forward", "Corefile:2 - Error during parsing: Wrong argument count"],
    ["forward .", "Corefile:2 - Error during parsing: Wrong argument count"],
    [
      "forward . 127.0.0.1 {\n  bogus\n}",
      "Corefile:3 - Error during parsing: unknown property 'bogus'",
    ],
    [
      "forward . 127.0.0.1 {\n  policy fastest\n}",
      "Corefile:3 - Error during parsing: unknown policy 'fastest'",
    ],
    [
      "forward . 127.0.0.1 {\n  max_fails many\n}",
      'Corefile:3 - Error during parsing: strconv.ParseUint: parsing "many": invalid syntax',
    ],
    [
      "forward . 127.0.0.1 {\n  expire soon\n}",
      'Corefile:3 - Error during parsing: time: invalid duration "soon"',
    ],
    [
      "forward . 127.0.0.1 {\n  max_idle_conns -1\n}",
      "Corefile:3 - Error during parsing: max_idle_conns can't be negative: -1",
    ],
    [
      "forward . 127.0.0.1 {\n  max_idle_conns lots\n}",
      'Corefile:3 - Error during parsing: strconv.Atoi: parsing "lots": invalid syntax',
    ],
    [
      "forward . 127.0.0.1 {\n  health_check -1s\n}",
      "Corefile:3 - Error during parsing: health_check can't be negative: -1s",
    ],
    [
      "forward . 127.0.0.1 {\n  force_tcp yes\n}",
      "Corefile:3 - Error during parsing: Wrong argument count",
    ],
    [
      "forward . 127.0.0.1 {\n  failover NOERROR\n}",
      "Corefile:3 - Error during parsing: NoError cannot be used in failover",
    ],
    [
      "forward . /nonexistent/resolv.conf",
      'Corefile:2 - Error during parsing: not an IP address or file "/nonexistent/resolv.conf": ' +
      'failed to open file "/nonexistent/resolv.conf"',
    ],
    [
      "forward . grpc://127.0.0.1",
      "Corefile:2 - Error during parsing: 'grpc' is not supported as a destination protocol",
    ],
    [
      "forward . 127.0.0.1:99999",
      "Corefile:2 - Error during parsing: invalid port",
    ],
    [
      "forward . tls://127.0.0.1 {\n  tls /nonexistent/ca.pem\n}",
      "Corefile:3 - Error during parsing: Could not load TLS CA: open /nonexistent/ca.pem: no such file or directory",
    ],
    [
      "forward . tls://127.0.0.1 {\n  tls cert.pem key.pem\n}",
      "Corefile:3 - Error during parsing: client certificates for tls:// upstreams are not available",
    ],
    [
      "forward . tls://127.0.0.1",
      "Corefile:2 - Error during parsing: tls://127.0.0.1 needs tls_servername",
    ],
    [
      `forward . ${
        Array.from({ length: 16 }, (_, i) => `10.0.0.${i}`).join(" ")
      }`,
      "Corefile:2 - Error during parsing: more than 15 TOs configured: 16",
    ],
  ];
  for (const [text, message] of cases) {
    await t.step(text, () => {
      assert.throws(
        () => parseForward(dispenser(text)),
        (error: Error) =>
          error.message.startsWith(message) || assert.fail(
            `${error.message}\n  does not start with\n${message}`,
          ),
      );
    });
  }
});

Deno.test({
  name:
    "forward: dig over UDP and TCP through coredeno to unbound; truncated answers come over TCP",
  ignore: !hasUnbound || !hasDig,
  async fn() {
    await using unbound = await startUnbound();
    await using server = await startCoredeno(
      `.:0 {\n  errors\n  forward . 127.0.0.1:${unbound.port}\n}\n` +
        `skip.example.test:0 {\n  forward . 127.0.0.1:${unbound.port} {\n` +
        `    except example.test\n  }\n  whoami\n}\n`,
    );
    const port = server.zonePort();
    assert.equal(
      (await dig(port, "www.example.test", "A", "+short")).trim(),
      "192.0.2.1",
    );
    assert.equal(
      (await dig(port, "www.example.test", "AAAA", "+short", "+tcp")).trim(),
      "2001:db8::1",
    );
    assert.equal(
      (await dig(port, "alias.example.test", "A", "+short")).trim(),
      "www.example.test.", // unbound does not chase CNAMEs in local data
    );
    const nx = await dig(port, "nx.example.test", "A");
    assert.match(nx, /status: NXDOMAIN/);
    assert.match(nx, /example\.test\.\s+\d+\s+IN\s+SOA/);
    // No EDNS0: unbound's UDP answer is cut to TC, so coredeno asks it
    // again over TCP and fits the whole answer to 512 bytes itself: TC, and
    // the records that fit; dig asks again over TCP.
    const udpOnly = await dig(
      port,
      "big.example.test",
      "A",
      "+noedns",
      "+ignore",
    );
    assert.match(udpOnly, /flags: qr aa tc rd ra; QUERY: 1, ANSWER: \d+,/);
    const fitted = Number(/ANSWER: (\d+),/.exec(udpOnly)![1]);
    assert.ok(fitted > 0 && fitted < 40, `${fitted} records`);
    assert.match(udpOnly, /MSG SIZE {2}rcvd: (4\d\d|50\d|51[0-2])\n/);
    const big = await dig(port, "big.example.test", "A", "+noedns");
    assert.match(big, /Truncated, retrying in TCP mode/);
    assert.match(big, /ANSWER: 40,/);
    // `except` hands the name to the next plugin (whoami answers).
    const skipped = await dig(port, "a.skip.example.test", "A");
    assert.match(skipped, /status: NOERROR/);
    assert.match(skipped, /_udp\.a\.skip\.example\.test\./);
  },
});

Deno.test({
  name:
    "forward: an upstream killed mid-test is failed over, marked down by health checks, and used again once back",
  ignore: !hasUnbound || !hasDig,
  async fn() {
    const data = (address: string) =>
      UNBOUND_DATA.map((rr) =>
        rr.startsWith("www.example.test. 300 IN A ")
          ? `www.example.test. 300 IN A ${address}`
          : rr
      );
    let first = await startUnbound({ data: data("192.0.2.1") });
    const second = await startUnbound({ data: data("192.0.2.2") });
    const server = await startCoredeno(
      `.:0 {\n  errors\n  log\n  forward . 127.0.0.1:${first.port} 127.0.0.1:${second.port} {\n` +
        `    policy sequential\n    max_fails 1\n    health_check 100ms\n    read_timeout 300ms\n  }\n}\n`,
    );
    const port = server.zonePort();
    const www = async () =>
      (await dig(port, "www.example.test", "A", "+short", "+time=3")).trim();
    try {
      assert.equal(await www(), "192.0.2.1", "sequential: the first answers");
      await first.kill();
      // The dead one costs a read timeout, then the second answers.
      assert.equal(await www(), "192.0.2.2");
      await waitFor(
        "the first upstream to be marked down",
        () =>
          server.stdout().includes(`Upstream 127.0.0.1:${first.port} is down`),
        10_000,
      );
      // Judged by the server's own time for the query (its log line), not
      // dig's: trying the down upstream would cost its 300 ms read timeout.
      const logged = () =>
        [
          ...server.stdout().matchAll(
            /"A IN www\.example\.test\. udp [^"]*" NOERROR \S+ \d+ ([\d.]+)s$/gm,
          ),
        ].map((m) => Number(m[1]));
      const before = logged().length;
      assert.equal(await www(), "192.0.2.2");
      await waitFor("its log line", () => logged().length > before);
      const seconds = logged()[before]!;
      assert.ok(seconds < 0.3, `a down upstream is skipped (${seconds} s)`);

      first = await startUnbound({ data: data("192.0.2.1"), port: first.port });
      await waitFor(
        "the first upstream to be healthy again",
        () =>
          server.stdout().includes(
            `Upstream 127.0.0.1:${first.port} is healthy again`,
          ),
        10_000,
      );
      assert.equal(await www(), "192.0.2.1", "back in first place");

      // All down: SERVFAIL, a logged error, and the server keeps serving.
      await first.kill();
      await second.kill();
      const all = await dig(port, "www.example.test", "A", "+time=5");
      assert.match(all, /status: SERVFAIL/);
      await waitFor(
        "the error line",
        () =>
          /\[ERROR\] plugin\/errors: 2 www\.example\.test\. A: /.test(
            server.stdout(),
          ),
        5000,
      );
      first = await startUnbound({ data: data("192.0.2.1"), port: first.port });
      await waitFor("an answer again", async () => await www() === "192.0.2.1");
    } finally {
      await server.stop();
      server.cleanup();
      await first.stop();
      await second.stop();
    }
  },
});

Deno.test({
  name: "Upstream reuses TCP connections until idle for expire",
  ignore: !hasUnbound,
  async fn() {
    const unbound = await startUnbound();
    const upstream = new Upstream("127.0.0.1", unbound.port, { expireMs: 300 });
    const dials: boolean[] = [];
    upstream.onDial = (_proto, cached) => dials.push(cached);
    try {
      for (let i = 0; i < 5; i++) {
        const { reply, proto } = await upstream.exchange(
          queryMessage("www.example.test.", "A", { id: 100 + i }),
          "tcp",
        );
        assert.equal(proto, "tcp");
        assert.equal(reply.id, 100 + i, "the reply carries the query's id");
        assert.equal(reply.answer[0]?.data, "192.0.2.1");
      }
      assert.deepEqual(dials, [false, true, true, true, true]);
      await new Promise((r) => setTimeout(r, 400));
      await upstream.exchange(queryMessage("www.example.test.", "A"), "tcp");
      assert.equal(dials.at(-1), false, "an expired connection is not reused");
      // Unbound gone: the cached connection is dead and no new one opens.
      await unbound.kill();
      await assert.rejects(
        upstream.exchange(queryMessage("www.example.test.", "A"), "tcp"),
      );
    } finally {
      upstream.stop();
      await unbound.stop();
    }
  },
});

Deno.test({
  name:
    "forward: a cached TCP connection the upstream closed is replaced, not an error",
  ignore: !hasUnbound,
  async fn() {
    // unbound closes idle TCP connections after 200 ms.
    const unbound = await startUnbound({ server: ["tcp-idle-timeout: 200"] });
    const upstream = new Upstream("127.0.0.1", unbound.port, {
      expireMs: 10_000,
    });
    try {
      await upstream.exchange(queryMessage("www.example.test.", "A"), "tcp");
      await new Promise((r) => setTimeout(r, 600));
      await assert.rejects(
        upstream.exchange(queryMessage("www.example.test.", "A"), "tcp"),
        CachedClosedError,
      );
    } finally {
      upstream.stop();
    }
    // The forward handler retries on a fresh connection.
    const [config] = parseForward(dispenser(
      `forward . 127.0.0.1:${unbound.port} {\n  force_tcp\n}`,
    ));
    const f = new Forward(config!);
    const { written, w } = recordingWriter();
    try {
      assert.deepEqual(await f.serveDNS(w, wwwRequest()), [RCODE.NOERROR]);
      await new Promise((r) => setTimeout(r, 600));
      assert.deepEqual(await f.serveDNS(w, wwwRequest()), [RCODE.NOERROR]);
      assert.deepEqual(written.map((m) => m.answer[0]?.data), [
        "192.0.2.1",
        "192.0.2.1",
      ]);
    } finally {
      f.stop();
      await unbound.stop();
    }
  },
});

Deno.test("forward: max_concurrent refuses the query over the limit", async () => {
  // An upstream that never answers keeps the first query in flight.
  const silent = Deno.listenDatagram({
    hostname: "127.0.0.1",
    port: 0,
    transport: "udp",
  });
  const silentPort = (silent.addr as Deno.NetAddr).port;
  const [config] = parseForward(dispenser(
    `forward . 127.0.0.1:${silentPort} {\n  max_concurrent 1\n  max_fails 0\n  read_timeout 200ms\n}`,
  ));
  const f = new Forward(config!);
  const { written, w } = recordingWriter();
  try {
    const pending = f.serveDNS(w, wwwRequest());
    const [rcode, error] = await f.serveDNS(w, wwwRequest());
    assert.equal(rcode, RCODE.REFUSED);
    assert.equal(error?.message, "concurrent queries exceeded maximum 1");
    const [failed, why] = await pending;
    assert.equal(failed, RCODE.SERVFAIL);
    assert.match(why!.message, /i\/o timeout/);
    assert.equal(written.length, 0);
  } finally {
    f.stop();
    silent.close();
  }
});
