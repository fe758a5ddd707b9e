/**
 * Every isolate of the process, from outside its event loops: a WebSocket
 * client of Deno's inspector server, run by the watcher Worker. Deno's
 * inspector thread hands each message to its isolate at once, interrupting
 * JavaScript that never yields; `Target.setAutoAttach` (flattened sessions)
 * reaches every Worker, nested ones and those started later.
 *
 * What it costs the program, and how it is kept at nothing:
 * - A connected session makes Deno hold each new Worker until a debugger
 *   lets it go (two waits of 500 ms, Deno ≥ 2.9.1). Here every Worker is
 *   attached with `waitForDebuggerOnStart` and released by
 *   `Runtime.runIfWaitingForDebugger` as soon as its profilers are set up,
 *   in the same breath (measured: `new Worker` to first reply 12 ms plain,
 *   15 ms attached).
 * - Deno keeps a program whose WebSocket sessions are connected from ending
 *   ("Waiting for the debugger to disconnect..."). `Deno.exit` tells
 *   sessions that asked (`NodeRuntime.waitingForDisconnect`); a program that
 *   simply runs out of work does not, and the only protocol event for it,
 *   `Runtime.executionContextDestroyed`, needs `Runtime.enable`, which would
 *   copy every `console` call of the program to us and keep the objects it
 *   logged alive. So the main isolate is asked every
 *   {@link END_PROBE_MS} ms for its global names, which fails once its
 *   context is gone; then the socket closes and the program exits.
 */

import type { Isolates, IsolateTarget } from "./inspector.ts";
import { program } from "./program.ts";
import { unrefInterval } from "./sleep.ts";
import { InspectorSocket } from "./websocket.ts";

/** How often the main isolate is asked whether it has ended. */
export const END_PROBE_MS = 100;

interface Pending {
  resolve(result: unknown): void;
  reject(error: Error): void;
  target: RemoteTarget;
}

type Listener = (params: never) => void;

class RemoteTarget implements IsolateTarget {
  alive = true;
  name: string;
  readonly attachedAt = Date.now();
  readonly listeners = new Map<string, Set<Listener>>();

  constructor(
    readonly owner: RemoteIsolates,
    readonly id: string,
    readonly kind: "main" | "worker",
    readonly number: number,
    readonly url: string,
  ) {
    this.name = kind === "main" ? "main" : "";
  }

  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    return this.owner.call(this, method, params) as Promise<T>;
  }

  on<T>(event: string, listener: (params: T) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, set = new Set());
    set.add(listener as Listener);
    return () => set.delete(listener as Listener);
  }
}

/** What the watcher passes when it connects. */
export interface RemoteOptions {
  /** Scripts whose isolates are not the program's (the watcher itself). */
  ignore?: (url: string) => boolean;
  /** Called once when the connection ends (the program exits, or close()). */
  onClose?: () => void;
}

export class RemoteIsolates implements Isolates {
  readonly reach = "remote";
  readonly main: IsolateTarget;
  readonly #socket: InspectorSocket;
  readonly #options: RemoteOptions;
  readonly #targets = new Map<string, RemoteTarget>();
  readonly #pending = new Map<number, Pending>();
  readonly #prepare: ((target: IsolateTarget) => void)[] = [];
  readonly #detach: ((target: IsolateTarget) => void)[] = [];
  #nextId = 1;
  #nextNumber = 1;
  #probe: number | undefined;

  private constructor(socket: InspectorSocket, options: RemoteOptions) {
    this.#socket = socket;
    this.#options = options;
    const main = new RemoteTarget(this, "main", "main", 0, program.mainModule);
    this.main = main;
    this.#targets.set(main.id, main);
    socket.onmessage = (text) => this.#receive(text);
    socket.onclose = () => this.#closed();
  }

  /**
   * Connects to the inspector at `url` (`inspector.url()`), and starts
   * attaching workers once `start()` is called (after the `onAttach` hooks
   * are in place).
   */
  static async connect(
    url: string,
    options: RemoteOptions = {},
  ): Promise<RemoteIsolates> {
    return new RemoteIsolates(await InspectorSocket.connect(url), options);
  }

  /** Attaches every worker, present and future, and watches for the program's end. */
  start(): Promise<unknown> {
    const main = this.main as RemoteTarget;
    void main.send("NodeRuntime.notifyWhenWaitingForDisconnect", {
      enabled: true,
    }).catch(() => {});
    this.#probe = unrefInterval(() => this.#probeEnd(), END_PROBE_MS);
    return main.send("Target.setAutoAttach", {
      autoAttach: true,
      waitForDebuggerOnStart: true,
      flatten: true,
    });
  }

  list(): IsolateTarget[] {
    return [...this.#targets.values()].filter((t) => t.alive);
  }

  onAttach(prepare: (target: IsolateTarget) => void): void {
    this.#prepare.push(prepare);
    for (const target of this.list()) prepare(target);
  }

  onDetach(listener: (target: IsolateTarget) => void): void {
    this.#detach.push(listener);
  }

  close(): void {
    this.#socket.close();
  }

  /** Sends a command to `target`'s session. */
  call(
    target: RemoteTarget,
    method: string,
    params: Record<string, unknown>,
  ): Promise<unknown> {
    if (!target.alive) {
      return Promise.reject(
        new IsolateGoneError(`${describe(target)} has ended`),
      );
    }
    const id = this.#nextId++;
    const message: Record<string, unknown> = { id, method, params };
    if (target.kind === "worker") message.sessionId = target.id;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, target });
      this.#socket.send(JSON.stringify(message));
    });
  }

  #receive(text: string): void {
    let message: {
      id?: number;
      result?: unknown;
      error?: { message: string };
      method?: string;
      params?: Record<string, unknown>;
      sessionId?: string;
    };
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.id !== undefined) {
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      if (message.error) {
        pending.reject(new Error(message.error.message));
      } else pending.resolve(message.result);
      return;
    }
    const method = message.method ?? "";
    const params = message.params ?? {};
    switch (method) {
      case "Target.attachedToTarget":
        this.#attached(params as never);
        return;
      case "Target.targetDestroyed":
        this.#gone(String(params.targetId));
        return;
      case "Target.detachedFromTarget":
        this.#gone(String(params.sessionId));
        return;
      case "NodeRuntime.waitingForDisconnect":
        this.close();
        return;
    }
    const target = this.#targets.get(message.sessionId ?? "main");
    for (const listener of target?.listeners.get(method) ?? []) {
      listener(params as never);
    }
  }

  #attached(params: {
    sessionId: string;
    targetInfo: { url: string };
  }): void {
    const url = params.targetInfo.url;
    const id = params.sessionId;
    const release = () =>
      this.#socket.send(JSON.stringify({
        id: this.#nextId++,
        method: "Runtime.runIfWaitingForDebugger",
        params: {},
        sessionId: id,
      }));
    if (this.#options.ignore?.(url) || this.#targets.has(id)) {
      release();
      return;
    }
    const target = new RemoteTarget(
      this,
      id,
      "worker",
      this.#nextNumber++,
      url,
    );
    this.#targets.set(id, target);
    readName(target);
    for (const prepare of this.#prepare) {
      try {
        prepare(target);
      } catch {
        // a hook's failure must not keep the worker waiting
      }
    }
    release();
  }

  #gone(id: string): void {
    const target = this.#targets.get(id);
    if (!target || target.kind === "main") return;
    this.#targets.delete(id);
    this.#end(target);
  }

  #end(target: RemoteTarget): void {
    if (!target.alive) return;
    target.alive = false;
    for (const [id, pending] of this.#pending) {
      if (pending.target !== target) continue;
      this.#pending.delete(id);
      pending.reject(new IsolateGoneError(`${describe(target)} has ended`));
    }
    for (const listener of this.#detach) listener(target);
  }

  #probeEnd(): void {
    // Fails with "Cannot find context" once the program ran out of work.
    this.main.send("Runtime.globalLexicalScopeNames").catch((error) => {
      if (/Cannot find context/.test(String(error?.message))) this.close();
    });
  }

  #closed(): void {
    clearInterval(this.#probe);
    for (const target of this.#targets.values()) this.#end(target);
    this.#options.onClose?.();
  }
}

/**
 * A worker's `name` option. A worker that waits for us has it set already;
 * one started by another worker runs at once and may not have its context
 * yet, so the question is asked again a few times.
 */
function readName(target: RemoteTarget, tries = 5): void {
  target.send<{ result: { value?: unknown } }>("Runtime.evaluate", {
    expression: "globalThis.name",
    returnByValue: true,
    silent: true,
  }).then(({ result }) => {
    if (typeof result.value === "string") target.name = result.value;
    else throw new Error("no name yet");
  }).catch(() => {
    if (tries > 1 && target.alive) {
      setTimeout(() => readName(target, tries - 1), 50);
    }
  });
}

/** A command to an isolate that has ended (or whose connection closed). */
export class IsolateGoneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IsolateGoneError";
  }
}

function describe(target: IsolateTarget): string {
  return target.kind === "main"
    ? "the main isolate"
    : `worker ${target.number} (${target.name || target.url})`;
}
