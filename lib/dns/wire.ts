/**
 * DNS messages on the wire: decoded by `dns-packet` (the npm package most
 * DNS code in JavaScript uses), encoded by `encode.ts` with name
 * compression (`dns-packet` writes the record data of most types). The
 * `Message` shape follows miekg/dns's `Msg`, which CoreDNS's code reads:
 * header bits by name, a full 12-bit rcode, and the EDNS0 OPT record kept
 * apart from the additional section.
 *
 * Known limits of `dns-packet` 5.6.1, accepted: a label byte that is `.` is
 * not escaped when decoded, and an unknown CLASS is encoded as 0.
 *
 * @module
 */

import dnsPacket from "npm:dns-packet@5.6.1";
import { Buffer } from "node:buffer";
import { encode, type Fit, headerFlags } from "./encode.ts";
import type { EdnsOption, Message, Question, Rr } from "./message.ts";

export type { Edns, EdnsOption, Message, Question, Rr } from "./message.ts";

/**
 * The part of dns-packet used here. Typed locally: `@types/dns-packet`
 * pulls in `@types/node`, whose `node:assert` types then replace Deno's
 * for the whole program.
 */
interface DnsPacket {
  encode(p: PacketShape): Buffer;
  decode(b: Buffer): PacketShape;
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

/** Encodes a message, names compressed. */
export function encodeMessage(m: Message): Uint8Array {
  return encode(m);
}

/** `encodeMessage` through `dns-packet` alone: no compression (tests compare). */
export function encodeWithPacket(m: Message): Uint8Array {
  const buffer = packet.encode(toPacket(m));
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** The encoded length of a message. */
export function messageLength(m: Message): number {
  return encode(m).length;
}

/**
 * Encodes `m` for a client whose buffer holds `size` bytes (512 at least):
 * miekg/dns's `Msg.Truncate`, then `Pack`. When it does not fit, `m` keeps
 * as many records as fit (answer, then authority, then additional, sizes
 * counted compressed; the OPT record always stays) and gets TC.
 */
export function encodeTruncated(m: Message, size: number): Uint8Array {
  const fit: Fit = { answer: 0, ns: 0, extra: 0, truncated: false };
  const bytes = encode(m, Math.max(size, MIN_MSG_SIZE), fit);
  if (fit.truncated) {
    m.truncated = true;
    m.answer = m.answer.slice(0, fit.answer);
    m.ns = m.ns.slice(0, fit.ns);
    m.extra = m.extra.slice(0, fit.extra);
  }
  return bytes;
}

/** miekg/dns's `Msg.Truncate`: `encodeTruncated` without the bytes. */
export function truncateMessage(m: Message, size: number): void {
  encodeTruncated(m, size);
}

/**
 * Where a message's OPT record is (the offset of its TYPE field; -1
 * without one), found by walking every record; undefined when the records
 * do not end exactly where the message does, or it has two OPT records.
 */
export function findOpt(bytes: Uint8Array): number | undefined {
  if (bytes.length < HEADER_SIZE) return undefined;
  const count = (at: number) => bytes[at]! << 8 | bytes[at + 1]!;
  let at = HEADER_SIZE;
  const skipName = (): boolean => {
    for (;;) {
      const label = bytes[at];
      if (label === undefined) return false;
      if (label >= 0xc0) {
        at += 2;
        return true;
      }
      if (label > 63) return false;
      at += 1 + label;
      if (label === 0) return true;
    }
  };
  for (let i = count(4); i > 0; i--) {
    if (!skipName()) return undefined;
    at += 4;
  }
  const firstExtra = count(6) + count(8);
  const records = firstExtra + count(10);
  let opt = -1;
  for (let i = 0; i < records; i++) {
    if (!skipName() || at + 10 > bytes.length) return undefined;
    if (i >= firstExtra && count(at) === 41) {
      if (opt >= 0) return undefined;
      opt = at;
    }
    at += 10 + count(at + 8);
  }
  return at === bytes.length ? opt : undefined;
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
