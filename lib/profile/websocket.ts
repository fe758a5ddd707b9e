/**
 * The smallest WebSocket client the inspector needs: text frames over one
 * TCP connection to Deno's inspector server, on loopback.
 *
 * Why not the platform's `WebSocket`: the inspector server writes with
 * Nagle's algorithm on, and a client that delays its ACKs (Linux does, up
 * to 40 ms) then holds every notification that follows an unanswered one.
 * Measured in Deno 2.9.6: a new Worker's `Target.attachedToTarget`, sent
 * right after the previous worker's `targetDestroyed`, arrived 41 ms late,
 * and so the worker started 44 ms after `new Worker` instead of 12 ms. Here
 * every read is answered at once by an empty unsolicited pong (RFC 6455
 * §5.5.3 allows it; the server ignores it), which carries the ACK, and our
 * own writes go out with `TCP_NODELAY`.
 */

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PONG = 0xa;
const FIN = 0x80;
const MASKED = 0x80;
/** An empty, masked pong (the mask of an empty payload is irrelevant). */
const EMPTY_PONG = new Uint8Array([FIN | OP_PONG, MASKED, 0, 0, 0, 0]);

export class InspectorSocket {
  #conn: Deno.TcpConn;
  #pending: Uint8Array = new Uint8Array(0);
  #fragments: Uint8Array[] = [];
  #writes: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #decoder = new TextDecoder();
  readonly #encoder = new TextEncoder();
  /** Called with each text message. */
  onmessage: (text: string) => void = () => {};
  /** Called once, when the connection ends for any reason. */
  onclose: () => void = () => {};

  private constructor(conn: Deno.TcpConn, rest: Uint8Array) {
    this.#conn = conn;
    this.#pending = rest;
  }

  /** Connects and completes the opening handshake; rejects with the server's status line otherwise. */
  static async connect(url: string): Promise<InspectorSocket> {
    const target = new URL(url);
    const conn = await Deno.connect({
      hostname: target.hostname,
      port: Number(target.port),
    });
    try {
      conn.setNoDelay(true);
      const key = btoa(
        String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))),
      );
      await writeAll(
        conn,
        new TextEncoder().encode(
          `GET ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\n` +
            `Upgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        ),
      );
      const rest = await readHandshake(conn);
      const socket = new InspectorSocket(conn, rest);
      socket.#readLoop();
      return socket;
    } catch (error) {
      conn.close();
      throw error;
    }
  }

  /** Sends one text message (masked, as a client must). */
  send(text: string): void {
    if (this.#closed) return;
    const payload = this.#encoder.encode(text);
    const length = payload.length;
    const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
    const frame = new Uint8Array(header + 4 + length);
    frame[0] = FIN | OP_TEXT;
    if (length < 126) {
      frame[1] = MASKED | length;
    } else if (length < 65536) {
      frame[1] = MASKED | 126;
      frame[2] = length >> 8;
      frame[3] = length & 0xff;
    } else {
      frame[1] = MASKED | 127;
      new DataView(frame.buffer).setBigUint64(2, BigInt(length));
    }
    const mask = crypto.getRandomValues(new Uint8Array(4));
    frame.set(mask, header);
    const body = header + 4;
    for (let i = 0; i < length; i++) {
      frame[body + i] = payload[i]! ^ mask[i & 3]!;
    }
    this.#write(frame);
  }

  /** Closes the connection at once (the server sees the session end). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already gone
    }
    this.onclose();
  }

  get closed(): boolean {
    return this.#closed;
  }

  #write(bytes: Uint8Array): void {
    const conn = this.#conn;
    this.#writes = this.#writes.then(() => writeAll(conn, bytes)).catch(
      () => this.close(),
    );
  }

  async #readLoop(): Promise<void> {
    const chunk = new Uint8Array(1 << 16);
    try {
      while (!this.#closed) {
        if (!this.#drainFrames()) return;
        const n = await this.#conn.read(chunk);
        if (n === null) break;
        this.#write(EMPTY_PONG);
        const merged = new Uint8Array(this.#pending.length + n);
        merged.set(this.#pending);
        merged.set(chunk.subarray(0, n), this.#pending.length);
        this.#pending = merged;
      }
    } catch {
      // a reset or a local close: the connection is over either way
    }
    this.close();
  }

  /** Delivers every complete frame buffered; false once a close frame came. */
  #drainFrames(): boolean {
    for (;;) {
      const b = this.#pending;
      if (b.length < 2) return true;
      let length = b[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) return true;
        length = (b[2]! << 8) | b[3]!;
        offset = 4;
      } else if (length === 127) {
        if (b.length < 10) return true;
        length = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(2));
        offset = 10;
      }
      if (b.length < offset + length) return true;
      const opcode = b[0]! & 0x0f;
      const fin = (b[0]! & FIN) !== 0;
      const payload = b.subarray(offset, offset + length);
      this.#pending = b.subarray(offset + length);
      if (opcode === OP_CLOSE) {
        this.close();
        return false;
      }
      if (opcode !== OP_TEXT && opcode !== OP_CONTINUATION) continue;
      this.#fragments.push(payload.slice());
      if (!fin) continue;
      const parts = this.#fragments;
      this.#fragments = [];
      const whole = parts.length === 1 ? parts[0]! : concat(parts);
      this.onmessage(this.#decoder.decode(whole));
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** Reads the HTTP response to the upgrade; returns the bytes after it. */
async function readHandshake(conn: Deno.Conn): Promise<Uint8Array> {
  let head: Uint8Array = new Uint8Array(0);
  const chunk = new Uint8Array(4096);
  for (;;) {
    const n = await conn.read(chunk);
    if (n === null) throw new Error("the inspector closed the connection");
    head = concat([head, chunk.subarray(0, n)]);
    const end = indexOfBlankLine(head);
    if (end < 0) {
      if (head.length > 16384) {
        throw new Error("the inspector's answer is too long");
      }
      continue;
    }
    const status = new TextDecoder().decode(head.subarray(0, end)).split(
      "\r\n",
    )[0]!;
    if (!/^HTTP\/1\.1 101 /.test(status)) {
      throw new Error(`the inspector refused the connection: ${status}`);
    }
    return head.slice(end + 4);
  }
}

function indexOfBlankLine(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (
      bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 &&
      bytes[i + 3] === 10
    ) return i;
  }
  return -1;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
