/**
 * *health*: `health [ADDRESS] { lameduck DURATION }`, default `:8080`, the
 * last line of a block wins. `/health` answers 200 `OK` to any method while
 * the process runs; other paths are Go's 404. Blocks naming one address
 * share one listener, and so do the old and new configuration during a
 * reload: the address keeps answering throughout (CoreDNS closes it for a
 * moment). `lameduck` keeps everything serving that long at exit.
 */

import { parseDuration } from "../../lib/duration.ts";
import { parsePort, splitHostPort } from "../../lib/net/host_port.ts";
import {
  acquireHttpListener,
  type HttpListener,
  type ListenAddress,
  reportPort,
} from "../../lib/net/http_listeners.ts";
import { pluginLogger } from "../../lib/log.ts";
import { formatDuration } from "../../lib/duration.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";
import { message } from "../../lib/errors.ts";

export const DEFAULT_HEALTH_ADDRESS = ":8080";

export interface HealthConfig extends ListenAddress {
  lameduckNanos: number;
}

/** Parses the block's `health` lines; the last one wins, as in CoreDNS. */
export function parseHealth(c: Controller): HealthConfig {
  const d = c.dispenser;
  let address = DEFAULT_HEALTH_ADDRESS;
  let lameduckNanos = 0;
  while (d.next()) {
    const args = d.remainingArgs();
    if (args.length > 1) throw d.argErr();
    // CoreDNS returns SplitHostPort's error bare here: no file and line.
    if (args.length === 1) {
      address = args[0]!;
      splitHostPort(address);
    }
    while (d.nextBlock()) {
      if (d.val() !== "lameduck") throw d.argErr();
      const value = d.remainingArgs();
      if (value.length !== 1) throw d.argErr();
      try {
        lameduckNanos = parseDuration(value[0]!);
      } catch (error) {
        throw new Error(
          `unable to parse lameduck duration value: '${value[0]}' : ${
            message(error)
          }`,
        );
      }
    }
  }
  const { host, port } = splitHostPort(address);
  return { address, host, port: parsePort(address, port), lameduckNanos };
}

/** Go's `http.NotFound`. */
function notFound(): Response {
  return new Response("404 page not found\n", {
    status: 404,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "x-content-type-options": "nosniff",
    },
  });
}

/** The HTTP handler: `/health` is 200 `OK`, anything else 404. */
export function healthHandler(request: Request): Response {
  if (new URL(request.url).pathname !== "/health") return notFound();
  return new Response(request.method === "HEAD" ? null : "OK", {
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

const logger = pluginLogger("health");

function setup(c: Controller): void {
  const config = parseHealth(c);
  const registry = c.shared("health", () => new Map<string, HealthConfig>());
  const key = `${config.host.toLowerCase()}:${config.port}`;
  const existing = registry.get(key);
  if (existing !== undefined) {
    // One listener per address; the longest lameduck of its blocks applies.
    existing.lameduckNanos = Math.max(
      existing.lameduckNanos,
      config.lameduckNanos,
    );
    return;
  }
  registry.set(key, config);
  let listener: HttpListener | undefined;
  c.onStartup(() => {
    listener = acquireHttpListener(config, healthHandler);
    reportPort("health", config, listener);
  });
  c.onFinalShutdown(async () => {
    if (listener === undefined || config.lameduckNanos <= 0) return;
    logger.info(
      `Going into lameduck mode for ${formatDuration(config.lameduckNanos)}`,
    );
    await new Promise((resolve) =>
      setTimeout(resolve, config.lameduckNanos / 1e6)
    );
  });
  c.onShutdown(async () => {
    await listener?.release();
    listener = undefined;
  });
}

export const health: Plugin = { name: "health", setup };
