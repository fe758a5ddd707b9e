/**
 * *loop*: detects a forwarding loop back to this server (CoreDNS's *loop*).
 * Once the server is up it asks itself `RANDOM.RANDOM.ZONE HINFO`; when that
 * query comes through more than twice, queries go round in a circle (for
 * instance *forward* to an address that is this server), and the process
 * exits with `[FATAL] plugin/loop: Loop (...) detected for zone "..."`.
 * The probe is retried every second for 30 s until it gets any answer;
 * then the plugin switches itself off.
 */

import type { Dispenser } from "../../lib/corefile/mod.ts";
import {
  type DnsRequest,
  type Handler,
  type HandlerResult,
  nextOrFailure,
  qname,
  type ResponseWriter,
} from "../../lib/dns/handler.ts";
import { isSubDomain, normalizeZones } from "../../lib/dns/names.ts";
import { Upstream } from "../../lib/dns/upstream.ts";
import { newQuery } from "../../lib/dns/wire.ts";
import { logSink } from "../../lib/log.ts";
import { OnceError } from "../../lib/server/errors.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";

/** Parses the block's `loop` line: no arguments, once per block. */
export function parseLoop(d: Dispenser, keys: readonly string[]): string {
  let seen = false;
  while (d.next()) {
    if (seen) throw new OnceError();
    seen = true;
    if (d.nextArg()) throw d.argErr();
  }
  return keys.length > 0 ? normalizeZones(keys[0]!)[0] ?? "." : ".";
}

function randomLabel(): string {
  const [a, b] = crypto.getRandomValues(new Uint32Array(2));
  return String((BigInt(a!) << 30n) ^ BigInt(b!));
}

/** `[FATAL] plugin/loop: ...`, then exit 1, as CoreDNS's `log.Fatalf`. */
function fatal(message: string): void {
  logSink(`[FATAL] plugin/loop: ${message}`);
  Deno.exit(1);
}

export class Loop implements Handler {
  readonly name = "loop";
  readonly qname: string;
  next: Handler | undefined;
  seen = 0;
  disabled = false;
  address = "";

  constructor(
    readonly zone: string,
    readonly onLoop: (message: string) => void = fatal,
  ) {
    this.qname = zone === "."
      ? `${randomLabel()}.${randomLabel()}.`
      : `${randomLabel()}.${randomLabel()}.${zone}`;
  }

  serveDNS(w: ResponseWriter, r: DnsRequest): Promise<HandlerResult> {
    const q = r.msg.question[0];
    if (q?.type !== "HINFO" || this.disabled) {
      return nextOrFailure(this.name, this.next, w, r);
    }
    const name = qname(r);
    if (!isSubDomain(this.zone, name)) {
      return nextOrFailure(this.name, this.next, w, r);
    }
    if (name === this.qname) this.seen++;
    if (this.seen > 2) {
      const remote = r.remote.ip.includes(":")
        ? `[${r.remote.ip}]:${r.remote.port}`
        : `${r.remote.ip}:${r.remote.port}`;
      this.disabled = true;
      this.onLoop(
        `Loop (${remote} -> ${this.address}) detected for zone "${this.zone}", ` +
          `see https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO ${this.qname}"`,
      );
    }
    return nextOrFailure(this.name, this.next, w, r);
  }

  /** Sends the probe to `port` until any answer comes, for up to 30 s. */
  async probe(port: number, signal: AbortSignal): Promise<void> {
    this.address = `:${port}`;
    const upstream = new Upstream("127.0.0.1", port, { readTimeoutMs: 2000 });
    const deadline = performance.now() + 30_000;
    try {
      while (
        performance.now() < deadline && !signal.aborted && !this.disabled
      ) {
        try {
          await upstream.exchange(
            newQuery({ name: this.qname, type: "HINFO", class: "IN" }),
            "udp",
          );
          break;
        } catch {
          this.seen = 0;
          await new Promise((resolve) => {
            const timer = setTimeout(resolve, 1000);
            Deno.unrefTimer(timer);
          });
        }
      }
    } finally {
      upstream.stop();
      this.disabled = true;
    }
  }
}

/** The port of a `dns://zone:port` key; undefined for other transports. */
function dnsPort(key: string): number | undefined {
  const m = /^dns:\/\/.*:(\d+)$/.exec(key);
  return m === null ? undefined : Number(m[1]);
}

function setup(c: Controller): void {
  const zone = parseLoop(c.dispenser, c.keys);
  const loop = new Loop(zone);
  c.use((next) => {
    loop.next = next;
    return loop;
  });
  const stop = new AbortController();
  c.onStarted(() => {
    const port = c.keys.map(dnsPort).find((p) => p !== undefined);
    if (port !== undefined && port !== 0) void loop.probe(port, stop.signal);
  });
  c.onShutdown(() => stop.abort());
}

export const loop: Plugin = { name: "loop", setup };
