/**
 * Calls between the main thread and the watcher Worker over their message
 * port: `call` waits for the other side's handler to answer, `notify` does
 * not. Errors cross as their message (and class name).
 */

/** A message on the port. */
export interface Message {
  op: string;
  /** Set on calls that want a reply, and on the reply. */
  rpc?: number;
  [key: string]: unknown;
}

type Handler = (message: Message) => unknown;

export class Rpc {
  readonly #send: (message: Message, transfer?: ArrayBuffer[]) => void;
  readonly #handlers = new Map<string, Handler>();
  readonly #waiting = new Map<
    number,
    { resolve(value: unknown): void; reject(error: Error): void }
  >();
  #next = 1;
  #closed: Error | undefined;

  constructor(send: (message: Message, transfer?: ArrayBuffer[]) => void) {
    this.#send = send;
  }

  /** Registers what answers `op`; its result (or promise) is the reply. */
  handle(op: string, handler: Handler): void {
    this.#handlers.set(op, handler);
  }

  call<T>(
    op: string,
    payload: Record<string, unknown> = {},
    transfer?: ArrayBuffer[],
  ): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closed);
    const rpc = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(rpc, { resolve: resolve as never, reject });
      this.#send({ ...payload, op, rpc }, transfer);
    });
  }

  notify(
    op: string,
    payload: Record<string, unknown> = {},
    transfer?: ArrayBuffer[],
  ): void {
    if (!this.#closed) this.#send({ ...payload, op }, transfer);
  }

  /** Delivers one message from the other side. */
  receive(message: Message): void {
    if (message.op === "reply") {
      const waiter = this.#waiting.get(message.rpc!);
      if (!waiter) return;
      this.#waiting.delete(message.rpc!);
      if (message.error !== undefined) {
        const error = new Error(String(message.error));
        error.name = String(message.errorName ?? "Error");
        waiter.reject(error);
      } else waiter.resolve(message.result);
      return;
    }
    const handler = this.#handlers.get(message.op);
    const rpc = message.rpc;
    if (!handler) {
      if (rpc !== undefined) {
        this.#send({ op: "reply", rpc, error: `no handler for ${message.op}` });
      }
      return;
    }
    let result: unknown;
    try {
      result = handler(message);
    } catch (error) {
      result = Promise.reject(error);
    }
    if (rpc === undefined) {
      Promise.resolve(result).catch(() => {});
      return;
    }
    Promise.resolve(result).then(
      (value) => {
        const reply = value as { result?: unknown; transfer?: ArrayBuffer[] };
        if (value instanceof Transfer) {
          this.#send(
            { op: "reply", rpc, result: reply.result },
            reply.transfer,
          );
        } else this.#send({ op: "reply", rpc, result: value });
      },
      (error) =>
        this.#send({
          op: "reply",
          rpc,
          error: error instanceof Error ? error.message : String(error),
          errorName: error instanceof Error ? error.name : "Error",
        }),
    );
  }

  /** Fails every waiting call (the other side is gone). */
  close(reason: Error): void {
    this.#closed = reason;
    for (const waiter of this.#waiting.values()) waiter.reject(reason);
    this.#waiting.clear();
  }
}

/** A handler's result with buffers to move, not copy. */
export class Transfer {
  constructor(readonly result: unknown, readonly transfer: ArrayBuffer[]) {}
}
