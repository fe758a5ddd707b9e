/**
 * *errors*: `errors [stdout] { stacktrace | consolidate DURATION REGEXP [LEVEL] [show_first] }`.
 * Logs every error the rest of the chain returns as
 * `[ERROR] plugin/errors: RCODE NAME TYPE: ERROR`; errors matching a
 * `consolidate` pattern are counted and summarized once per period instead.
 * `stacktrace` is accepted and has nothing to add (there are no Go panics).
 */

import {
  type DnsRequest,
  type Handler,
  type HandlerResult,
  nextOrFailure,
  qname,
  qtype,
  type ResponseWriter,
} from "../../lib/dns/handler.ts";
import { formatDuration, parseDuration } from "../../lib/duration.ts";
import { message } from "../../lib/errors.ts";
import { type Level, pluginLogger } from "../../lib/log.ts";
import { OnceError } from "../../lib/server/errors.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";

const LEVELS = new Set(["warning", "error", "info", "debug"]);

export interface ConsolidatePattern {
  periodNanos: number;
  pattern: RegExp;
  level: Lowercase<Level>;
  showFirst: boolean;
}

export interface ErrorsConfig {
  patterns: ConsolidatePattern[];
}

const logger = pluginLogger("errors");

/** Parses the block's `errors` lines; throws CoreDNS's errors. */
export function parseErrors(c: Controller): ErrorsConfig {
  const d = c.dispenser;
  const config: ErrorsConfig = { patterns: [] };
  let seen = false;
  while (d.next()) {
    if (seen) throw new OnceError();
    seen = true;
    const args = d.remainingArgs();
    if (args.length > 1) throw d.argErr();
    if (args.length === 1 && args[0] !== "stdout") {
      throw d.err(`invalid log file: ${args[0]}`);
    }
    while (d.nextBlock()) {
      switch (d.val()) {
        case "stacktrace":
          break;
        case "consolidate": {
          const rest = d.remainingArgs();
          if (rest.length < 2 || rest.length > 4) throw d.argErr();
          let periodNanos: number;
          let pattern: RegExp;
          try {
            periodNanos = parseDuration(rest[0]!);
            pattern = new RegExp(rest[1]!);
          } catch (error) {
            throw d.err(message(error));
          }
          let level: Lowercase<Level> = "error";
          let showFirst = false;
          for (const option of rest.slice(2)) {
            if (LEVELS.has(option)) level = option as Lowercase<Level>;
            else if (option === "show_first") showFirst = true;
            else {
              throw d.err(
                `unknown log level argument in consolidate: ${option}`,
              );
            }
          }
          config.patterns.push({ periodNanos, pattern, level, showFirst });
          break;
        }
        default:
          throw d.syntaxErr(`Unknown field ${d.val()}`);
      }
    }
  }
  return config;
}

function line(rcode: number, r: DnsRequest, error: Error): string {
  return `${rcode} ${qname(r)} ${qtype(r)}: ${error.message}`;
}

function setup(c: Controller): void {
  const config = parseErrors(c);
  const counts = config.patterns.map(() => 0);
  const timers: ReturnType<typeof setInterval>[] = [];
  c.use((next): Handler => ({
    name: "errors",
    async serveDNS(w: ResponseWriter, r: DnsRequest): Promise<HandlerResult> {
      const [rcode, error] = await nextOrFailure("errors", next, w, r);
      if (error !== undefined) {
        const index = config.patterns.findIndex((p) =>
          p.pattern.test(error.message)
        );
        if (index < 0) {
          logger.error(line(rcode, r, error));
        } else {
          const p = config.patterns[index]!;
          counts[index]! += 1;
          if (p.showFirst && counts[index] === 1) {
            logger[p.level](line(rcode, r, error));
          }
        }
      }
      return error === undefined ? [rcode] : [rcode, error];
    },
  }));
  c.onStartup(() => {
    config.patterns.forEach((p, index) => {
      const timer = setInterval(() => {
        const count = counts[index]!;
        if (count === 0) return;
        counts[index] = 0;
        logger[p.level](
          `${count} errors like '${p.pattern.source}' occurred in last ${
            formatDuration(p.periodNanos)
          }`,
        );
      }, Math.max(1, p.periodNanos / 1e6));
      Deno.unrefTimer(timer);
      timers.push(timer);
    });
  });
  c.onShutdown(() => {
    for (const timer of timers.splice(0)) clearInterval(timer);
  });
}

export const errors: Plugin = { name: "errors", setup };
