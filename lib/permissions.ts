/**
 * The permissions coredeno runs with, read from `deno task start` in
 * deno.json: the one list that the compiled executable, `coredeno run`'s
 * default, the tests and the bench all use.
 */

import config from "../deno.json" with { type: "json" };

/** `--allow-net`, `--allow-read`, ...: the start task's permission flags. */
export const START_PERMISSIONS: readonly string[] = config.tasks.start
  .split(/\s+/)
  .filter((flag) => flag.startsWith("--allow-"));
