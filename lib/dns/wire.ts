/**
 * DNS messages on the wire, through `dns-packet` (the npm package most DNS
 * code in JavaScript uses); the commonest replies are written directly by
 * `fast_encode.ts`, byte for byte as `dns-packet` would. The
 * `Message` shape follows miekg/dns's `Msg`, which CoreDNS's code reads:
 * header bits by name, a full 12-bit rcode, and the EDNS0 OPT record kept
 * apart from the additional section.
 *
 * Known limits of `dns-packet` 5.6.1, accepted: it never compresses names on
 * encode (miekg/dns compresses a reply that would not fit otherwise, so a
 * reply between its compressed and plain sizes is truncated here and not in
 * CoreDNS), a label byte that is `.` is not escaped when decoded, and an
 * unknown CLASS is encoded as 0.
 *
 * @module
 */

import dnsPacket from "npm:dns-packet@5.6.1";
import { Buffer } from "node:buffer";
import { encodeCommon } from "./fast_encode.ts";
import type { Edns, EdnsOption, Message, Question, Rr } from "./message.ts";

export type { Edns, EdnsOption, Message, Question, Rr } from "./message.ts";

/**
 * The part of dns-packet used here. Typed locally: `@types/dns-packet`
 * pulls in `@types/node`, whose `node:assert` types then replace Deno's
 * for the whole program.
 */
interface DnsPacket {
  encode(p: PacketShape): Buffer;
  decode(b: Buffer): PacketShape;
  encodingLength(p: PacketShape): number;
  answer: { encodingLength(a: Rr | OptShape): number };
  question: { encodingLength(q: Question): number };
}

interface OptShape {
  type: "OPT";
  name: ".";
  udpPayloadSize: number;
  extendedRcode: number;
  ednsVersion: number;
  flags: number;
  options: EdnsOption[];
}

interface PacketShape {
  type?: "query" | "response";
  id?: number;
  flags?: number;
  questions?: Question[];
  answers?: (Rr | OptShape)[];
  authorities?: (Rr | OptShape)[];
  additionals?: (Rr | OptShape)[];
}

const packet = dnsPacket as unknown as DnsPacket;

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  BADVERS: 16,
} as const;

/** miekg/dns's `RcodeToString`. */
const RCODE_NAMES: Record<number, string> = {
  0: "NOERROR",
  1: "FORMERR",
  2: "SERVFAIL",
  3: "NXDOMAIN",
  4: "NOTIMP",
  5: "REFUSED",
  6: "YXDOMAIN",
  7: "YXRRSET",
  8: "NXRRSET",
  9: "NOTAUTH",
  10: "NOTZONE",
  16: "BADSIG",
  17: "BADKEY",
  18: "BADTIME",
  19: "BADMODE",
  20: "BADNAME",
  21: "BADALG",
  22: "BADTRUNC",
  23: "BADCOOKIE",
};

/** miekg/dns's `StringToRcode`: the inverse of the names above, and BADVERS. */
const RCODES_BY_NAME = new Map<string, number>([
  ...Object.entries(RCODE_NAMES).map(([code, name]) =>
    [name, Number(code)] as const
  ),
  ["BADVERS", RCODE.BADVERS],
]);

/** The rcode named `name` (upper case, as CoreDNS's Corefiles write it). */
export function rcodeByName(name: string): number | undefined {
  return RCODES_BY_NAME.get(name);
}

export const OPCODE = { QUERY: 0, IQUERY: 1, STATUS: 2, NOTIFY: 4, UPDATE: 5 };

/** A query for `question` with miekg/dns's defaults: RD set, all else clear. */
export function newQuery(
  question: Question,
  { id = 0, recursionDesired = true }: {
    id?: number;
    recursionDesired?: boolean;
  } = {},
): Message {
  return {
    id,
    response: false,
    opcode: OPCODE.QUERY,
    authoritative: false,
    truncated: false,
    recursionDesired,
    recursionAvailable: false,
    zero: false,
    authenticatedData: false,
    checkingDisabled: false,
    rcode: 0,
    question: [question],
    answer: [],
    ns: [],
    extra: [],
  };
}

/** The smallest buffer a UDP client is assumed to have (RFC 1035). */
export const MIN_MSG_SIZE = 512;
/** The largest DNS message (TCP). */
export const MAX_MSG_SIZE = 65535;
export const HEADER_SIZE = 12;

/** `NOERROR`, or the number for rcodes miekg/dns has no name for. */
export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? String(rcode);
}

/** miekg/dns's type mnemonic: `TYPE65280` for an unknown type. */
export function typeName(type: string): string {
  return type.startsWith("UNKNOWN_") ? `TYPE${type.slice(8)}` : type;
}

/** miekg/dns's class mnemonic: `CLASS254` for an unknown class. */
export function className(klass: string): string {
  return klass.startsWith("UNKNOWN_") ? `CLASS${klass.slice(8)}` : klass;
}

/** The header fields a server looks at before trusting the rest. */
export interface Header {
  id: number;
  response: boolean;
  opcode: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

/** Reads the 12-byte header; undefined when the message is shorter. */
export function decodeHeader(bytes: Uint8Array): Header | undefined {
  if (bytes.length < HEADER_SIZE) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bits = view.getUint16(2);
  return {
    id: view.getUint16(0),
    response: (bits & 0x8000) !== 0,
    opcode: (bits >> 11) & 0xf,
    qdcount: view.getUint16(4),
    ancount: view.getUint16(6),
    nscount: view.getUint16(8),
    arcount: view.getUint16(10),
  };
}

function fqdn(name: string): string {
  return name === "" || name === "." ? "." : `${name}.`;
}

/** Decodes a whole message; throws on malformed input. */
export function decodeMessage(bytes: Uint8Array): Message {
  const p = packet.decode(
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
  );
  const flags = p.flags ?? 0;
  const message: Message = {
    id: p.id ?? 0,
    response: p.type === "response",
    opcode: (flags >> 11) & 0xf,
    authoritative: (flags & 0x400) !== 0,
    truncated: (flags & 0x200) !== 0,
    recursionDesired: (flags & 0x100) !== 0,
    recursionAvailable: (flags & 0x80) !== 0,
    zero: (flags & 0x40) !== 0,
    authenticatedData: (flags & 0x20) !== 0,
    checkingDisabled: (flags & 0x10) !== 0,
    rcode: flags & 0xf,
    question: (p.questions ?? []).map((q) => ({
      name: fqdn(q.name),
      type: q.type,
      class: q.class ?? "IN",
    })),
    answer: (p.answers ?? []).filter(notOpt).map(fqdnRr),
    ns: (p.authorities ?? []).filter(notOpt).map(fqdnRr),
    extra: (p.additionals ?? []).filter(notOpt).map(fqdnRr),
  };
  const opt = (p.additionals ?? []).find((a): a is OptShape =>
    a.type === "OPT"
  );
  if (opt !== undefined) {
    message.rcode |= opt.extendedRcode << 4;
    message.edns = {
      udpSize: opt.udpPayloadSize,
      version: opt.ednsVersion,
      do: (opt.flags & 0x8000) !== 0,
      options: opt.options,
    };
  }
  return message;
}

function notOpt(a: Rr | OptShape): a is Rr {
  return a.type !== "OPT";
}

function fqdnRr(rr: Rr): Rr {
  return { ...rr, name: fqdn(rr.name) };
}

/** The header's flags word, without QR (dns-packet sets it from `type`). */
function headerFlags(m: Message): number {
  return (m.opcode & 0xf) << 11 |
    (m.authoritative ? 0x400 : 0) |
    (m.truncated ? 0x200 : 0) |
    (m.recursionDesired ? 0x100 : 0) |
    (m.recursionAvailable ? 0x80 : 0) |
    (m.zero ? 0x40 : 0) |
    (m.authenticatedData ? 0x20 : 0) |
    (m.checkingDisabled ? 0x10 : 0) |
    (m.rcode & 0xf);
}

function toPacket(m: Message): PacketShape {
  const flags = headerFlags(m);
  const additionals: (Rr | OptShape)[] = [...m.extra];
  if (m.edns !== undefined) {
    additionals.push({
      type: "OPT",
      name: ".",
      // dns-packet writes 4096 for 0; a size is never 0 on our replies.
      udpPayloadSize: m.edns.udpSize,
      extendedRcode: (m.rcode >> 4) & 0xff,
      ednsVersion: m.edns.version,
      flags: m.edns.do ? 0x8000 : 0,
      options: m.edns.options,
    });
  }
  return {
    type: m.response ? "response" : "query",
    id: m.id,
    flags,
    questions: m.question,
    answers: m.answer,
    authorities: m.ns,
    additionals,
  };
}

/** Encodes a message, without name compression. */
export function encodeMessage(m: Message): Uint8Array {
  const common = encodeCommon(m, headerFlags(m));
  if (common !== undefined) return common;
  return encodeWithPacket(m);
}

/** `encodeMessage` through `dns-packet` alone, whatever the message holds. */
export function encodeWithPacket(m: Message): Uint8Array {
  const buffer = packet.encode(toPacket(m));
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** The encoded length of a message. */
export function messageLength(m: Message): number {
  return packet.encodingLength(toPacket(m));
}

function rrLength(rr: Rr): number {
  return packet.answer.encodingLength(rr);
}

function questionLength(q: Question): number {
  return packet.question.encodingLength(q);
}

function optLength(edns: Edns): number {
  return packet.answer.encodingLength({
    type: "OPT",
    name: ".",
    udpPayloadSize: edns.udpSize,
    extendedRcode: 0,
    ednsVersion: edns.version,
    flags: 0,
    options: edns.options,
  });
}

/**
 * miekg/dns's `Msg.Truncate`: keeps as many records as fit in `size`
 * (answer, then authority, then additional; the OPT record always stays),
 * and sets TC when any record was left out.
 */
export function truncateMessage(m: Message, size: number): void {
  size = Math.max(size, MIN_MSG_SIZE);
  if (messageLength(m) <= size) return;
  if (m.edns !== undefined) size -= optLength(m.edns);
  let length = HEADER_SIZE;
  for (const q of m.question) length += questionLength(q);
  const keep = (list: Rr[]): number => {
    let n = 0;
    for (const rr of list) {
      const next = length + rrLength(rr);
      if (next > size) break;
      length = next;
      n++;
    }
    return n;
  };
  const answers = length < size ? keep(m.answer) : 0;
  const ns = length < size ? keep(m.ns) : 0;
  const extra = length < size ? keep(m.extra) : 0;
  m.truncated ||= m.answer.length > answers || m.ns.length > ns ||
    m.extra.length > extra;
  m.answer = m.answer.slice(0, answers);
  m.ns = m.ns.slice(0, ns);
  m.extra = m.extra.slice(0, extra);
}

/**
 * miekg/dns's `SetReply`: a response to `request` with its id, opcode,
 * first question and (for queries) RD and CD bits.
 */
export function replyTo(request: Message, rcode: number = RCODE.NOERROR) {
  const reply: Message = {
    id: request.id,
    response: true,
    opcode: request.opcode,
    authoritative: false,
    truncated: false,
    recursionDesired: false,
    recursionAvailable: false,
    zero: false,
    authenticatedData: false,
    checkingDisabled: false,
    rcode,
    question: request.question.slice(0, 1),
    answer: [],
    ns: [],
    extra: [],
  };
  if (request.opcode === OPCODE.QUERY) {
    reply.recursionDesired = request.recursionDesired;
    reply.checkingDisabled = request.checkingDisabled;
  }
  return reply;
}
