/** *reload*: Corefile syntax, `reload [INTERVAL [JITTER]]`, CoreDNS's defaults and limits. */

import { formatDuration, parseDuration } from "../../lib/duration.ts";
import { warnParsedOnly } from "../../lib/server/parsed_only.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";

const SECOND = 1e9;
const MIN_INTERVAL = 2 * SECOND;
const MIN_JITTER = 1 * SECOND;

export interface ReloadConfig {
  intervalNanos: number;
  jitterNanos: number;
}

function setup(c: Controller): void {
  const d = c.dispenser;
  d.next(); // "reload"; further lines are ignored, as in CoreDNS
  const args = d.remainingArgs();
  if (args.length > 2) throw d.argErr();
  const config: ReloadConfig = {
    intervalNanos: 30 * SECOND,
    jitterNanos: 15 * SECOND,
  };
  if (args.length > 0) config.intervalNanos = parseDuration(args[0]!);
  if (config.intervalNanos < MIN_INTERVAL) {
    throw new Error(
      `interval value must be greater or equal to ${
        formatDuration(MIN_INTERVAL)
      }`,
    );
  }
  if (args.length > 1) config.jitterNanos = parseDuration(args[1]!);
  if (config.jitterNanos !== 0 && config.jitterNanos < MIN_JITTER) {
    throw new Error(
      `jitter value must be 0 or greater or equal to ${
        formatDuration(MIN_JITTER)
      }`,
    );
  }
  config.jitterNanos = Math.min(config.jitterNanos, config.intervalNanos / 2);
  warnParsedOnly(c, "reload");
}

export const reload: Plugin = { name: "reload", setup };
