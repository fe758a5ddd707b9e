/**
 * *reload*: `reload [INTERVAL [JITTER]]`, CoreDNS's defaults (30s, 15s) and
 * limits. Logs `Running configuration SHA512 = HEX` whenever a configuration
 * starts; every INTERVAL ± JITTER/2 it reads the Corefile again, and when
 * the SHA512 of its parsed server blocks changed, restarts on it. A failed
 * restart keeps the running configuration and is not retried for the same
 * content.
 */

import type { ServerBlock } from "../../lib/corefile/mod.ts";
import { formatDuration, parseDuration } from "../../lib/duration.ts";
import { message } from "../../lib/errors.ts";
import { pluginLogger } from "../../lib/log.ts";
import type { Controller, Plugin } from "../../lib/server/plugin.ts";

const SECOND = 1e9;
const MIN_INTERVAL = 2 * SECOND;
const MIN_JITTER = 1 * SECOND;

export interface ReloadConfig {
  intervalNanos: number;
  jitterNanos: number;
}

const logger = pluginLogger("reload");

/** Parses the block's first `reload` line (further lines are ignored, as in CoreDNS). */
export function parseReload(c: Controller): ReloadConfig {
  const d = c.dispenser;
  d.next(); // "reload"
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
  return config;
}

/** Go's `json.Marshal` escaping on top of JSON.stringify: `<`, `>`, `&`, U+2028, U+2029. */
function goJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * The SHA512, in hex, of the server blocks as CoreDNS's reload plugin hashes
 * them: the JSON of caddy's `[]ServerBlock` (`Keys`, then `Tokens` with
 * directive names sorted, each token's `File`, `Line` and `Text`).
 */
export async function configSha512(
  blocks: readonly ServerBlock[],
): Promise<string> {
  const json = goJson(blocks.map((block) => ({
    Keys: block.keys,
    Tokens: Object.fromEntries(
      [...block.tokens.entries()].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
        .map(([name, tokens]) => [
          name,
          tokens.map((t) => ({ File: t.file, Line: t.line, Text: t.text })),
        ]),
    ),
  })));
  const digest = await crypto.subtle.digest(
    "SHA-512",
    new TextEncoder().encode(json),
  );
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

interface ReloadState {
  config: ReloadConfig;
}

function setup(c: Controller): void {
  const config = parseReload(c);
  let registered = true;
  const state = c.shared<ReloadState>("reload", () => {
    registered = false;
    return { config };
  });
  state.config = config; // one watcher per configuration; the last block's timing wins
  if (registered) return;

  let timer: ReturnType<typeof setInterval> | undefined;
  let running = "";
  let failed = "";
  let busy = false;
  async function tick(): Promise<void> {
    if (busy) return;
    busy = true;
    try {
      const input = await c.host.reread().catch(() => undefined);
      if (input === undefined) return;
      let sha: string;
      try {
        sha = await configSha512(c.host.parse(input));
      } catch (error) {
        logger.warning(`Corefile parse failed: ${message(error)}`);
        return;
      }
      if (sha === running || sha === failed) return;
      try {
        await c.host.restart(input);
      } catch (error) {
        failed = sha;
        logger.error(
          `Corefile changed but reload failed: ${message(error)}`,
        );
      }
    } finally {
      busy = false;
    }
  }
  c.onStarted(async () => {
    running = await configSha512(c.serverBlocks);
    logger.info(`Running configuration SHA512 = ${running}`);
    const { intervalNanos, jitterNanos } = state.config;
    const jitter = jitterNanos > 0 ? (Math.random() - 0.5) * jitterNanos : 0;
    timer = setInterval(() => void tick(), (intervalNanos + jitter) / 1e6);
  });
  c.onShutdown(() => {
    clearInterval(timer);
    timer = undefined;
  });
}

export const reload: Plugin = { name: "reload", setup };
