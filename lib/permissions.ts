/**
 * The permissions coredeno runs with, read from `deno task start` in
 * deno.json: the one list that the compiled executable, the tests and the
 * bench use for the server, and, less `--allow-ffi`, `coredeno run`'s
 * default for a program.
 */

import config from "../deno.json" with { type: "json" };

/** `--allow-net`, `--allow-read`, ...: the start task's permission flags. */
export const SERVER_PERMISSIONS: readonly string[] = config.tasks.start
  .split(/\s+/)
  .filter((flag) => flag.startsWith("--allow-"));

/**
 * What a program run by `coredeno run` gets by default: the server's
 * flags without `--allow-ffi`, which only coredeno's own UDP sockets need
 * (lib/net/libc_udp.ts) and which would take the program out of Deno's
 * sandbox.
 */
export const START_PERMISSIONS: readonly string[] = SERVER_PERMISSIONS.filter(
  (flag) => flag !== "--allow-ffi",
);
