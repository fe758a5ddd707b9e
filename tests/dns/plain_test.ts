/**
 * The plain-query path (lib/dns/plain.ts) against the general one: on
 * generated queries, whenever the server answers a query directly, the
 * reply is byte for byte what `serve` (dns-packet decode, the chain, the
 * scrub, the encoder) sends; what it leaves alone (compression pointers,
 * several questions, EDNS0 options or versions, odd bytes in names,
 * malformed input, chains with plugins in front of whoami) still gets the
 * general path's answer or drop.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  chainLinks,
  type Endpoint,
  type Handler,
  type Link,
} from "../../lib/dns/handler.ts";
import { readPlainQuery } from "../../lib/dns/plain.ts";
import { DnsServer } from "../../lib/dns/server.ts";
import { decodeMessage, RCODE } from "../../lib/dns/wire.ts";
import { whoamiHandler } from "../../plugins/whoami/mod.ts";
import { freePort, startCoredeno } from "../_helpers.ts";
import { queryMessage, udpQuery } from "./_dns.ts";

const whoami: Link = () => whoamiHandler();
/** A plugin in front of whoami (as log or errors would be), counting queries. */
let passedOn = 0;
const inFront: Link = (next) => ({
  name: "front",
  serveDNS(w, r) {
    passedOn++;
    return next!.serveDNS(w, r);
  },
});

function serverOf(zones: [string, Handler | undefined][]): DnsServer {
  return new DnsServer("dns://:53", new Map(zones));
}

const ROOT_ONLY = serverOf([[".", chainLinks([whoami])]]);
const ZONED = serverOf([
  [".", chainLinks([whoami])],
  ["example.org.", chainLinks([whoami])],
  ["refused.org.", undefined],
  ["logged.org.", chainLinks([inFront, whoami])],
]);
const LOCAL: Endpoint = { ip: "127.0.0.1", port: 53 };

/** What `serve` sends for `bytes` (undefined: dropped). */
async function general(
  server: DnsServer,
  bytes: Uint8Array,
  proto: "udp" | "tcp",
  remote: Endpoint,
): Promise<Uint8Array | undefined> {
  let sent: Uint8Array | undefined;
  await server.serve(bytes.slice(), {
    proto,
    remote,
    local: LOCAL,
    send(reply) {
      assert.equal(sent, undefined, "one reply");
      sent = reply;
      return Promise.resolve();
    },
  });
  return sent;
}

/** The plain answer for `bytes`, checked against `serve`'s; undefined when it left it. */
async function agree(
  server: DnsServer,
  bytes: Uint8Array,
  proto: "udp" | "tcp" = "udp",
  remote: Endpoint = { ip: "127.0.0.1", port: 40000 },
): Promise<Uint8Array | undefined> {
  const plain = server.answerPlain(bytes, proto, remote);
  const expected = await general(server, bytes, proto, remote);
  if (plain !== undefined) assert.deepEqual(plain, expected);
  return plain;
}

function u16(n: number): number[] {
  return [n >> 8 & 0xff, n & 0xff];
}

function wireName(labels: readonly (readonly number[])[]): number[] {
  return [...labels.flatMap((l) => [l.length, ...l]), 0];
}

function ascii(text: string): number[] {
  return [...new TextEncoder().encode(text)];
}

interface QueryParts {
  id?: number;
  flags?: number;
  qdcount?: number;
  arcount?: number;
  name?: number[];
  type?: number;
  klass?: number;
  /** Bytes after the question (an OPT record, junk). */
  tail?: readonly number[];
}

function query(p: QueryParts = {}): Uint8Array {
  const {
    id = 0x1234,
    flags = 0x0100,
    qdcount = 1,
    name = wireName([ascii("host1"), ascii("Example"), ascii("org")]),
    type = 1,
    klass = 1,
    tail = [],
  } = p;
  const arcount = p.arcount ?? (tail.length > 0 ? 1 : 0);
  return new Uint8Array([
    ...u16(id),
    ...u16(flags),
    ...u16(qdcount),
    0,
    0,
    0,
    0,
    ...u16(arcount),
    ...name,
    ...u16(type),
    ...u16(klass),
    ...tail,
  ]);
}

function opt(
  {
    udpSize = 1232,
    version = 0,
    flags = 0,
    options = [] as readonly number[],
  } = {},
): number[] {
  return [
    0,
    ...u16(41),
    ...u16(udpSize),
    0,
    version,
    ...u16(flags),
    ...u16(options.length),
    ...options,
  ];
}

const label = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[!-~]{1,12}$/).map(ascii) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 63 }) },
).map((l) => [...l]);
const suffix = fc.constantFrom(
  [],
  [ascii("org")],
  [ascii("example"), ascii("org")],
  [ascii("EXAMPLE"), ascii("Org")],
  [ascii("refused"), ascii("org")],
  [ascii("logged"), ascii("ORG")],
);
const name = fc.tuple(fc.array(label, { maxLength: 6 }), suffix).map((
  [labels, tail],
) => wireName([...labels, ...tail]));
const remote = fc.record({
  ip: fc.oneof(fc.ipV4(), fc.ipV6()),
  port: fc.nat(65535),
});
const tail: fc.Arbitrary<readonly number[]> = fc.oneof(
  { weight: 3, arbitrary: fc.constant([]) },
  {
    weight: 3,
    arbitrary: fc.record({
      udpSize: fc.oneof(fc.nat(65535), fc.constantFrom(0, 512, 1232, 4096)),
      version: fc.oneof(
        { weight: 5, arbitrary: fc.constant(0) },
        { weight: 1, arbitrary: fc.nat(255) },
      ),
      flags: fc.nat(65535),
      options: fc.oneof(
        { weight: 5, arbitrary: fc.constant([]) },
        {
          weight: 1,
          arbitrary: fc.constant([0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]),
        },
        { weight: 1, arbitrary: fc.constant([0, 3, 0, 0]) },
      ),
    }).map(opt),
  },
  { weight: 1, arbitrary: fc.array(fc.nat(255), { maxLength: 20 }) },
);
const generated = fc.record({
  id: fc.nat(65535),
  // Mostly QUERY with QR clear; now and then anything.
  flags: fc.oneof(
    { weight: 5, arbitrary: fc.nat(0x07ff) },
    { weight: 1, arbitrary: fc.nat(65535) },
  ),
  name,
  type: fc.oneof(fc.constantFrom(1, 28, 43, 255), fc.nat(65535)),
  klass: fc.oneof(
    { weight: 5, arbitrary: fc.constant(1) },
    { weight: 1, arbitrary: fc.nat(65535) },
  ),
  tail,
});

Deno.test("answerPlain() replies byte for byte as serve() on generated queries", async () => {
  let answered = 0;
  await fc.assert(
    fc.asyncProperty(
      generated,
      remote,
      fc.constantFrom("udp" as const, "tcp" as const),
      fc.boolean(),
      async (parts, client, proto, zoned) => {
        const bytes = query(parts);
        const plain = await agree(
          zoned ? ZONED : ROOT_ONLY,
          bytes,
          proto,
          client,
        );
        if (plain !== undefined) answered++;
      },
    ),
    { numRuns: 3000 },
  );
  assert.ok(answered > 600, `only ${answered} answered directly`);
});

Deno.test("answerPlain() answers the common queries (names, EDNS0, UDP and TCP, IPv4 and IPv6)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.domain(),
      fc.boolean(),
      remote,
      fc.constantFrom("udp" as const, "tcp" as const),
      async (domain, edns, client, proto) => {
        const bytes = query({
          name: wireName(domain.split(".").map(ascii)),
          tail: edns ? opt({ udpSize: 4096, flags: 0x8000 }) : [],
        });
        assert.ok(await agree(ROOT_ONLY, bytes, proto, client), domain);
      },
    ),
  );
  // The root name: its SRV owner is `_udp.`.
  const root = await agree(ROOT_ONLY, query({ name: [0] }));
  assert.deepEqual(decodeMessage(root!).extra.map((rr) => rr.name), [
    ".",
    "_udp.",
  ]);
});

Deno.test("answerPlain() leaves unusual and malformed queries to serve()", async (t) => {
  const tooLong = wireName(
    Array.from({ length: 5 }, () => Array(50).fill(0x61)),
  );
  const cases: {
    name: string;
    bytes: Uint8Array;
    /** The general path's rcode; undefined: dropped. */
    rcode: number | undefined;
  }[] = [
    {
      name: "a compression pointer in the question",
      bytes: query({ name: [0xc0, 0x0c] }),
      rcode: RCODE.FORMERR,
    },
    {
      name: "a pointer after a label",
      bytes: query({ name: [3, ...ascii("www"), 0xc0, 0x0c] }),
      rcode: RCODE.FORMERR,
    },
    {
      name: "two questions",
      bytes: query({
        qdcount: 2,
        tail: [0, 0, 1, 0, 1],
        arcount: 0,
      }),
      rcode: RCODE.FORMERR,
    },
    { name: "no question", bytes: query({ qdcount: 0 }), rcode: RCODE.FORMERR },
    {
      name: "a truncated question",
      bytes: query().subarray(0, 20),
      rcode: RCODE.FORMERR,
    },
    {
      name: "a name past 254 bytes",
      bytes: query({ name: tooLong }),
      rcode: RCODE.FORMERR,
    },
    {
      name: "a label with a reserved type (0x40)",
      bytes: query({ name: [0x41, 0x61, 0] }),
      rcode: RCODE.FORMERR,
    },
    { name: "a response", bytes: query({ flags: 0x8100 }), rcode: undefined },
    {
      name: "EDNS0 with options",
      bytes: query({
        tail: opt({ options: [0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8] }),
      }),
      rcode: RCODE.NOERROR,
    },
    {
      name: "EDNS version 1",
      bytes: query({ tail: opt({ version: 1 }) }),
      rcode: RCODE.BADVERS,
    },
    {
      name: "an OPT record not owned by the root",
      bytes: query({ tail: [1, 0x61, ...opt()] }),
      rcode: RCODE.NOERROR,
    },
    {
      name: "an additional A record",
      bytes: query({ tail: [0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4] }),
      rcode: RCODE.NOERROR,
    },
    {
      name: "bytes after the question",
      bytes: query({ tail: [0, 0], arcount: 0 }),
      rcode: RCODE.NOERROR,
    },
    {
      name: "a dot inside a label",
      bytes: query({ name: wireName([ascii("a.b"), ascii("org")]) }),
      rcode: RCODE.NOERROR,
    },
    {
      name: "a space inside a label",
      bytes: query({ name: wireName([ascii("a b"), ascii("org")]) }),
      rcode: RCODE.NOERROR,
    },
    {
      name: "a byte past ASCII",
      bytes: query({ name: wireName([[0xc3, 0xa9], ascii("org")]) }),
      rcode: RCODE.NOERROR,
    },
    { name: "class CH", bytes: query({ klass: 3 }), rcode: RCODE.REFUSED },
    { name: "a NOTIFY", bytes: query({ flags: 0x2000 }), rcode: RCODE.NOERROR },
    { name: "an UPDATE", bytes: query({ flags: 0x2800 }), rcode: RCODE.NOTIMP },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const remote = { ip: "127.0.0.1", port: 40000 };
      assert.equal(ROOT_ONLY.answerPlain(c.bytes, "udp", remote), undefined);
      assert.equal(readPlainQuery(c.bytes), undefined);
      const reply = await general(ROOT_ONLY, c.bytes, "udp", remote);
      if (c.rcode === undefined) {
        assert.equal(reply, undefined);
        return;
      }
      const rcode = (reply![3]! & 0xf) |
        (c.rcode > 15 ? decodeMessage(reply!).rcode & ~0xf : 0);
      assert.equal(rcode, c.rcode);
    });
  }
  // Compressed, whoami's reply to the longest name fits 512 bytes.
  const long = wireName(Array.from({ length: 4 }, () => Array(62).fill(0x61)));
  for (
    const [what, bytes, proto] of [
      ["without EDNS0", query({ name: long }), "udp"],
      ["with EDNS0", query({ name: long, tail: opt({ udpSize: 512 }) }), "udp"],
      ["over TCP", query({ name: long }), "tcp"],
    ] as const
  ) {
    await t.step(`a 254-byte name ${what} is answered`, async () => {
      const reply = await agree(ROOT_ONLY, bytes, proto);
      assert.ok(reply !== undefined && reply.length <= 512);
    });
  }
});

Deno.test("answerPlain() leaves queries to chains with a plugin in front of whoami", async () => {
  const bytes = query({
    name: wireName([ascii("www"), ascii("Logged"), ascii("org")]),
  });
  const remote = { ip: "127.0.0.1", port: 40000 };
  assert.ok(readPlainQuery(bytes));
  assert.equal(ZONED.answerPlain(bytes, "udp", remote), undefined);
  const before = passedOn;
  const reply = await general(ZONED, bytes, "udp", remote);
  assert.equal(passedOn, before + 1);
  assert.equal(decodeMessage(reply!).extra.length, 2);
  // A zone without DNS plugins refuses, on the general path.
  const refused = query({ name: wireName([ascii("refused"), ascii("org")]) });
  assert.equal(ZONED.answerPlain(refused, "udp", remote), undefined);
  assert.equal(
    decodeMessage((await general(ZONED, refused, "udp", remote))!).rcode,
    RCODE.REFUSED,
  );
});

Deno.test("prometheus in front of whoami counts every query and credits whoami's replies", async () => {
  const port = freePort();
  const metrics = freePort();
  const server = await startCoredeno(
    `.:${port} {\n    prometheus 127.0.0.1:${metrics}\n    whoami\n}\n`,
  );
  try {
    for (let id = 1; id <= 5; id++) {
      const q = await udpQuery(port, queryMessage("example.org.", "A", { id }));
      assert.equal(q.reply.extra.length, 2);
    }
    const text = await (await fetch(`http://127.0.0.1:${metrics}/metrics`))
      .text();
    const count = (pattern: RegExp) =>
      text.split("\n").filter((l) => pattern.test(l)).reduce(
        (sum, l) => sum + Number(l.split(" ").at(-1)),
        0,
      );
    assert.equal(count(/^coredns_dns_requests_total\{/), 5, text);
    assert.equal(
      count(/^coredns_dns_responses_total\{.*plugin="whoami"/),
      5,
      text,
    );
  } finally {
    await server.stop();
    server.cleanup();
  }
});
