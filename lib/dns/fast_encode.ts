/**
 * A direct encoder for the replies a DNS server sends most: questions, A,
 * AAAA and SRV records (whoami's), EDNS0 without options. It writes byte
 * for byte what `dns-packet` writes, using `dns-packet`'s own type, class
 * and address codecs, and returns undefined for anything else, which then
 * goes through `dns-packet`.
 *
 * Why: in a CPU profile of coredeno answering dnsperf, `dns-packet`'s encode
 * was ~20% of the process, most of it one `Buffer.write` (a Rust op) per
 * label. tests/dns/fast_encode_test.ts checks the two agree on generated
 * messages.
 *
 * @module
 */

import * as ip from "npm:@leichtgewicht/ip-codec@2.0.5";
import classes from "npm:dns-packet@5.6.1/classes.js";
import types from "npm:dns-packet@5.6.1/types.js";
import type { Message, Question, Rr } from "./message.ts";

interface Srv {
  priority?: number;
  weight?: number;
  port?: number;
  target: string;
}

const OPT_TYPE = 41;
const HEADER_SIZE = 12;

/** `dns-packet`'s name with its leading and trailing dot stripped, if encodable here. */
function bareName(name: string): string | undefined {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return undefined; // multi-byte or line breaks
  }
  const start = name.startsWith(".") ? 1 : 0;
  const end = name.length > start && name.endsWith(".")
    ? name.length - 1
    : name.length;
  return name.slice(start, end);
}

/** Bytes of an encoded bare name: each label with its length, then the root. */
function nameLength(bare: string): number {
  return bare.length === 0 ? 1 : bare.length + 2;
}

function rdataLength(rr: Rr): number | undefined {
  switch (rr.type) {
    case "A":
      return typeof rr.data === "string" ? 4 : undefined;
    case "AAAA":
      return typeof rr.data === "string" ? 16 : undefined;
    case "SRV": {
      const target = typeof (rr.data as Srv | undefined)?.target === "string"
        ? bareName((rr.data as Srv).target)
        : undefined;
      return target === undefined ? undefined : 6 + nameLength(target);
    }
  }
  return undefined;
}

class Writer {
  readonly bytes: Uint8Array;
  readonly #view: DataView;
  offset = 0;

  constructor(length: number) {
    this.bytes = new Uint8Array(length);
    this.#view = new DataView(this.bytes.buffer);
  }

  u8(value: number): void {
    this.bytes[this.offset++] = value;
  }

  u16(value: number): void {
    this.#view.setUint16(this.offset, value & 0xffff);
    this.offset += 2;
  }

  u32(value: number): void {
    this.#view.setUint32(this.offset, value >>> 0);
    this.offset += 4;
  }

  /** A bare name: `dns-packet` splits on every dot, empty labels included. */
  name(bare: string): void {
    if (bare.length > 0) {
      let lengthAt = this.offset++;
      let length = 0;
      for (let i = 0; i < bare.length; i++) {
        const c = bare.charCodeAt(i);
        if (c === 0x2e) {
          this.bytes[lengthAt] = length;
          lengthAt = this.offset++;
          length = 0;
        } else {
          this.bytes[this.offset++] = c;
          length++;
        }
      }
      this.bytes[lengthAt] = length;
    }
    this.u8(0);
  }
}

/** The encoded message, or undefined when it holds something only `dns-packet` encodes. */
export function encodeCommon(
  m: Message,
  flags: number,
): Uint8Array | undefined {
  if (m.edns !== undefined && m.edns.options.length > 0) return undefined;
  let length = HEADER_SIZE;
  const questionNames: string[] = [];
  for (const q of m.question) {
    const bare = bareName(q.name);
    if (bare === undefined) return undefined;
    questionNames.push(bare);
    length += nameLength(bare) + 4;
  }
  const records = [...m.answer, ...m.ns, ...m.extra];
  const recordNames: string[] = [];
  for (const rr of records) {
    const bare = bareName(rr.name);
    const rdata = rdataLength(rr);
    if (bare === undefined || rdata === undefined) return undefined;
    recordNames.push(bare);
    length += nameLength(bare) + 10 + rdata;
  }
  if (m.edns !== undefined) length += 11;

  const w = new Writer(length);
  w.u16(m.id);
  w.u16((flags & 0x7fff) | (m.response ? 0x8000 : 0));
  w.u16(m.question.length);
  w.u16(m.answer.length);
  w.u16(m.ns.length);
  w.u16(m.extra.length + (m.edns === undefined ? 0 : 1));
  m.question.forEach((q: Question, i) => {
    w.name(questionNames[i]!);
    w.u16(types.toType(q.type));
    w.u16(classes.toClass(q.class ?? "IN"));
  });
  records.forEach((rr, i) => {
    w.name(recordNames[i]!);
    w.u16(types.toType(rr.type));
    w.u16(classes.toClass(rr.class ?? "IN"));
    w.u32(rr.ttl ?? 0);
    rdata(w, rr);
  });
  if (m.edns !== undefined) {
    w.u8(0); // the root
    w.u16(OPT_TYPE);
    w.u16(m.edns.udpSize || 4096);
    w.u8((m.rcode >> 4) & 0xff);
    w.u8(m.edns.version);
    w.u16(m.edns.do ? 0x8000 : 0);
    w.u16(0);
  }
  return w.offset === length ? w.bytes : undefined;
}

function rdata(w: Writer, rr: Rr): void {
  switch (rr.type) {
    case "A":
      w.u16(4);
      ip.v4.encode(rr.data as string, w.bytes, w.offset);
      w.offset += 4;
      return;
    case "AAAA":
      w.u16(16);
      ip.v6.encode(rr.data as string, w.bytes, w.offset);
      w.offset += 16;
      return;
    case "SRV": {
      const srv = rr.data as Srv;
      const target = bareName(srv.target)!;
      w.u16(6 + nameLength(target));
      w.u16(srv.priority ?? 0);
      w.u16(srv.weight ?? 0);
      w.u16(srv.port ?? 0);
      w.name(target);
      return;
    }
  }
}
