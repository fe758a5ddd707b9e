/**
 * The permissions coredeno runs with, read from deno.json's tasks: the one
 * list that the compiled executable, `coredeno run`'s default for a
 * program, the tests and the bench use.
 *
 * `deno task start` is least privilege: net, read, env, sys. `deno task
 * start:fast` adds `--allow-ffi`, with which DNS over UDP goes through
 * libc's sockets (lib/net/libc_udp.ts): connected upstream sockets that
 * hear a dead upstream's ICMP at once, and batched replies, about twice as
 * fast. FFI code can do anything, so it takes the process out of Deno's
 * sandbox: it is an opt-in, not the default.
 */

import config from "../deno.json" with { type: "json" };

function allowFlags(task: string): readonly string[] {
  return task.split(/\s+/).filter((flag) => flag.startsWith("--allow-"));
}

/** `deno task start`'s: what the executable and `coredeno run`'s programs get. */
export const START_PERMISSIONS: readonly string[] = allowFlags(
  config.tasks.start,
);

/** `deno task start:fast`'s: the start set and `--allow-ffi` (the tests and the bench's DNS rows). */
export const SERVER_PERMISSIONS: readonly string[] = allowFlags(
  config.tasks["start:fast"],
);
