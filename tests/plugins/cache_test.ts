/**
 * *cache*: setup errors, the cache in process against a scripted next
 * handler (TTLs counting down on a moved clock, capacity eviction, keys by
 * case, class and DO), and coredeno with forward to a real unbound that is
 * killed: answers, RFC 2308 denials and stale entries keep coming from the
 * cache, as dig sees them.
 */

import assert from "node:assert/strict";
import { Dispenser } from "../../lib/corefile/mod.ts";
import { tokenize } from "../../lib/corefile/lexer.ts";
import type {
  DnsRequest,
  Handler,
  ResponseWriter,
} from "../../lib/dns/handler.ts";
import { type Message, RCODE, replyTo } from "../../lib/dns/wire.ts";
import { Cache, parseCache } from "../../plugins/cache/mod.ts";
import { startCoredeno } from "../_helpers.ts";
import { dig, digAvailable, queryMessage } from "../dns/_dns.ts";
import { startUnbound, unboundAvailable } from "../dns/_unbound.ts";

const hasUnbound = unboundAvailable();
const hasDig = digAvailable();

function dispenser(text: string): Dispenser {
  return new Dispenser("Corefile", tokenize(`\n${text}`, "Corefile"));
}

Deno.test("parseCache() reads TTL, zones and properties", () => {
  const c = parseCache(
    dispenser(
      "cache 30 example.org 10.0.0.0/24 {\n  success 100 60 2\n  denial 50 20\n" +
        "  prefetch 3 2m 20%\n  serve_stale 10m verify\n  servfail 2s\n}",
    ),
    ["dns://.:53"],
  );
  assert.deepEqual(c.zones, ["example.org.", "0.0.10.in-addr.arpa."]);
  assert.equal(c.pcap, 100);
  assert.equal(c.pttl, 60);
  assert.equal(c.minpttl, 2);
  assert.equal(c.ncap, 50);
  assert.equal(c.nttl, 20);
  assert.equal(c.prefetch, 3);
  assert.equal(c.prefetchWindowMs, 120_000);
  assert.equal(c.percentage, 20);
  assert.equal(c.staleUpTo, 600);
  assert.equal(c.verifyStale, true);
  assert.equal(c.failttl, 2);
  // Without ZONES, the server block's.
  assert.deepEqual(
    parseCache(dispenser("cache"), ["dns://example.net.:53"]).zones,
    [
      "example.net.",
    ],
  );
});

Deno.test("parseCache() rejects bad input naming file and line", async (t) => {
  const cases: [string, string][] = [
    [
      "cache 0",
      "Corefile:2 - Error during parsing: cache TTL can not be zero or negative: 0",
    ],
    [
      "cache -3",
      "Corefile:2 - Error during parsing: cache TTL can not be zero or negative: -3",
    ],
    [
      "cache {\n  success many\n}",
      'Corefile:3 - Error during parsing: strconv.Atoi: parsing "many": invalid syntax',
    ],
    [
      "cache {\n  denial 10 0\n}",
      "Corefile:3 - Error during parsing: cache TTL can not be zero or negative: 0",
    ],
    [
      "cache {\n  success\n}",
      "Corefile:3 - Error during parsing: Wrong argument count",
    ],
    [
      "cache {\n  prefetch 1 1m 5%\n}",
      "Corefile:3 - Error during parsing: percentage should fall in range [10, 90]: 5",
    ],
    [
      "cache {\n  prefetch 1 soon\n}",
      'Corefile:3 - Error during parsing: time: invalid duration "soon"',
    ],
    [
      "cache {\n  serve_stale 1h sometimes\n}",
      "Corefile:3 - Error during parsing: invalid value for serve_stale refresh mode: sometimes",
    ],
    [
      "cache {\n  servfail 10m\n}",
      "Corefile:3 - Error during parsing: caching SERVFAIL responses over 5 minutes is not permitted",
    ],
    [
      "cache {\n  bogus\n}",
      "Corefile:3 - Error during parsing: unknown property 'bogus'",
    ],
    ["cache\ncache", "this plugin can only be used once per Server Block"],
  ];
  for (const [text, message] of cases) {
    await t.step(text, () => {
      assert.throws(
        () => parseCache(dispenser(text), ["dns://.:53"]),
        (error: Error) =>
          error.message.startsWith(message) ||
          assert.fail(`${error.message}\n  does not start with\n${message}`),
      );
    });
  }
});

/** A next handler that answers from a script and counts what it was asked. */
function scripted(
  answer: (q: Message) => Message,
): Handler & { asked: string[] } {
  const asked: string[] = [];
  return {
    name: "script",
    asked,
    async serveDNS(w, r) {
      const q = r.msg.question[0]!;
      asked.push(
        `${q.name} ${q.type} ${q.class}${r.msg.edns?.do ? " do" : ""}`,
      );
      await w.writeMsg(answer(r.msg));
      return [RCODE.NOERROR];
    },
  };
}

function request(
  name: string,
  type = "A",
  options: { klass?: string; doBit?: boolean } = {},
): DnsRequest {
  return {
    msg: queryMessage(name, type, {
      klass: options.klass ?? "IN",
      ...(options.doBit
        ? { edns: { udpSize: 1232, version: 0, do: true, options: [] } }
        : {}),
    }),
    length: 40,
    proto: "udp",
    remote: { ip: "127.0.0.1", port: 1 },
    local: { ip: "127.0.0.1", port: 53 },
    server: "dns://:53",
  };
}

async function ask(cache: Cache, r: DnsRequest): Promise<Message> {
  let reply: Message | undefined;
  const w: ResponseWriter = {
    writeMsg: (m) => {
      reply = m;
      return Promise.resolve();
    },
  };
  await cache.serveDNS(w, r);
  return reply!;
}

function addressAnswer(address: string, ttl = 300) {
  return (q: Message): Message => {
    const m = replyTo(q);
    m.answer = [{
      name: q.question[0]!.name,
      type: "A",
      class: q.question[0]!.class,
      ttl,
      data: address,
    }];
    return m;
  };
}

Deno.test("cache: TTLs count down, entries expire, and negative answers last the SOA MINIMUM (RFC 2308)", async () => {
  let clock = 1_000_000;
  const next = scripted((q) => {
    if (q.question[0]!.name.startsWith("nx")) {
      const m = replyTo(q, RCODE.NXDOMAIN);
      m.ns = [{
        name: "example.org.",
        type: "SOA",
        class: "IN",
        ttl: 3600,
        data: {
          mname: "ns.example.org",
          rname: "admin.example.org",
          serial: 1,
          refresh: 1,
          retry: 1,
          expire: 1,
          minimum: 20,
        },
      }];
      return m;
    }
    return addressAnswer("192.0.2.1", 300)(q);
  });
  const cache = new Cache(parseCache(dispenser("cache 60"), ["dns://.:53"]));
  cache.next = next;
  cache.now = () => clock;
  assert.equal(
    (await ask(cache, request("www.example.org."))).answer[0]!.ttl,
    60,
    "capped at the cache's TTL",
  );
  clock += 15_000;
  const hit = await ask(cache, request("www.example.org."));
  assert.equal(hit.answer[0]!.ttl, 45, "15 s later");
  assert.equal(hit.authoritative, true);
  assert.equal(next.asked.length, 1);
  clock += 46_000;
  await ask(cache, request("www.example.org."));
  assert.equal(next.asked.length, 2, "expired: asked again");

  const nx = await ask(cache, request("nx.example.org."));
  assert.equal(nx.rcode, RCODE.NXDOMAIN);
  assert.equal(nx.ns[0]!.ttl, 20, "min(SOA TTL, MINIMUM)");
  clock += 19_000;
  assert.equal((await ask(cache, request("nx.example.org."))).ns[0]!.ttl, 1);
  assert.equal(next.asked.length, 3);
  clock += 2_000;
  await ask(cache, request("nx.example.org."));
  assert.equal(next.asked.length, 4);
});

Deno.test("cache: no poisoning across case, class or DO; capacity evicts", async () => {
  const next = scripted((q) =>
    addressAnswer(q.question[0]!.class === "IN" ? "192.0.2.1" : "192.0.2.99")(q)
  );
  const cache = new Cache(
    parseCache(dispenser("cache {\n  success 2\n}"), ["dns://.:53"]),
  );
  cache.next = next;
  await ask(cache, request("WWW.example.org."));
  const lower = await ask(cache, request("www.EXAMPLE.org."));
  assert.equal(next.asked.length, 1, "case does not make a new entry");
  assert.equal(
    lower.question[0]!.name,
    "www.EXAMPLE.org.",
    "the question as asked",
  );
  const chaos = await ask(
    cache,
    request("www.example.org.", "A", { klass: "CH" }),
  );
  assert.equal(chaos.answer[0]!.data, "192.0.2.99");
  assert.equal(next.asked.length, 2, "another class is another entry");
  await ask(cache, request("www.example.org.", "A", { doBit: true }));
  assert.equal(next.asked.length, 3, "DO is part of the key");
  assert.equal(
    (await ask(cache, request("www.example.org."))).answer[0]!.data,
    "192.0.2.1",
  );
  assert.equal(cache.pcache.size, 2, "capacity 2");
  assert.equal(next.asked.length, 4, "the oldest IN entry was evicted");
});

Deno.test({
  name:
    "cache: coredeno with forward to unbound answers from the cache after unbound is killed (dig)",
  ignore: !hasUnbound || !hasDig,
  async fn() {
    await using unbound = await startUnbound();
    await using server = await startCoredeno(
      `.:0 {\n  cache 30 {\n    serve_stale 1h\n  }\n  forward . 127.0.0.1:${unbound.port} {\n` +
        `    max_fails 0\n    read_timeout 300ms\n  }\n}\n`,
    );
    const port = server.zonePort();
    const ttl = (text: string, type: string) =>
      Number(new RegExp(`\\s(\\d+)\\s+IN\\s+${type}\\s`).exec(text)?.[1]);
    const first = await dig(
      port,
      "www.example.test",
      "A",
      "+noall",
      "+answer",
    );
    assert.equal(ttl(first, "A"), 30, "min(300, cache 30)");
    const nx = await dig(port, "nx.example.test", "A");
    assert.match(nx, /status: NXDOMAIN/);
    assert.equal(
      ttl(nx, "SOA"),
      30,
      "SOA MINIMUM 30 (RFC 2308), within denial's TTL",
    );
    await dig(port, "short.example.test", "A");
    await new Promise((r) => setTimeout(r, 2100));
    await unbound.kill();
    const later = await dig(
      port,
      "WWW.Example.TEST",
      "A",
      "+noall",
      "+answer",
    );
    assert.match(
      later,
      /\s192\.0\.2\.1$/m,
      "a name in other case is the same entry",
    );
    assert.ok(ttl(later, "A") <= 28, `counting down: ${later}`);
    assert.match(await dig(port, "nx.example.test", "A"), /status: NXDOMAIN/);
    // short.example.test has TTL 5: cached 5 s (the minimum), then served stale with TTL 0.
    await new Promise((r) => setTimeout(r, 3500));
    const stale = await dig(
      port,
      "short.example.test",
      "A",
      "+noall",
      "+answer",
    );
    assert.equal(ttl(stale, "A"), 0, `stale: ${stale}`);
    // DO is another key: nothing cached for it, and unbound is gone.
    assert.match(
      await dig(port, "www.example.test", "A", "+dnssec"),
      /status: SERVFAIL/,
    );
  },
});

Deno.test("cache: prefetch refreshes a popular entry before it expires; serve_stale verify asks first, stale only when that fails", async () => {
  let clock = 1_000_000;
  let upstreamUp = true;
  let address = "192.0.2.1";
  const next = scripted((q) => {
    if (!upstreamUp) return replyTo(q, RCODE.SERVFAIL);
    return addressAnswer(address, 100)(q);
  });
  const prefetching = new Cache(
    parseCache(dispenser("cache {\n  prefetch 2 2m 20%\n}"), ["dns://.:53"]),
  );
  prefetching.next = next;
  prefetching.now = () => clock;
  await ask(prefetching, request("www.example.org.")); // stored, TTL 100
  clock += 50_000;
  await ask(prefetching, request("www.example.org.")); // hit 1, 50 s left
  assert.equal(next.asked.length, 1);
  address = "192.0.2.2";
  clock += 35_000; // 15 s left: within 20% of 100
  const hit = await ask(prefetching, request("www.example.org.")); // hit 2: prefetch
  assert.equal(
    hit.answer[0]!.data,
    "192.0.2.1",
    "the client gets the entry at hand",
  );
  await new Promise((r) => setTimeout(r, 10)); // the background refresh
  assert.equal(next.asked.length, 2, "refreshed in the background");
  const fresh = await ask(prefetching, request("www.example.org."));
  assert.equal(fresh.answer[0]!.data, "192.0.2.2");
  assert.equal(fresh.answer[0]!.ttl, 100);

  const verifying = new Cache(
    parseCache(dispenser("cache {\n  serve_stale 1h verify\n}"), [
      "dns://.:53",
    ]),
  );
  verifying.next = next;
  verifying.now = () => clock;
  address = "192.0.2.3";
  await ask(verifying, request("v.example.org."));
  clock += 101_000; // expired
  address = "192.0.2.4";
  const verified = await ask(verifying, request("v.example.org."));
  assert.equal(
    verified.answer[0]!.data,
    "192.0.2.4",
    "verify: the refresh answers",
  );
  clock += 101_000;
  upstreamUp = false;
  const stale = await ask(verifying, request("v.example.org."));
  assert.equal(stale.rcode, RCODE.NOERROR);
  assert.equal(stale.answer[0]!.data, "192.0.2.4", "the refresh failed: stale");
  assert.equal(stale.answer[0]!.ttl, 0);
});
