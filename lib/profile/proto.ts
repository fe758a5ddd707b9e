/**
 * `profile.proto` bytes of a `pprof-format` Profile, written in one pass.
 *
 * Why not `pprof-format`'s own `encode`: it measures each nested message
 * before writing it and splits every number into a `[hi, lo]` pair, which is
 * cheap once V8 has optimized it but slow before, and a CPU capture's
 * `reoptimize` leaves the serializer unoptimized at every stop. Here each
 * message is written once, its length patched in afterwards. The bytes are
 * the same as `pprof-format`'s, field for field (tests/profile/proto_test.ts
 * compares them).
 */

import type { Profile } from "../deps.ts";

type Numeric = number | bigint;

const TWO_64 = 1n << 64n;
const utf8 = new TextEncoder();

/** A growing byte buffer with protobuf's varints and length-delimited fields. */
class ProtoWriter {
  #buf: Uint8Array;
  #pos = 0;

  constructor(capacity: number) {
    this.#buf = new Uint8Array(Math.max(256, capacity));
  }

  /** The bytes written so far (a view, not a copy). */
  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#pos);
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#pos + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#buf.subarray(0, this.#pos));
    this.#buf = grown;
  }

  /** One varint; negative int64s as their 64-bit two's complement, as protobuf does. */
  varint(value: Numeric): void {
    this.#ensure(10);
    const buf = this.#buf;
    if (typeof value === "number" && value >= 0) {
      let v = value;
      if (v < 0x80000000) {
        v |= 0;
        while (v > 127) {
          buf[this.#pos++] = (v & 127) | 128;
          v >>>= 7;
        }
        buf[this.#pos++] = v;
        return;
      }
      while (v > 127) {
        buf[this.#pos++] = (v % 128) | 128;
        v = Math.floor(v / 128);
      }
      buf[this.#pos++] = v;
      return;
    }
    let big = typeof value === "bigint"
      ? value
      : BigInt(Math.trunc(value as number));
    if (big < 0n) big += TWO_64;
    while (big > 127n) {
      buf[this.#pos++] = Number(big & 127n) | 128;
      big >>= 7n;
    }
    buf[this.#pos++] = Number(big);
  }

  /** A varint field, left out when zero (proto3). */
  field(tag: number, value: Numeric | boolean | undefined): void {
    if (!value) return;
    this.#ensure(1);
    this.#buf[this.#pos++] = tag;
    this.varint(value === true ? 1 : value as Numeric);
  }

  /** A packed repeated varint field, left out when empty; zeros count. */
  packed(tag: number, values: readonly Numeric[]): void {
    const n = values.length;
    if (n === 0) return;
    this.#ensure(2 + 10 * n);
    const start = this.open(tag);
    // Location ids and counts: small non-negative numbers, written here
    // with locals (the hot loop of a CPU profile); the rest by `varint`.
    const buf = this.#buf;
    let pos = this.#pos;
    for (let i = 0; i < n; i++) {
      let v = values[i]!;
      if (typeof v === "number" && v >= 0 && v < 0x80000000) {
        v |= 0;
        while (v > 127) {
          buf[pos++] = (v & 127) | 128;
          v >>>= 7;
        }
        buf[pos++] = v;
      } else {
        this.#pos = pos;
        this.varint(v); // room was made above: the buffer stays the same
        pos = this.#pos;
      }
    }
    this.#pos = pos;
    this.close(start);
  }

  /** A string field (the string table's): tag, length, UTF-8 bytes. */
  string(tag: number, text: string): void {
    // UTF-8 takes at most three bytes per UTF-16 unit.
    this.#ensure(1 + 5 + text.length * 3);
    this.#buf[this.#pos++] = tag;
    const start = ++this.#pos;
    const { written } = utf8.encodeInto(
      text,
      this.#buf.subarray(start, start + text.length * 3),
    );
    this.#pos += written;
    this.close(start);
  }

  /**
   * Starts a length-delimited field: writes its tag and a one-byte length
   * placeholder; returns where the content starts, for `close`.
   */
  open(tag: number): number {
    this.#ensure(2);
    this.#buf[this.#pos++] = tag;
    return ++this.#pos;
  }

  /** Ends the field `open` started: its length in place, content moved if longer than one byte. */
  close(start: number): void {
    const length = this.#pos - start;
    if (length < 128) {
      this.#buf[start - 1] = length;
      return;
    }
    let size = 1;
    for (let l = length >>> 7; l > 0; l >>>= 7) size++;
    this.#ensure(size - 1);
    this.#buf.copyWithin(start - 1 + size, start, this.#pos);
    const end = this.#pos + size - 1;
    this.#pos = start - 1;
    this.varint(length);
    this.#pos = end;
  }
}

/** The `profile.proto` bytes of `p` (not gzipped). */
export function encodeProto(p: Profile): Uint8Array {
  const strings = p.stringTable.strings;
  const w = new ProtoWriter(
    64 * (p.sample.length + p.location.length + p.function.length) +
      32 * strings.length,
  );
  for (const t of p.sampleType) {
    const at = w.open(10); // 1: sample_type
    w.field(8, t.type);
    w.field(16, t.unit);
    w.close(at);
  }
  for (const s of p.sample) {
    const at = w.open(18); // 2: sample
    w.packed(10, s.locationId);
    w.packed(18, s.value);
    for (const l of s.label) {
      const label = w.open(26);
      w.field(8, l.key);
      w.field(16, l.str);
      w.field(24, l.num);
      w.field(32, l.numUnit);
      w.close(label);
    }
    w.close(at);
  }
  for (const m of p.mapping) {
    const at = w.open(26); // 3: mapping
    w.field(8, m.id);
    w.field(16, m.memoryStart);
    w.field(24, m.memoryLimit);
    w.field(32, m.fileOffset);
    w.field(40, m.filename);
    w.field(48, m.buildId);
    w.field(56, m.hasFunctions);
    w.field(64, m.hasFilenames);
    w.field(72, m.hasLineNumbers);
    w.field(80, m.hasInlineFrames);
    w.close(at);
  }
  for (const l of p.location) {
    const at = w.open(34); // 4: location
    w.field(8, l.id);
    w.field(16, l.mappingId);
    w.field(24, l.address);
    for (const line of l.line) {
      const lineAt = w.open(34);
      w.field(8, line.functionId);
      w.field(16, line.line);
      w.field(24, line.column);
      w.close(lineAt);
    }
    w.field(40, l.isFolded);
    w.close(at);
  }
  for (const f of p.function) {
    const at = w.open(42); // 5: function
    w.field(8, f.id);
    w.field(16, f.name);
    w.field(24, f.systemName);
    w.field(32, f.filename);
    w.field(40, f.startLine);
    w.close(at);
  }
  for (const s of strings) w.string(50, s); // 6: string_table
  w.field(56, p.dropFrames);
  w.field(64, p.keepFrames);
  w.field(72, p.timeNanos);
  w.field(80, p.durationNanos);
  // An empty period type is the default, left out (as pprof-format does).
  if (p.periodType && (p.periodType.type || p.periodType.unit)) {
    const at = w.open(90); // 11: period_type
    w.field(8, p.periodType.type);
    w.field(16, p.periodType.unit);
    w.close(at);
  }
  w.field(96, p.period);
  w.packed(106, p.comment);
  w.field(112, p.defaultSampleType);
  w.field(120, p.docUrl);
  return w.bytes();
}
