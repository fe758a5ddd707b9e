/**
 * The plain-query path: the commonest query (one question of class IN with
 * an uncompressed, printable name, no records, perhaps an EDNS0 OPT record
 * without options) read straight off the wire, answered by a handler that
 * can answer it without the rest of the chain or any I/O (whoami), and the
 * reply written straight back, synchronously. Byte for byte what the
 * general path (`dns-packet` decode, the handler chain, the scrub, the
 * encoder) sends for the same query; anything else is left to that path.
 *
 * Why: under dnsperf, the general path's promises, message objects,
 * generic decode and per-reply buffers made coredeno spend about 1.7× the
 * CPU per whoami query of a bare echo on the same socket (bench P6, P6e,
 * DNSc; tests/dns/plain_test.ts checks the two paths agree).
 *
 * @module
 */

import type { Endpoint } from "./endpoint.ts";

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
  /** Whether the query's OPT record has the DO bit. */
  readonly dnssecOk: boolean;
  readonly proto: "udp" | "tcp";
  readonly remote: Endpoint;
  /** The server's address, `dns://:1053` (`DnsRequest.server`). */
  readonly server: string;
  /**
   * The reply being written, valid only while the handler runs: the
   * question is already in place (the name from 12 to `nameEnd`), and the
   * handler's records go after it, from `nameEnd + 4`; room for a whole
   * TCP message (65535 bytes).
   */
  readonly out: Uint8Array;
}

/**
 * A handler's plain answer: it wrote its records into `out`, names
 * compressed as the encoder (encode.ts) would write them, up to `end`; this
 * many go in each section. The header and the OPT record (as the scrub
 * writes it) are the server's.
 */
export interface PlainAnswer {
  authoritative: boolean;
  /** The header's RA and AD bits and RCODE (up to 15); 0 when absent. */
  flags?: number;
  end: number;
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

/** Room for a plain name's characters (254 at most). */
const nameChars = new Uint16Array(256);

/**
 * The question's name as the general path spells it, lower-cased:
 * `host.example.org.`, `.` for the root. One string, made in one pass.
 */
export function plainName(bytes: Uint8Array, nameEnd: number): string {
  if (nameEnd === HEADER_SIZE + 1) return ".";
  let n = 0;
  for (let offset = HEADER_SIZE; offset < nameEnd - 1;) {
    const end = offset + 1 + bytes[offset]!;
    for (let i = offset + 1; i < end; i++) {
      const c = bytes[i]!;
      nameChars[n++] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
    }
    nameChars[n++] = 0x2e;
    offset = end;
  }
  return String.fromCharCode.apply(
    null,
    nameChars.subarray(0, n) as unknown as number[],
  );
}

/** The reply being written; every reply is copied out of it. */
const scratch = new Uint8Array(65535 + OPT_SIZE);

/**
 * Replies are views of a slab, never reused: a fresh ArrayBuffer for each
 * small reply cost more than the rest of the plain path together. A slab
 * is freed once the sends holding its replies are done.
 */
const SLAB_SIZE = 256 * 1024;
let slab = new Uint8Array(SLAB_SIZE);
let slabUsed = 0;

/** A copy of `scratch`'s first `length` bytes, cut from the slab. */
function copyOut(length: number): Uint8Array {
  if (slabUsed + length > SLAB_SIZE) {
    if (length > SLAB_SIZE / 4) return scratch.slice(0, length);
    slab = new Uint8Array(SLAB_SIZE);
    slabUsed = 0;
  }
  const start = slabUsed;
  slabUsed += length;
  slab.set(scratch.subarray(0, length), start);
  return slab.subarray(start, slabUsed);
}

/**
 * The reply to the plain query `bytes` (shape `q`), as the server's scrub
 * writes it, or undefined to leave the query to the general path: `answer`
 * gives the records (see `PlainQuery.out`); the header has the query's id,
 * QR, the answer's AA, RA, AD and RCODE, and RD and CD as asked; then the
 * question as received, the records, and OPT when the query had one (the
 * client's size, version 0, DO echoed, no options). Undefined too when the
 * reply does not fit the client's buffer (the scrub truncates those).
 */
export function answerPlainQuery(
  bytes: Uint8Array,
  q: PlainShape,
  proto: "udp" | "tcp",
  remote: Endpoint,
  answer: (q: PlainQuery) => PlainAnswer | undefined,
  server = "",
): Uint8Array | undefined {
  const out = scratch;
  const questionEnd = q.nameEnd + 4;
  for (let i = HEADER_SIZE; i < questionEnd; i++) out[i] = bytes[i]!;
  const a = answer({
    bytes,
    nameEnd: q.nameEnd,
    type: q.type,
    dnssecOk: q.dnssecOk,
    proto,
    remote,
    server,
    out,
  });
  if (a === undefined) return undefined;
  const edns = q.udpSize >= 0;
  const length = a.end + (edns ? OPT_SIZE : 0);
  const limit = proto === "tcp" ? 65535 : Math.max(q.udpSize, 512);
  if (length > limit) return undefined;
  out[0] = bytes[0]!;
  out[1] = bytes[1]!;
  out[2] = 0x80 | (a.authoritative ? 0x04 : 0) | (bytes[2]! & 0x01);
  out[3] = (bytes[3]! & 0x10) | ((a.flags ?? 0) & 0xaf); // CD; RA, AD, RCODE
  out[4] = 0;
  out[5] = 1;
  out[6] = a.ancount >> 8;
  out[7] = a.ancount & 0xff;
  out[8] = a.nscount >> 8;
  out[9] = a.nscount & 0xff;
  const arcount = a.arcount + (edns ? 1 : 0);
  out[10] = arcount >> 8;
  out[11] = arcount & 0xff;
  if (edns) {
    // dns-packet writes 4096 for a size of 0, and so did the scrub.
    const size = q.udpSize || 4096;
    const at = a.end;
    out[at] = 0;
    out[at + 1] = 0;
    out[at + 2] = OPT_TYPE;
    out[at + 3] = size >> 8;
    out[at + 4] = size & 0xff;
    out[at + 5] = 0;
    out[at + 6] = 0;
    out[at + 7] = q.dnssecOk ? 0x80 : 0;
    out[at + 8] = 0;
    out[at + 9] = 0;
    out[at + 10] = 0;
  }
  return copyOut(length);
}
