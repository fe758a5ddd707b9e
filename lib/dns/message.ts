/**
 * The DNS message as coredeno's code reads it (miekg/dns's `Msg`): header
 * bits by name, a full 12-bit rcode, the EDNS0 OPT record apart from the
 * additional section; records and questions as `dns-packet` spells them.
 * Types only, shared by `wire.ts` (decode) and `encode.ts`.
 *
 * @module
 */

/**
 * A resource record other than OPT, as `dns-packet` spells it: `data` is an
 * address string for A/AAAA, a name for CNAME/NS/PTR, `{ priority, weight,
 * port, target }` for SRV, strings or bytes for TXT, raw bytes when unknown.
 */
export interface Rr {
  type: string;
  name: string;
  class?: string;
  ttl?: number;
  data: unknown;
}

/** An EDNS0 option, as `dns-packet` spells it (`code`, and `data` or decoded fields). */
export interface EdnsOption {
  code: number;
  type?: string;
  data?: Uint8Array;
  [field: string]: unknown;
}

export interface Question {
  /** Fully qualified, as received (case kept); the root is `.`. */
  name: string;
  /** `A`, `AAAA`, `UNKNOWN_65280`, as `dns-packet` spells types. */
  type: string;
  /** `IN`, `CH`, `UNKNOWN_254`. */
  class: string;
}

export interface Edns {
  udpSize: number;
  version: number;
  do: boolean;
  options: EdnsOption[];
}

/** A DNS message (miekg/dns's `Msg`). */
export interface Message {
  id: number;
  response: boolean;
  opcode: number;
  authoritative: boolean;
  truncated: boolean;
  recursionDesired: boolean;
  recursionAvailable: boolean;
  zero: boolean;
  authenticatedData: boolean;
  checkingDisabled: boolean;
  /** Up to 12 bits: the upper 8 travel in the OPT record. */
  rcode: number;
  question: Question[];
  answer: Rr[];
  ns: Rr[];
  /** The additional section without the OPT record. */
  extra: Rr[];
  /** The OPT record, when there is one. */
  edns?: Edns;
}
