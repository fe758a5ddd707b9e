/**
 * *cache*'s plain hits (answered off the receive buffer) against its
 * general path: for every answer kind the next handler gives (addresses,
 * CNAME chains, MX and SOA names that compress, denials, RRSIGs), every
 * case of the name, with and without EDNS0, DO, CD and AD, a hit written
 * directly is byte for byte what `serve` writes; misses, stale entries,
 * prefetching and replies that need truncating are left to `serve`.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Dispenser } from "../../lib/corefile/mod.ts";
import { tokenize } from "../../lib/corefile/lexer.ts";
import {
  chainLinks,
  type Endpoint,
  type Handler,
} from "../../lib/dns/handler.ts";
import { DnsServer } from "../../lib/dns/server.ts";
import {
  decodeMessage,
  encodeMessage,
  RCODE,
  replyTo,
  type Rr,
} from "../../lib/dns/wire.ts";
import { Cache, parseCache } from "../../plugins/cache/mod.ts";
import { queryMessage } from "../dns/_dns.ts";

const SOA: Rr = {
  type: "SOA",
  name: "example.org.",
  ttl: 300,
  data: {
    mname: "ns.example.org.",
    rname: "admin.example.org.",
    serial: 1,
    refresh: 3600,
    retry: 600,
    expire: 86400,
    minimum: 60,
  },
};

/** What the next handler answers, by lower-case name and type. */
const ANSWERS: Record<string, { rcode?: number; answer?: Rr[]; ns?: Rr[] }> = {
  "www.example.org./A": {
    answer: [1, 2, 3, 4].map((i) => ({
      type: "A",
      name: "www.Example.org.",
      ttl: 300,
      data: `192.0.2.${i}`,
    })),
  },
  "www.example.org./AAAA": {
    answer: [{
      type: "AAAA",
      name: "www.example.org.",
      ttl: 300,
      data: "2001:db8::1",
    }],
  },
  "alias.example.org./A": {
    answer: [
      {
        type: "CNAME",
        name: "alias.example.org.",
        ttl: 300,
        data: "www.example.org.",
      },
      { type: "A", name: "www.example.org.", ttl: 300, data: "192.0.2.1" },
    ],
  },
  "example.org./MX": {
    answer: [{
      type: "MX",
      name: "example.org.",
      ttl: 300,
      data: { preference: 10, exchange: "mail.example.org." },
    }],
    ns: [{
      type: "NS",
      name: "example.org.",
      ttl: 300,
      data: "ns.example.org.",
    }],
  },
  "signed.example.org./A": {
    answer: [
      { type: "A", name: "signed.example.org.", ttl: 300, data: "192.0.2.9" },
      {
        type: "RRSIG",
        name: "signed.example.org.",
        ttl: 300,
        data: {
          typeCovered: "A",
          algorithm: 13,
          labels: 3,
          originalTTL: 300,
          expiration: 2000000000,
          inception: 1000000000,
          keyTag: 1234,
          signersName: "example.org.",
          signature: Buffer.alloc(64, 1),
        },
      },
    ],
  },
  "nx.example.org./A": { rcode: RCODE.NXDOMAIN, ns: [SOA] },
  "www.example.org./TXT": { ns: [SOA] },
  "big.example.org./TXT": {
    answer: Array.from({ length: 30 }, (_, i) => ({
      type: "TXT",
      name: "big.example.org.",
      ttl: 300,
      data: [`${i}`.padEnd(40, "x")],
    })),
  },
};

/** The next handler: the table's answer, RA set, AD for the signed name. */
const next: Handler = {
  name: "next",
  async serveDNS(w, r) {
    const q = r.msg.question[0]!;
    const a = ANSWERS[`${q.name.toLowerCase()}/${q.type}`] ??
      { rcode: RCODE.NXDOMAIN, ns: [SOA] };
    const reply = replyTo(r.msg, a.rcode ?? RCODE.NOERROR);
    reply.recursionAvailable = true;
    reply.authenticatedData = q.name.toLowerCase().startsWith("signed.");
    reply.answer = a.answer ?? [];
    reply.ns = a.ns ?? [];
    await w.writeMsg(reply);
    return [RCODE.NOERROR];
  },
};

function cacheOf(text: string, clock: { now: number }): Cache {
  const cache = new Cache(
    parseCache(
      new Dispenser("Corefile", tokenize(`\n${text}`, "Corefile")),
      ["dns://.:53"],
    ),
  );
  cache.now = () => clock.now;
  return cache;
}

function serverOf(cache: Cache): DnsServer {
  return new DnsServer(
    "dns://:53",
    new Map([[
      ".",
      chainLinks([(n) => {
        cache.next = n;
        return cache;
      }, () => next]),
    ]]),
  );
}

const REMOTE: Endpoint = { ip: "127.0.0.1", port: 40000 };

/** What `serve` sends for `bytes`. */
async function general(
  server: DnsServer,
  bytes: Uint8Array,
): Promise<Uint8Array> {
  let sent: Uint8Array | undefined;
  await server.serve(bytes.slice(), {
    proto: "udp",
    remote: REMOTE,
    local: { ip: "127.0.0.1", port: 53 },
    send(reply) {
      sent = reply;
      return Promise.resolve();
    },
  });
  return sent!;
}

/** Every case of an ASCII name's letters, a few of them. */
function cases(name: string): string[] {
  return [
    name,
    name.toUpperCase(),
    name.replace(/[aeiou]/g, (c) => c.toUpperCase()),
  ];
}

Deno.test("cache: a plain hit is byte for byte the general path's hit", async () => {
  const clock = { now: 1_000_000 };
  const cache = cacheOf("cache 3600", clock);
  const server = serverOf(cache);
  let plain = 0;
  let total = 0;
  for (const key of Object.keys(ANSWERS)) {
    const [name, type] = key.split("/") as [string, string];
    for (const edns of [undefined, 512, 1232, 4096]) {
      for (const doBit of edns === undefined ? [false] : [false, true]) {
        for (const flags of [0x0100, 0x0110, 0x0120, 0x0000]) {
          const query = queryMessage(name, type, {
            id: 0x4242,
            ...(edns === undefined ? {} : {
              edns: { udpSize: edns, version: 0, do: doBit, options: [] },
            }),
          });
          query.recursionDesired = (flags & 0x0100) !== 0;
          query.checkingDisabled = (flags & 0x0010) !== 0;
          query.authenticatedData = (flags & 0x0020) !== 0;
          await general(server, encodeMessage(query)); // fills the cache
          clock.now += 1100; // TTLs count down
          for (const asked of cases(name)) {
            total++;
            const bytes = encodeMessage({
              ...query,
              question: [{ ...query.question[0]!, name: asked }],
            });
            const direct = server.answerPlain(bytes, "udp", REMOTE);
            const expected = await general(server, bytes);
            if (direct === undefined) {
              assert.ok(
                (expected[2]! & 0x02) !== 0,
                `${asked} ${type}: only a reply that needs truncating is left`,
              );
              continue;
            }
            plain++;
            assert.deepEqual(direct, expected, `${asked} ${type} ${edns}`);
          }
        }
      }
    }
  }
  assert.ok(plain > total * 0.8, `${plain} of ${total} plain`);
  // The TTL counted down: 300 less the seconds the clock moved.
  const again = server.answerPlain(
    encodeMessage(queryMessage("www.example.org.", "A")),
    "udp",
    REMOTE,
  );
  const ttl = decodeMessage(again!).answer[0]!.ttl!;
  assert.ok(ttl < 300 && ttl > 0, `${ttl}`);
});

Deno.test("cache: misses, stale entries and prefetching take the general path", async () => {
  const clock = { now: 1_000_000 };
  const query = encodeMessage(queryMessage("www.example.org.", "A"));
  const stale = cacheOf("cache 3600 {\n  serve_stale\n}", clock);
  const server = serverOf(stale);
  assert.equal(server.answerPlain(query, "udp", REMOTE), undefined, "a miss");
  await general(server, query);
  assert.ok(server.answerPlain(query, "udp", REMOTE), "a hit");
  clock.now += 301_000;
  assert.equal(server.answerPlain(query, "udp", REMOTE), undefined, "stale");
  const served = decodeMessage(await general(server, query));
  assert.equal(served.answer[0]?.ttl, 0, "served stale by serveDNS");

  const prefetching = serverOf(cacheOf("cache 3600 {\n  prefetch 2\n}", clock));
  await general(prefetching, query);
  assert.equal(prefetching.answerPlain(query, "udp", REMOTE), undefined);
});
