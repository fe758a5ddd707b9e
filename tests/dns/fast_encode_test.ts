/**
 * The direct encoder of common replies writes exactly what `dns-packet`
 * writes, on generated messages: names with odd dots and non-ASCII, every
 * address form fast-check knows, SRV targets, EDNS0 with and without
 * options, and record types only `dns-packet` encodes (those must fall back).
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { encodeCommon } from "../../lib/dns/fast_encode.ts";
import {
  encodeMessage,
  encodeWithPacket,
  type Message,
  type Rr,
} from "../../lib/dns/wire.ts";

const name = fc.oneof(
  fc.domain().map((d) => `${d}.`),
  fc.constantFrom(
    ".",
    "..",
    "...",
    "a..b.",
    ".lead.",
    "xn--bcher-kva.example.",
  ),
  fc.stringMatching(/^[ -~]{0,40}$/),
  fc.string({ unit: "grapheme", maxLength: 12 }).map((s) => `${s}.example.`),
);

const record: fc.Arbitrary<Rr> = fc.oneof(
  fc.record({
    type: fc.constant("A"),
    name,
    class: fc.constantFrom("IN", "CH"),
    ttl: fc.nat(),
    data: fc.ipV4(),
  }),
  fc.record({
    type: fc.constant("AAAA"),
    name,
    class: fc.constant("IN"),
    ttl: fc.nat(),
    data: fc.ipV6(),
  }),
  fc.record({
    type: fc.constant("SRV"),
    name,
    class: fc.constant("IN"),
    ttl: fc.nat(),
    data: fc.record({
      priority: fc.nat(65535),
      weight: fc.nat(65535),
      port: fc.nat(65535),
      target: name,
    }),
  }),
  fc.record({
    type: fc.constant("TXT"),
    name,
    class: fc.constant("IN"),
    ttl: fc.nat(),
    data: fc.array(fc.string({ maxLength: 20 }), { maxLength: 2 }),
  }),
);

const message: fc.Arbitrary<Message> = fc.record({
  id: fc.nat(65535),
  response: fc.boolean(),
  opcode: fc.nat(15),
  authoritative: fc.boolean(),
  truncated: fc.boolean(),
  recursionDesired: fc.boolean(),
  recursionAvailable: fc.boolean(),
  zero: fc.boolean(),
  authenticatedData: fc.boolean(),
  checkingDisabled: fc.boolean(),
  rcode: fc.nat(4095),
  question: fc.array(
    fc.record({
      name,
      type: fc.constantFrom("A", "AAAA", "SRV", "DS", "UNKNOWN_65280"),
      class: fc.constantFrom("IN", "CH", "ANY", "UNKNOWN_254"),
    }),
    { maxLength: 2 },
  ),
  answer: fc.array(record, { maxLength: 3 }),
  ns: fc.array(record, { maxLength: 1 }),
  extra: fc.array(record, { maxLength: 2 }),
  edns: fc.option(
    fc.record({
      udpSize: fc.integer({ min: 512, max: 65535 }),
      version: fc.nat(255),
      do: fc.boolean(),
      options: fc.oneof(
        { weight: 3, arbitrary: fc.constant(0) },
        fc.constant(1),
      ).map((n) =>
        Array.from({ length: n }, () => ({
          code: 10,
          data: Buffer.alloc(8, 7), // as dns-packet decodes it
        }))
      ),
    }),
    { nil: undefined },
  ),
});

Deno.test("fast DNS encode: byte for byte what dns-packet writes, or a fallback", () => {
  let direct = 0;
  let runs = 0;
  fc.assert(
    fc.property(message, (m) => {
      runs++;
      if (encodeCommon(m, 0) !== undefined) direct++;
      assert.deepEqual(encodeMessage(m), encodeWithPacket(m));
    }),
    { numRuns: 20_000 },
  );
  console.log(`${direct} of ${runs} messages encoded directly`);
  assert.ok(direct > runs / 10, `only ${direct} of ${runs} took the fast path`);
});

Deno.test("fast DNS encode: whoami's reply takes the direct path", () => {
  const reply: Message = {
    id: 4242,
    response: true,
    opcode: 0,
    authoritative: true,
    truncated: false,
    recursionDesired: true,
    recursionAvailable: false,
    zero: false,
    authenticatedData: false,
    checkingDisabled: false,
    rcode: 0,
    question: [{ name: "example.org.", type: "A", class: "IN" }],
    answer: [{
      type: "AAAA",
      name: "example.org.",
      class: "IN",
      ttl: 0,
      data: "::ffff:127.0.0.1",
    }],
    ns: [],
    extra: [{
      type: "SRV",
      name: "_udp.example.org.",
      class: "IN",
      ttl: 0,
      data: { priority: 0, weight: 0, port: 53000, target: "." },
    }],
    edns: { udpSize: 1232, version: 0, do: true, options: [] },
  };
  const bytes = encodeCommon(reply, 0x0500);
  assert.ok(bytes !== undefined);
  assert.deepEqual(encodeMessage(reply), encodeWithPacket(reply));
});
