/**
 * The encoder (lib/dns/encode.ts) against `dns-packet`'s, on generated
 * messages: what it writes decodes to the same message (names compared
 * without regard to ASCII case: a compressed owner takes the case of the
 * name it points to) and is never longer; with a limit, it keeps whole
 * records, sets TC and keeps OPT.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import {
  decodeMessage,
  encodeMessage,
  encodeTruncated,
  encodeWithPacket,
  type Message,
  type Rr,
} from "../../lib/dns/wire.ts";

const label = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/) },
  fc.constantFrom("xn--bcher-kva", "Example", "EXAMPLE", "example"),
  // No dots, and no line terminators: dns-packet strips a dot after one
  // (its /^\.|\.$/gm), which would make its bytes the odd ones out.
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 4 }).filter((s) =>
    !/[.\n\r\u2028\u2029]/.test(s) && new TextEncoder().encode(s).length <= 63
  ),
);
/** Names from a few labels, so that suffixes repeat and compress. */
const name = fc.oneof(
  fc.constant("."),
  fc.array(label, { minLength: 1, maxLength: 2 }).chain((head) =>
    fc.constantFrom("example.org.", "Example.ORG.", "org.", "test.").map(
      (tail) => `${head.join(".")}.${tail}`,
    )
  ),
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
    type: fc.constantFrom("NS", "CNAME", "PTR", "DNAME"),
    name,
    class: fc.constant("IN"),
    ttl: fc.nat(),
    data: name,
  }),
  fc.record({
    type: fc.constant("MX"),
    name,
    class: fc.constant("IN"),
    ttl: fc.nat(),
    data: fc.record({ preference: fc.nat(65535), exchange: name }),
  }),
  fc.record({
    type: fc.constant("SOA"),
    name,
    class: fc.constant("IN"),
    ttl: fc.nat(),
    data: fc.record({
      mname: name,
      rname: fc.oneof(name, fc.constant("first\\.last.example.org.")),
      serial: fc.nat(),
      refresh: fc.nat(),
      retry: fc.nat(),
      expire: fc.nat(),
      minimum: fc.nat(),
    }),
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
  answer: fc.array(record, { maxLength: 4 }),
  ns: fc.array(record, { maxLength: 2 }),
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

/** ASCII letters folded: DNS names are equal without regard to their case. */
function fold(value: unknown): unknown {
  if (typeof value === "string") {
    return value.replace(/[A-Z]/g, (c) => c.toLowerCase());
  }
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(fold);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, fold(v)]),
    );
  }
  return value;
}

Deno.test("encode: the same message as dns-packet's, never longer", () => {
  let shorter = 0;
  let runs = 0;
  fc.assert(
    fc.property(message, (m) => {
      runs++;
      const ours = encodeMessage(m);
      const theirs = encodeWithPacket(m);
      assert.deepEqual(fold(decodeMessage(ours)), fold(decodeMessage(theirs)));
      assert.ok(ours.length <= theirs.length);
      if (ours.length < theirs.length) shorter++;
    }),
    { numRuns: 10_000 },
  );
  assert.ok(shorter > runs / 2, `only ${shorter} of ${runs} compressed`);
});

Deno.test("encode: with a limit, whole records that fit, TC, and OPT kept", () => {
  fc.assert(
    fc.property(message, fc.integer({ min: 512, max: 1500 }), (m, size) => {
      const copy = { ...m };
      const bytes = encodeTruncated(copy, size);
      const whole = encodeMessage(m);
      if (whole.length <= size) {
        assert.deepEqual(bytes, whole, "a message that fits is left alone");
        return;
      }
      const decoded = decodeMessage(bytes);
      // Only the header, questions and OPT: when those fit, the rest does.
      const bare = encodeMessage({ ...m, answer: [], ns: [], extra: [] });
      if (bare.length <= size) {
        assert.ok(bytes.length <= size, `${bytes.length} > ${size}`);
      }
      assert.equal(decoded.truncated, true);
      assert.equal(decoded.edns?.udpSize, m.edns?.udpSize);
      assert.equal(decoded.answer.length, copy.answer.length);
      assert.equal(decoded.ns.length, copy.ns.length);
      assert.equal(decoded.extra.length, copy.extra.length);
      // Sections fill in order: a later one has records only if the earlier are whole.
      if (copy.ns.length > 0 || copy.extra.length > 0) {
        assert.equal(copy.answer.length, m.answer.length);
      }
      if (copy.extra.length > 0) assert.equal(copy.ns.length, m.ns.length);
    }),
    { numRuns: 3000 },
  );
});

Deno.test("encode: four A records for one name take unbound's 110 bytes", () => {
  const m: Message = {
    id: 1,
    response: true,
    opcode: 0,
    authoritative: true,
    truncated: false,
    recursionDesired: true,
    recursionAvailable: true,
    zero: false,
    authenticatedData: false,
    checkingDisabled: false,
    rcode: 0,
    question: [{ name: "four.example.test.", type: "A", class: "IN" }],
    answer: [1, 2, 3, 4].map((i) => ({
      type: "A",
      name: "four.example.test.",
      class: "IN",
      ttl: 300,
      data: `192.0.2.${i}`,
    })),
    ns: [],
    extra: [],
    edns: { udpSize: 1232, version: 0, do: false, options: [] },
  };
  // 12 + question 23 + 4 × (pointer 2 + 10 + 4) + OPT 11.
  assert.equal(encodeMessage(m).length, 110);
  assert.equal(encodeWithPacket(m).length, 178);
});
