/**
 * One DNS server: the zones that share a listen address, and CoreDNS's
 * `Server.ServeDNS` around their plugin chains (corefile.md §3.3): the
 * message checks of miekg/dns, routing to the most specific zone, the
 * answers when nothing answers, and the "scrub" that fits a reply to the
 * client's buffer.
 *
 * @module
 */

import { message } from "../errors.ts";
import { log } from "../log.ts";
import {
  bufsize,
  clientWrote,
  type DnsRequest,
  type Endpoint,
  type Handler,
  type ResponseWriter,
} from "./handler.ts";
import {
  answerPlainQuery,
  plainName,
  type PlainShape,
  readPlainQuery,
} from "./plain.ts";
import {
  decodeHeader,
  decodeMessage,
  type Edns,
  encodeMessage,
  encodeTruncated,
  findOpt,
  MAX_MSG_SIZE,
  type Message,
  OPCODE,
  RCODE,
  replyTo,
} from "./wire.ts";

/** EDNS0 options a reply may echo (CoreDNS's `edns.SupportedOptions`): NSID, EXPIRE, COOKIE, TCP-KEEPALIVE, PADDING. */
const SUPPORTED_OPTIONS = new Set([3, 9, 10, 11, 12]);
/** The DS type code. */
const DS = 43;
const OPT_TYPE = 41;

/** How a transport delivers a query and takes the reply. */
export interface Exchange {
  proto: "udp" | "tcp";
  remote: Endpoint;
  local: Endpoint;
  send(reply: Uint8Array): Promise<void>;
}

export class DnsServer {
  readonly #zones: Map<string, Handler | undefined>;
  /** The chain every query goes to when the root is the only zone. */
  readonly #rootOnly: Handler | undefined;

  /**
   * @param address `dns://:1053`, for messages
   * @param zones zone → its block's chain (undefined: a block with no DNS plugin)
   */
  constructor(
    readonly address: string,
    zones: ReadonlyMap<string, Handler | undefined>,
  ) {
    this.#zones = new Map(zones);
    this.#rootOnly = this.#zones.size === 1 ? this.#zones.get(".") : undefined;
  }

  /**
   * The reply to a plain query (plain.ts) when the chain it goes to is
   * headed by a handler that answers plain queries, written at once; else
   * undefined, and the query takes `serve`. `bytes` is only read during the
   * call.
   */
  answerPlain(
    bytes: Uint8Array,
    proto: "udp" | "tcp",
    remote: Endpoint,
  ): Uint8Array | undefined {
    const q = readPlainQuery(bytes);
    if (q === undefined) return undefined;
    const chain = this.#rootOnly ??
      this.#route(plainName(bytes, q.nameEnd), q.type === DS);
    if (chain?.answerPlain === undefined) return undefined;
    try {
      return answerPlainQuery(
        bytes,
        q,
        proto,
        remote,
        chain.answerPlain,
        this.address,
      );
    } catch {
      return undefined; // serveDNS answers, or reports, as it always did
    }
  }

  /** Answers one message; never throws. */
  async serve(bytes: Uint8Array, x: Exchange): Promise<void> {
    try {
      await this.#serve(bytes, x);
    } catch (error) {
      log(
        "ERROR",
        `Recovered from panic in server: "${this.address}" ${message(error)}`,
      );
    }
  }

  async #serve(bytes: Uint8Array, x: Exchange): Promise<void> {
    const wire = this.#serveWire(bytes, x);
    if (wire !== undefined) return await wire;
    // miekg/dns's DefaultMsgAcceptFunc: a short header or a response is
    // dropped (any reply could amplify), odd shapes get FORMERR or NOTIMP.
    const header = decodeHeader(bytes);
    if (header === undefined || header.response) return;
    let reject: number | undefined;
    if (header.opcode !== OPCODE.QUERY && header.opcode !== OPCODE.NOTIFY) {
      reject = RCODE.NOTIMP;
    } else if (
      header.qdcount !== 1 || header.ancount > 1 || header.nscount > 1 ||
      header.arcount > 2
    ) reject = RCODE.FORMERR;
    let msg: Message | undefined;
    if (reject === undefined) {
      try {
        msg = decodeMessage(bytes);
      } catch {
        reject = RCODE.FORMERR;
      }
    }
    if (reject !== undefined || msg === undefined) {
      await x.send(encodeMessage(rejection(bytes, reject ?? RCODE.FORMERR)));
      return;
    }
    const r: DnsRequest = {
      msg,
      length: bytes.length,
      proto: x.proto,
      remote: x.remote,
      local: x.local,
      server: this.address,
    };
    const raw: ResponseWriter = {
      writeMsg: (m) => x.send(encodeMessage(m)),
    };
    const question = msg.question[0]!;
    if (question.class !== "IN") {
      await writeError(raw, r, RCODE.REFUSED);
      return;
    }
    if (msg.edns !== undefined && msg.edns.version !== 0) {
      const reply = replyTo(msg, RCODE.BADVERS);
      reply.question = [];
      reply.edns = {
        udpSize: msg.edns.udpSize,
        version: 0,
        do: false,
        options: [],
      };
      await raw.writeMsg(reply);
      return;
    }
    const w = scrubWriter(x, r);
    const chain = this.#route(
      question.name.toLowerCase(),
      question.type === "DS",
    );
    if (chain === undefined) {
      await writeError(w, r, RCODE.REFUSED);
      return;
    }
    await this.#run(chain, w, r);
  }

  /**
   * A plain query whose chain is headed by a handler with `serveWire`,
   * answered on the wire: the reply fitted as `scrubWriter` fits one, an
   * rcode answered as `writeError` does. Undefined, synchronously, when the
   * head leaves it to `serve` (most chains: no promise for them).
   */
  #serveWire(bytes: Uint8Array, x: Exchange): Promise<void> | undefined {
    const q = readPlainQuery(bytes);
    if (q === undefined) return undefined;
    const name = plainName(bytes, q.nameEnd);
    const chain = this.#rootOnly ?? this.#route(name, q.type === DS);
    const answering = chain?.serveWire?.({ bytes, name, proto: x.proto });
    if (answering === undefined) return undefined;
    return this.#answerWire(answering, bytes, q, x);
  }

  async #answerWire(
    answering: Promise<Uint8Array | number>,
    bytes: Uint8Array,
    q: PlainShape,
    x: Exchange,
  ): Promise<void> {
    let reply: Uint8Array;
    try {
      const answer = await answering;
      reply = typeof answer === "number"
        ? errorReply(bytes, q, answer, x)
        : scrubWire(answer, q, x.proto);
    } catch (error) {
      log(
        "ERROR",
        `Recovered from panic in server: "${this.address}" ${message(error)}`,
      );
      reply = errorReply(bytes, q, RCODE.SERVFAIL, x);
    }
    await x.send(reply);
  }

  /**
   * The chain of the most specific zone holding `name` (lower case), or
   * undefined to refuse: no zone holds it, or the zone has no DNS plugin
   * (there is no fallback to a parent then). DS belongs to the parent: the
   * least specific zone holding it answers.
   */
  #route(name: string, ds: boolean): Handler | undefined {
    let dsHandler: Handler | undefined;
    for (let off = 0;;) {
      const zone = name.slice(off);
      if (this.#zones.has(zone)) {
        const chain = this.#zones.get(zone);
        if (chain === undefined) return undefined;
        if (!ds) return chain;
        dsHandler = chain;
      }
      const dot = nextLabel(name, off);
      if (dot === undefined) break;
      off = dot;
    }
    return dsHandler ?? this.#zones.get(".");
  }

  async #run(chain: Handler, w: ResponseWriter, r: DnsRequest): Promise<void> {
    let rcode: number;
    try {
      [rcode] = await chain.serveDNS(w, r);
    } catch (error) {
      log(
        "ERROR",
        `Recovered from panic in server: "${this.address}" ${message(error)}`,
      );
      rcode = RCODE.SERVFAIL;
    }
    if (!clientWrote(rcode)) await writeError(w, r, rcode);
  }
}

/** The offset of the next label of `name` (miekg's `NextLabel`); undefined at the end. */
function nextLabel(name: string, off: number): number | undefined {
  for (let i = off; i < name.length - 1; i++) {
    if (name[i] === "\\") {
      i++;
      continue;
    }
    if (name[i] === ".") return i + 1;
  }
  return undefined;
}

/** miekg/dns's answer to a message it will not serve: the header back, with the rcode. */
function rejection(bytes: Uint8Array, rcode: number): Message {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bits = view.getUint16(2);
  const opcode = (bits >> 11) & 0xf;
  return {
    id: view.getUint16(0),
    response: true,
    opcode: rcode === RCODE.NOTIMP ? opcode : OPCODE.QUERY,
    authoritative: false,
    truncated: (bits & 0x200) !== 0,
    recursionDesired: (bits & 0x100) !== 0,
    recursionAvailable: (bits & 0x80) !== 0,
    zero: false,
    authenticatedData: (bits & 0x20) !== 0,
    checkingDisabled: (bits & 0x10) !== 0,
    rcode,
    question: [],
    answer: [],
    ns: [],
    extra: [],
  };
}

/** CoreDNS's `errorFunc`: an empty reply with `rcode`, plus OPT when the query had one. */
function writeError(
  w: ResponseWriter,
  r: DnsRequest,
  rcode: number,
): Promise<void> {
  const reply = replyTo(r.msg, rcode);
  sizeAndDo(r, reply);
  return w.writeMsg(reply);
}

/**
 * CoreDNS's `request.SizeAndDo`: when the query had an OPT record, the reply
 * has one too, version 0, advertising the client's size, with the DO bit
 * echoed and only options CoreDNS supports.
 */
function sizeAndDo(r: DnsRequest, reply: Message): void {
  askedEdns(r.msg.edns, reply);
}

/** `sizeAndDo` for a query whose OPT record was `asked`. */
function askedEdns(asked: Edns | undefined, reply: Message): void {
  if (asked === undefined) return;
  const edns: Edns = reply.edns ?? {
    udpSize: asked.udpSize,
    version: 0,
    do: false,
    options: asked.options.filter((o) =>
      SUPPORTED_OPTIONS.has(typeof o.code === "number" ? o.code : -1)
    ),
  };
  edns.version = 0;
  edns.udpSize = asked.udpSize;
  edns.do = reply.edns === undefined ? asked.do : edns.do || asked.do;
  reply.edns = edns;
}

/**
 * CoreDNS's `ScrubWriter`: EDNS0 as the query had it, truncated to the
 * client's buffer; one encode either way.
 */
function scrubWriter(x: Exchange, r: DnsRequest): ResponseWriter {
  return {
    writeMsg(m) {
      sizeAndDo(r, m);
      return x.send(encodeTruncated(m, bufsize(r)));
    },
  };
}

/** `writeError`'s reply to the plain query `bytes` (shape `q`). */
function errorReply(
  bytes: Uint8Array,
  q: PlainShape,
  rcode: number,
  x: Exchange,
): Uint8Array {
  const reply = answerPlainQuery(bytes, q, x.proto, x.remote, () => ({
    authoritative: false,
    flags: rcode & 0xf,
    end: q.nameEnd + 4,
    ancount: 0,
    nscount: 0,
    arcount: 0,
  }));
  // An empty reply always fits; an extended rcode takes the general encoder.
  if (reply !== undefined && rcode <= 0xf) return reply;
  const m = replyTo(decodeMessage(bytes), rcode);
  askedEdns(plainEdns(q), m);
  return encodeMessage(m);
}

/** The OPT record of a plain query (no options), or undefined without one. */
function plainEdns(q: PlainShape): Edns | undefined {
  return q.udpSize < 0
    ? undefined
    : { udpSize: q.udpSize, version: 0, do: q.dnssecOk, options: [] };
}

/**
 * A whole reply (`reply`, the handler's own copy) fitted to the plain query
 * `q` as `scrubWriter` fits a message: its OPT record made the client's
 * (size, version 0, DO echoed) in place, or one added, when it fits;
 * otherwise decoded, fitted and truncated by the encoder.
 */
function scrubWire(
  reply: Uint8Array,
  q: PlainShape,
  proto: "udp" | "tcp",
): Uint8Array {
  const limit = proto === "tcp" ? MAX_MSG_SIZE : Math.max(q.udpSize, 512);
  const fitted = q.udpSize < 0 ? reply : withClientOpt(reply, q);
  if (fitted !== undefined && fitted.length <= limit) return fitted;
  const m = decodeMessage(reply);
  askedEdns(plainEdns(q), m);
  return encodeTruncated(m, limit);
}

/**
 * `reply` with its OPT record set as `askedEdns` sets it for the plain
 * query `q` (which has one), or undefined when `findOpt` cannot walk it
 * (decode it then).
 */
function withClientOpt(
  reply: Uint8Array,
  q: PlainShape,
): Uint8Array | undefined {
  const opt = findOpt(reply);
  if (opt === undefined) return undefined;
  const size = q.udpSize || 4096; // as the encoder writes a size of 0
  if (opt >= 0) {
    reply[opt + 2] = size >> 8;
    reply[opt + 3] = size & 0xff;
    reply[opt + 5] = 0; // version
    if (q.dnssecOk) reply[opt + 6]! |= 0x80;
    return reply;
  }
  const added = new Uint8Array(reply.length + 11);
  added.set(reply);
  const arcount = (reply[10]! << 8 | reply[11]!) + 1;
  added[10] = arcount >> 8;
  added[11] = arcount & 0xff;
  // The root owns it; TYPE OPT, the size as CLASS; TTL: extended rcode
  // and version 0, the DO bit; no data.
  added.set([0, 0, OPT_TYPE, size >> 8, size & 0xff], reply.length);
  added.set([0, 0, q.dnssecOk ? 0x80 : 0, 0, 0, 0], reply.length + 5);
  return added;
}
