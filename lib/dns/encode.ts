/**
 * The DNS message encoder, with name compression as unbound and miekg/dns
 * write it: every owner name and question, and the names inside NS, CNAME,
 * PTR, MX and SOA data (RFC 1035's types; RFC 3597 forbids compressing any
 * other), point back to the longest suffix already written, compared
 * without regard to ASCII case. Names, A, AAAA and SRV records are written
 * here directly; other types' data by `dns-packet`'s own codecs.
 *
 * Why: `dns-packet` never compresses. Four A records unbound sends in 110
 * bytes took 178 through coredeno, and an answer that fit the client's 512
 * bytes upstream could come out truncated (tests/plugins/forward_trust_test.ts
 * compares with unbound's bytes). Writing names directly also spares
 * `dns-packet`'s one `Buffer.write` (a Rust op) per label, which was ~20% of
 * coredeno's CPU under dnsperf.
 *
 * @module
 */

import * as ip from "npm:@leichtgewicht/ip-codec@2.0.5";
import dnsPacket from "npm:dns-packet@5.6.1";
import classes from "npm:dns-packet@5.6.1/classes.js";
import types from "npm:dns-packet@5.6.1/types.js";
import { Buffer } from "node:buffer";
import type { EdnsOption, Message, Rr } from "./message.ts";

/** A `dns-packet` record codec: writes RDLENGTH and RDATA. */
interface Codec {
  encode: ((data: unknown, buf: Buffer, offset: number) => Buffer) & {
    bytes: number;
  };
  encodingLength(data: unknown): number;
}

const packet = dnsPacket as unknown as {
  record(type: string): Codec;
  opt: Codec;
};

const OPT_TYPE = 41;
const HEADER_SIZE = 12;
/** The largest record: a name, the fixed fields, 65535 bytes of data. */
const MAX_RECORD = 255 + 10 + 65535;

/** Where names were written, by lower-cased suffix (`example.org`). */
type Names = Map<string, number>;

class Writer {
  buf: Buffer;
  offset = 0;
  readonly names: Names = new Map();

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** Makes room for `n` more bytes. */
  room(n: number): void {
    if (this.offset + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(
      Math.max(this.buf.length * 2, this.offset + n),
    );
    this.buf.copy(grown, 0, 0, this.offset);
    this.buf = grown;
  }

  u8(value: number): void {
    this.buf[this.offset++] = value;
  }

  u16(value: number): void {
    this.buf[this.offset++] = value >> 8 & 0xff;
    this.buf[this.offset++] = value & 0xff;
  }

  u32(value: number): void {
    this.buf.writeUInt32BE(value >>> 0, this.offset);
    this.offset += 4;
  }

  /**
   * A name as `dns-packet` spells it (`www.example.org.`, `.`, a leading
   * and a trailing dot optional), each label as UTF-8; with `compress`,
   * its longest suffix already written becomes a pointer. A name with an
   * empty or over-long label is written as `dns-packet` writes it (a
   * broken name) and never pointed to.
   */
  name(text: string, compress: boolean): void {
    const start = text.charCodeAt(0) === 0x2e ? 1 : 0;
    const end = text.length > start &&
        text.charCodeAt(text.length - 1) === 0x2e
      ? text.length - 1
      : text.length;
    if (start >= end) {
      this.u8(0);
      return;
    }
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (text.charCodeAt(i) > 0x7e) {
        ascii = false;
        break;
      }
    }
    const bare = start === 0 && end === text.length
      ? text
      : text.slice(start, end);
    if (!ascii) {
      this.#utf8Name(bare, compress);
      return;
    }
    const key = bare.toLowerCase();
    let label = 0;
    while (label < bare.length) {
      const suffix = label === 0 ? key : key.slice(label);
      if (compress) {
        const at = this.names.get(suffix);
        if (at !== undefined) {
          this.u16(0xc000 | at);
          return;
        }
      }
      let dot = bare.indexOf(".", label);
      if (dot < 0) dot = bare.length;
      const length = dot - label;
      if (length === 0 || length > 63) {
        this.#plainLabels(bare, label);
        return;
      }
      if (compress && this.offset < 0x4000) this.names.set(suffix, this.offset);
      this.buf[this.offset++] = length;
      for (let i = label; i < dot; i++) {
        this.buf[this.offset++] = bare.charCodeAt(i);
      }
      label = dot + 1;
    }
    this.u8(0);
  }

  /** The labels of `bare` from `from` on, uncompressed, as `dns-packet` writes them. */
  #plainLabels(bare: string, from: number): void {
    for (const label of bare.slice(from).split(".")) {
      const length = this.buf.write(label, this.offset + 1);
      this.buf[this.offset] = length;
      this.offset += length + 1;
    }
    this.u8(0);
  }

  /** A name with non-ASCII characters: compressed only where its suffix matches byte for byte. */
  #utf8Name(bare: string, compress: boolean): void {
    const labels = bare.split(".");
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).join(".");
      if (compress) {
        const at = this.names.get(suffix);
        if (at !== undefined) {
          this.u16(0xc000 | at);
          return;
        }
      }
      const start = this.offset;
      const length = this.buf.write(labels[i]!, this.offset + 1);
      if (length === 0 || length > 63) {
        this.#plainLabels(labels.slice(i).join("."), 0);
        return;
      }
      if (compress && start < 0x4000) this.names.set(suffix, start);
      this.buf[start] = length;
      this.offset += length + 1;
    }
    this.u8(0);
  }
}

/** A module-level writer, reused: most messages fit its first buffer. */
const shared = new Writer(4096);

/** The header's flags word, without QR. */
export function headerFlags(m: Message): number {
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

/** How many records of each section fit, and whether one was left out. */
export interface Fit {
  answer: number;
  ns: number;
  extra: number;
  truncated: boolean;
}

/**
 * Encodes `m`, names compressed. With `limit`, records that would take the
 * message past it are left out, from the first that does not fit on
 * (answer, authority, then additional, as miekg/dns's `Truncate`; the OPT
 * record always stays), and `fit` says how many of each went in.
 */
export function encode(m: Message, limit = Infinity, fit?: Fit): Uint8Array {
  const w = shared;
  w.offset = 0;
  w.names.clear();
  w.room(HEADER_SIZE);
  w.u16(m.id);
  w.u16(headerFlags(m) & 0x7fff | (m.response ? 0x8000 : 0));
  w.u16(m.question.length);
  const counts = w.offset;
  w.offset += 6;
  for (const q of m.question) {
    w.room(MAX_RECORD);
    w.name(q.name, true);
    w.u16(types.toType(q.type));
    w.u16(classes.toClass(q.class ?? "IN"));
  }
  const optLength = m.edns === undefined
    ? 0
    : 11 + optionsLength(m.edns.options);
  const budget = limit - optLength;
  let full = false;
  const section = (records: readonly Rr[]): number => {
    let n = 0;
    for (const rr of records) {
      if (full) break;
      const start = w.offset;
      const namesBefore = w.names.size;
      record(w, rr);
      if (w.offset > budget) {
        w.offset = start;
        if (w.names.size !== namesBefore) forgetFrom(w.names, start);
        full = true;
        break;
      }
      n++;
    }
    return n;
  };
  const answers = section(m.answer);
  const ns = section(m.ns);
  const extra = section(m.extra);
  if (m.edns !== undefined) {
    w.room(optLength);
    w.u8(0); // the root
    w.u16(OPT_TYPE);
    w.u16(m.edns.udpSize || 4096);
    w.u8((m.rcode >> 4) & 0xff);
    w.u8(m.edns.version);
    w.u16(m.edns.do ? 0x8000 : 0);
    packet.opt.encode(m.edns.options, w.buf, w.offset);
    w.offset += packet.opt.encode.bytes;
  }
  const truncated = answers < m.answer.length || ns < m.ns.length ||
    extra < m.extra.length;
  if (truncated) w.buf[2]! |= 0x02; // TC
  w.buf[counts] = answers >> 8;
  w.buf[counts + 1] = answers & 0xff;
  w.buf[counts + 2] = ns >> 8;
  w.buf[counts + 3] = ns & 0xff;
  const arcount = extra + (m.edns === undefined ? 0 : 1);
  w.buf[counts + 4] = arcount >> 8;
  w.buf[counts + 5] = arcount & 0xff;
  if (fit !== undefined) {
    fit.answer = answers;
    fit.ns = ns;
    fit.extra = extra;
    fit.truncated = truncated;
  }
  return new Uint8Array(w.buf.subarray(0, w.offset));
}

/** Drops the names written at or after `offset` (a record taken back). */
function forgetFrom(names: Names, offset: number): void {
  for (const [suffix, at] of names) {
    if (at >= offset) names.delete(suffix);
  }
}

function optionsLength(options: readonly EdnsOption[]): number {
  return options.length === 0 ? 0 : packet.opt.encodingLength(options) - 2;
}

interface Srv {
  priority?: number;
  weight?: number;
  port?: number;
  target: string;
}

interface Soa {
  mname: string;
  rname: string;
  serial?: number;
  refresh?: number;
  retry?: number;
  expire?: number;
  minimum?: number;
}

function record(w: Writer, rr: Rr): void {
  w.room(MAX_RECORD);
  w.name(rr.name, true);
  w.u16(types.toType(rr.type));
  w.u16(classes.toClass(rr.class ?? "IN"));
  w.u32(rr.ttl ?? 0);
  const lengthAt = w.offset;
  w.offset += 2;
  switch (rr.type) {
    case "A":
      ip.v4.encode(rr.data as string, w.buf, w.offset);
      w.offset += 4;
      break;
    case "AAAA":
      ip.v6.encode(rr.data as string, w.buf, w.offset);
      w.offset += 16;
      break;
    case "NS":
    case "CNAME":
    case "PTR":
      w.name(rr.data as string, true);
      break;
    case "MX": {
      const mx = rr.data as { preference?: number; exchange: string };
      w.u16(mx.preference ?? 0);
      w.name(mx.exchange, true);
      break;
    }
    case "SOA": {
      const soa = rr.data as Soa;
      // An escaped dot keeps a mailbox's local part one label (dns-packet's
      // `mail` names): that rare SOA is written by dns-packet, uncompressed.
      if (soa.rname.includes("\\")) {
        withCodec(w, rr, lengthAt);
        return;
      }
      w.name(soa.mname, true);
      w.name(soa.rname, true);
      w.u32(soa.serial ?? 0);
      w.u32(soa.refresh ?? 0);
      w.u32(soa.retry ?? 0);
      w.u32(soa.expire ?? 0);
      w.u32(soa.minimum ?? 0);
      break;
    }
    case "SRV": {
      // RFC 2782: the target is never compressed.
      const srv = rr.data as Srv;
      w.u16(srv.priority ?? 0);
      w.u16(srv.weight ?? 0);
      w.u16(srv.port ?? 0);
      w.name(srv.target, false);
      break;
    }
    default:
      withCodec(w, rr, lengthAt);
      return;
  }
  const length = w.offset - lengthAt - 2;
  w.buf[lengthAt] = length >> 8;
  w.buf[lengthAt + 1] = length & 0xff;
}

/** `rr`'s RDLENGTH and RDATA at `at`, written by `dns-packet`'s codec for its type. */
function withCodec(w: Writer, rr: Rr, at: number): void {
  const codec = packet.record(rr.type);
  codec.encode(rr.data, w.buf, at);
  w.offset = at + codec.encode.bytes;
}
