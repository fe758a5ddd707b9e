/**
 * Debian's `unbound` for the resolver suite, on 127.0.0.1 and a free port,
 * one thread, no daemon, nothing asked of the Internet: either an authority
 * for local data under a static zone `.` (the approach of
 * tests/dns/_unbound.ts), or a resolver that forwards everything to such an
 * authority: caching, so it answers repeated names from its own cache, or
 * keeping answers 0 s, so it forwards every query.
 */

import { unboundServerClause } from "../tools/unbound_conf.ts";
import dgram from "node:dgram";
import { type Child, freeDnsPort, spawn } from "./harness.ts";

export interface UnboundServer {
  port: number;
  child: Child;
}

/** Starts unbound with `options` added to its `server:` clause. */
export async function startUnbound(
  path: string,
  options: {
    /** `local-data` records, answered under a static zone `.`. */
    data?: string[];
    /** Forward every query to this 127.0.0.1 port, caching the answers. */
    forwardTo?: number;
    /** With false, answers are kept for 0 s: every query is forwarded. */
    cache?: boolean;
    /** A name `probe` waits for an answer to. */
    probe: string;
  },
): Promise<UnboundServer> {
  const port = await freeDnsPort();
  const dir = await Deno.makeTempDir({ prefix: "coredeno-bench-unbound-" });
  const conf = [
    ...unboundServerClause(port),
    // The same names asked again and again: no per-client or per-name limits.
    "  ratelimit: 0",
    "  ip-ratelimit: 0",
    ...(options.data
      ? [
        '  local-zone: "." static',
        ...options.data.map((rr) => `  local-data: '${rr}'`),
      ]
      : []),
    ...(options.forwardTo
      ? [
        // test. is one of unbound's default local zones (RFC 6761): forward it.
        '  local-zone: "test." nodefault',
        ...(options.cache === false
          ? ["  cache-max-ttl: 0", "  cache-max-negative-ttl: 0"]
          : []),
        "forward-zone:",
        '  name: "."',
        `  forward-addr: 127.0.0.1@${options.forwardTo}`,
      ]
      : []),
    "remote-control:",
    "  control-enable: no",
    "",
  ].join("\n");
  await Deno.writeTextFile(`${dir}/unbound.conf`, conf);
  const child = spawn(path, ["-d", "-c", `${dir}/unbound.conf`], { cwd: dir });
  const stop = child.stop;
  child.stop = async () => {
    await stop();
    await Deno.remove(dir, { recursive: true });
  };
  const deadline = performance.now() + 10_000;
  while (!(await answers(port, options.probe))) {
    if (performance.now() > deadline) {
      await child.stop();
      throw new Error(`unbound did not answer on ${port}:\n${child.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, child };
}

/** An A query for `name` in DNS wire format, recursion desired. */
function query(name: string): Uint8Array {
  const labels = name.replace(/\.$/, "").split(".").flatMap((label) => [
    label.length,
    ...new TextEncoder().encode(label),
  ]);
  return new Uint8Array([
    0x12,
    0x34,
    0x01,
    0x00,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    ...labels,
    0,
    0,
    1,
    0,
    1,
  ]);
}

/** Whether 127.0.0.1:`port` answers an A query for `name` with NOERROR within 300 ms. */
export function answers(port: number, name: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket("udp4");
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 300);
    socket.once("error", () => done(false));
    socket.once("message", (reply: Uint8Array) => {
      // QR set and RCODE 0.
      done(
        reply.length > 3 && (reply[2]! & 0x80) !== 0 && (reply[3]! & 15) === 0,
      );
    });
    // Bound to loopback: the bench may use 127.0.0.1 only.
    socket.bind(
      0,
      "127.0.0.1",
      () => socket.send(query(name), port, "127.0.0.1"),
    );
  });
}
