/**
 * The plain-query path: the commonest query (one question of class IN with
 * an uncompressed, printable name, no records, perhaps an EDNS0 OPT record
 * without options) read straight off the wire, answered by a handler that
 * can answer it without the rest of the chain or any I/O (whoami), and the
 * reply written straight back, synchronously. Byte for byte what the
 * general path (`dns-packet` decode, the handler chain, the scrub, the
 * encoder) sends for the same query; anything else is left to that path.
 *
 * Why: under dnsperf, the general path's promises, message objects and
 * generic decode cost coredeno about as much CPU per whoami query as the
 * socket does (bench P6, DNSc; tests/dns/plain_test.ts checks the two paths
 * agree).
 *
 * @module
 */

import type { Endpoint } from "./handler.ts";

/** A plain query, as the handler sees it. */
export interface PlainQuery {
  /**
   * The query as received. Valid only while the handler runs: the socket
   * reads the next datagram into the same buffer.
   */
  readonly bytes: Uint8Array;
  /** Where the question's name ends (after its root label); it starts at 12. */
  readonly nameEnd: number;
  /** The question's type code. */
  readonly type: number;
  readonly proto: "udp" | "tcp";
  readonly remote: Endpoint;
}

/**
 * A handler's plain answer: the reply's records, encoded without name
 * compression, and how many go in each section. The header, the question
 * and the OPT record (as the scrub writes it) are the server's.
 */
export interface PlainAnswer {
  authoritative: boolean;
  records: Uint8Array;
  ancount: number;
  nscount: number;
  arcount: number;
}

const HEADER_SIZE = 12;
const OPT_TYPE = 41;
const OPT_SIZE = 11;
/** dns-packet refuses a name whose labels (each with its length byte) pass this. */
const MAX_NAME_LENGTH = 254;

/** What `readPlainQuery` found: where the question ends and the OPT record's fields. */
export interface PlainShape {
  nameEnd: number;
  type: number;
  /** -1 without an OPT record. */
  udpSize: number;
  dnssecOk: boolean;
}

/**
 * The shape of `bytes` when it is a plain query: header QR clear, opcode
 * QUERY, one question, no answer or authority records, and in the
 * additional section nothing or one OPT record (root owner, version 0, no
 * options), nothing after; the name's labels are 1–63 bytes of printable
 * ASCII other than `.` and space (what `dns-packet` decodes and encodes
 * back unchanged), 254 bytes at most; the class is IN. Undefined for
 * anything else, which then takes the general path (that also gives the
 * FORMERR and drops).
 */
export function readPlainQuery(bytes: Uint8Array): PlainShape | undefined {
  const length = bytes.length;
  if (length < HEADER_SIZE + 5) return undefined;
  // QR clear and opcode QUERY: the top five bits of byte 2.
  if ((bytes[2]! & 0xf8) !== 0) return undefined;
  if (
    bytes[4] !== 0 || bytes[5] !== 1 || bytes[6] !== 0 || bytes[7] !== 0 ||
    bytes[8] !== 0 || bytes[9] !== 0 || bytes[10] !== 0
  ) return undefined;
  const arcount = bytes[11]!;
  if (arcount > 1) return undefined;
  let offset = HEADER_SIZE;
  let nameLength = 0;
  for (;;) {
    const label = bytes[offset]!; // in bounds: the loop keeps offset < length - 4
    if (label === 0) break;
    if (label > 63) return undefined; // a pointer, or a reserved label type
    nameLength += label + 1;
    if (nameLength > MAX_NAME_LENGTH) return undefined;
    const end = offset + 1 + label;
    if (end + 5 > length) return undefined;
    for (let i = offset + 1; i < end; i++) {
      const c = bytes[i]!;
      if (c <= 0x20 || c > 0x7e || c === 0x2e) return undefined;
    }
    offset = end;
  }
  const nameEnd = offset + 1;
  const type = bytes[nameEnd]! << 8 | bytes[nameEnd + 1]!;
  if (bytes[nameEnd + 2] !== 0 || bytes[nameEnd + 3] !== 1) return undefined;
  const questionEnd = nameEnd + 4;
  if (arcount === 0) {
    return questionEnd === length
      ? { nameEnd, type, udpSize: -1, dnssecOk: false }
      : undefined;
  }
  if (
    questionEnd + OPT_SIZE !== length || bytes[questionEnd] !== 0 ||
    bytes[questionEnd + 1] !== 0 || bytes[questionEnd + 2] !== OPT_TYPE ||
    bytes[questionEnd + 6] !== 0 || // EDNS version 0 (else BADVERS)
    bytes[questionEnd + 9] !== 0 || bytes[questionEnd + 10] !== 0 // no options
  ) return undefined;
  return {
    nameEnd,
    type,
    udpSize: bytes[questionEnd + 3]! << 8 | bytes[questionEnd + 4]!,
    dnssecOk: (bytes[questionEnd + 7]! & 0x80) !== 0,
  };
}

/** The question's name as the general path spells it: `host.Example.org.`, `.` for the root. */
export function plainName(bytes: Uint8Array, nameEnd: number): string {
  if (nameEnd === HEADER_SIZE + 1) return ".";
  let name = "";
  for (let offset = HEADER_SIZE; offset < nameEnd - 1;) {
    const end = offset + 1 + bytes[offset]!;
    name += String.fromCharCode(...bytes.subarray(offset + 1, end)) + ".";
    offset = end;
  }
  return name;
}

/**
 * The reply to the plain query `bytes` (shape `q`) with `answer`'s records,
 * as the server's scrub writes it: the query's id, QR and `answer`'s AA, RD
 * and CD as asked, the question as received, the records, then OPT when the
 * query had one (the client's size, version 0, DO echoed, no options).
 * Undefined when it does not fit the client's buffer (the scrub truncates).
 */
export function writePlainReply(
  bytes: Uint8Array,
  q: PlainShape,
  proto: "udp" | "tcp",
  answer: PlainAnswer,
): Uint8Array | undefined {
  const questionEnd = q.nameEnd + 4;
  const edns = q.udpSize >= 0;
  const length = questionEnd + answer.records.length + (edns ? OPT_SIZE : 0);
  const limit = proto === "tcp" ? 65535 : Math.max(q.udpSize, 512);
  if (length > limit) return undefined;
  const reply = new Uint8Array(length);
  reply[0] = bytes[0]!;
  reply[1] = bytes[1]!;
  reply[2] = 0x80 | (answer.authoritative ? 0x04 : 0) | (bytes[2]! & 0x01);
  reply[3] = bytes[3]! & 0x10;
  reply[5] = 1;
  reply[6] = answer.ancount >> 8;
  reply[7] = answer.ancount & 0xff;
  reply[8] = answer.nscount >> 8;
  reply[9] = answer.nscount & 0xff;
  const arcount = answer.arcount + (edns ? 1 : 0);
  reply[10] = arcount >> 8;
  reply[11] = arcount & 0xff;
  reply.set(bytes.subarray(HEADER_SIZE, questionEnd), HEADER_SIZE);
  reply.set(answer.records, questionEnd);
  if (edns) {
    // dns-packet writes 4096 for a size of 0, and so did the scrub.
    const size = q.udpSize || 4096;
    const at = questionEnd + answer.records.length;
    reply[at + 2] = OPT_TYPE;
    reply[at + 3] = size >> 8;
    reply[at + 4] = size & 0xff;
    reply[at + 7] = q.dnssecOk ? 0x80 : 0;
  }
  return reply;
}
