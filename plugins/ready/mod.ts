/**
 * *ready*: `ready [ADDRESS] { monitor until-ready|continuously }`, default
 * `:8181`, once per block, one listener per address. `/ready` answers 200
 * `OK` when every plugin that reports readiness is ready (none of
 * coredeno's plugins has a state to wait for, so that is as soon as it
 * listens), and 503 `Shutting down` once the process is exiting.
 */

import { parsePort, splitHostPort } from "../../lib/net/host_port.ts";
import {
  acquireHttpListener,
  type HttpListener,
  type ListenAddress,
  reportPort,
} from "../../lib/net/http_listeners.ts";
import { OnceError } from "../../lib/server/errors.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";

export const DEFAULT_READY_ADDRESS = ":8181";

const MONITOR_TYPES = new Set(["until-ready", "continuously"]);

export interface ReadyConfig extends ListenAddress {
  monitor: "until-ready" | "continuously";
}

/** Parses the block's `ready` line; throws CoreDNS's errors. */
export function parseReady(c: Controller): ReadyConfig {
  const d = c.dispenser;
  let address = DEFAULT_READY_ADDRESS;
  let monitor: ReadyConfig["monitor"] = "until-ready";
  let seen = false;
  while (d.next()) {
    if (seen) throw new OnceError();
    seen = true;
    const args = d.remainingArgs();
    if (args.length > 1) throw d.argErr();
    if (args.length === 1) {
      address = args[0]!;
      splitHostPort(address);
    }
    while (d.nextBlock()) {
      if (d.val() !== "monitor") throw d.argErr();
      const value = d.remainingArgs();
      if (value.length !== 1) throw d.argErr();
      if (!MONITOR_TYPES.has(value[0]!)) {
        throw d.err(`monitor type '${value[0]}' not supported`);
      }
      monitor = value[0] as ReadyConfig["monitor"];
    }
  }
  const { host, port } = splitHostPort(address);
  return { address, host, port: parsePort(address, port), monitor };
}

function text(body: string, status: number, request: Request): Response {
  return new Response(request.method === "HEAD" ? null : body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/** The HTTP handler; `shuttingDown` is read per request. */
export function readyHandler(shuttingDown: () => boolean) {
  return (request: Request): Response => {
    if (new URL(request.url).pathname !== "/ready") {
      return new Response("404 page not found\n", {
        status: 404,
        headers: {
          "content-type": "text/plain; charset=utf-8",
          "x-content-type-options": "nosniff",
        },
      });
    }
    if (shuttingDown()) return text("Shutting down", 503, request);
    return text("OK", 200, request);
  };
}

function setup(c: Controller): void {
  const config = parseReady(c);
  const addresses = c.shared("ready", () => new Set<string>());
  const key = `${config.host.toLowerCase()}:${config.port}`;
  if (addresses.has(key)) return; // CoreDNS's uniq registry: one per address
  addresses.add(key);
  let listener: HttpListener | undefined;
  let shuttingDown = false;
  c.onStartup(() => {
    listener = acquireHttpListener(config, readyHandler(() => shuttingDown));
    reportPort("ready", config, listener);
  });
  c.onFinalShutdown(() => {
    shuttingDown = true;
  });
  c.onShutdown(async () => {
    await listener?.release();
    listener = undefined;
  });
}

export const ready: Plugin = { name: "ready", setup };
