/**
 * What the Chromium tests share: their gate (ignored, with the reason
 * printed, where a tool is missing; with CI set, which installs them all,
 * run and failed with that reason instead) and running a driver script.
 * The drivers (`_chromium.ts`, `_pprof_web.ts`) run as their own process
 * with `-A`: playwright-core reads /proc/sys/fs/binfmt_misc at import, which
 * Deno grants only to --allow-all, and the test task grants less.
 */

import assert from "node:assert/strict";
import { CONFIG } from "../_helpers.ts";

/** Debian's Chromium, which the tests and drivers use. */
export const CHROMIUM = "/usr/bin/chromium";

/** The driver whose `--probe` only loads playwright-core. */
const PROBE = new URL("./_chromium.ts", import.meta.url).pathname;

/** Runs `deno run -A DRIVER ARGS`; returns its exit code and output. */
async function runDriver(
  driver: string,
  args: string[],
  env: Record<string, string> = {},
) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--config", CONFIG, "-A", driver, ...args],
    stdin: "null",
    env: { NO_COLOR: "1", ...env },
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return {
    code: out.code,
    stdout: decode(out.stdout),
    stderr: decode(out.stderr),
  };
}

/**
 * Why a driver cannot run here, if it cannot: Chromium missing, what
 * `more` names, or playwright-core not loading (`_chromium.ts --probe`).
 */
async function missing(
  more: () => string | undefined,
): Promise<string | undefined> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    return `${CHROMIUM} is missing (apt-get install -y chromium)`;
  }
  const other = more();
  if (other !== undefined) return other;
  const probe = await runDriver(PROBE, ["--probe"]);
  if (probe.code === 0) return undefined;
  return (probe.stdout + probe.stderr).trim() ||
    `the playwright-core probe exited with ${probe.code}`;
}

/**
 * Registers the test `name` (`what` in messages) behind the gate; `fn`
 * gets `drive(args, env)`, which runs the driver, checks that it passed
 * `steps` steps ("ok STEP" lines) and returns its stdout.
 */
export async function browserTest(
  { name, what, driver, steps, more = () => undefined }: {
    name: string;
    what: string;
    driver: string;
    steps: number;
    more?: () => string | undefined;
  },
  fn: (
    drive: (args: string[], env?: Record<string, string>) => Promise<string>,
  ) => Promise<void>,
): Promise<void> {
  const reason = await missing(more);
  const ci = Boolean(Deno.env.get("CI"));
  if (reason !== undefined && !ci) console.log(`SKIPPED: ${what}: ${reason}`);
  Deno.test({
    name,
    ignore: reason !== undefined && !ci,
    async fn() {
      if (reason !== undefined) {
        throw new Error(`the ${what} needs this when CI is set: ${reason}`);
      }
      await fn(async (args, env = {}) => {
        const run = await runDriver(driver, args, env);
        assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
        assert.equal(run.stdout.match(/^ok /gm)?.length, steps, run.stdout);
        return run.stdout;
      });
    },
  });
}

/** playwright-core, or exit 3 with why it does not load (the drivers' contract). */
export async function loadPlaywright(): Promise<
  typeof import("playwright-core")
> {
  try {
    return await import("playwright-core");
  } catch (error) {
    console.log(`playwright-core does not load: ${(error as Error).message}`);
    Deno.exit(3);
  }
}
